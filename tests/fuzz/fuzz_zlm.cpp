// libFuzzer target for the .zlm reader: any byte string must load or fail with zip::Error,
// never crash, over-read, hang or allocate without bound (built with ASan+UBSan by `make fuzz`).
// Each input runs twice: as is (mostly exercising the preamble and the checksum), and resealed
// with both checksums recomputed, so mutations reach the header, index and tensor-set checks
// that a CRC would otherwise shield from the fuzzer.
// Corpus: tests/fuzz/corpus holds seed_* (valid models, regenerated with
// `ZIP_WRITE_FUZZ_CORPUS=tests/fuzz/corpus build/zip_tests -tc='*fuzz corpus*'`) and fz_* (inputs the
// fuzzer found that reach distinct checks). Run: build-fuzz/fuzz_zlm -max_total_time=600 NEW_DIR tests/fuzz/corpus
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/error.h"
#include "engine/zlm.h"

static void try_load(const uint8_t* bytes, size_t size, bool reseal) {
  // The reader needs a 64-byte aligned image, as an mmap gives it.
  std::shared_ptr<uint8_t> buf(static_cast<uint8_t*>(std::aligned_alloc(64, (size + 63) / 64 * 64 + 64)), std::free);
  if (size) std::memcpy(buf.get(), bytes, size);
  if (reseal) zip::zlm_reseal(buf.get(), size, true);
  try {
    zip::Model m = zip::load_zlm_from_memory(buf.get(), size, buf, "fuzz.zlm", zip::ZlmLoadOptions{true});
    m.validate();
  } catch (const zip::Error&) {
  }
  try {
    zip::ZlmInfo info = zip::inspect_zlm_memory(buf.get(), size, "fuzz.zlm", false);
    (void)info.header.dump();  // what `zip inspect --json` does with an untrusted header
  } catch (const zip::Error&) {
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try_load(data, size, false);
  try_load(data, size, true);
  return 0;
}
