#include "tests/fixtures.h"

#include "engine/zlm.h"
#include "models/import.h"
#include "compress/slice.h"
#include "tests/test_util.h"

namespace ztest {

const zip::Model& stories260K() {
  static const zip::Model m = zip::import_model(shared("models/stories260K/stories260K.bin"), {});
  return m;
}
const zip::Model& stories260K_sliced() {
  static const zip::Model m = zip::slice_model(
      stories260K(),
      zip::parse_slice_spec(load_json(shared("golden/stories260K-sliced/index.json"))["slice"], stories260K().config));
  return m;
}
const zip::Model& tiny_llama() {
  static const zip::Model m = zip::import_model(shared("models/tiny-random-llama"), {});
  return m;
}
const zip::Model& tiny_gpt2() {
  static const zip::Model m = zip::import_model(shared("models/tiny-random-gpt2"), {});
  return m;
}
const zip::Model& tiny_bert() {
  static const zip::Model m = zip::import_model(shared("models/tiny-random-bert"), {});
  return m;
}

namespace {
std::string written(const zip::Model& m, const std::string& name) {
  const std::string path = temp_dir() + "/fixture-" + name + ".zlm";
  zip::save_zlm(m, path);
  return path;
}
}  // namespace

const std::string& stories260K_zlm() {
  static const std::string p = written(stories260K(), "stories260K");
  return p;
}
const std::string& tiny_llama_zlm() {
  static const std::string p = written(tiny_llama(), "tiny-random-llama");
  return p;
}
const std::string& tiny_gpt2_zlm() {
  static const std::string p = written(tiny_gpt2(), "tiny-random-gpt2");
  return p;
}
const std::string& tiny_bert_zlm() {
  static const std::string p = written(tiny_bert(), "tiny-random-bert");
  return p;
}

}  // namespace ztest
