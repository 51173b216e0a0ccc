// bench/export_check.sh helper (not part of the build): the token ids and all-position logits of
// a .zlm model for one prompt, so other runtimes can be compared on the same ids.
//   export_logits MODEL.zlm PROMPT OUT_PREFIX   → OUT_PREFIX.ids.json, OUT_PREFIX.logits.f32
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/backend.h"
#include "engine/forward.h"
#include "engine/zlm.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: export_logits MODEL.zlm PROMPT OUT_PREFIX\n");
    return 2;
  }
  const zip::Model m = zip::load_zlm(argv[1]);
  const zip::Tokenizer tok(m.tokenizer);
  const std::vector<int> ids = tok.encode(argv[2]);
  auto be = zip::make_cpu_backend(2);
  zip::InferenceContext ctx(m, *be);
  const float* p = ctx.eval(ids, true);
  std::ofstream(std::string(argv[3]) + ".ids.json") << nlohmann::json(ids).dump();
  std::ofstream out(std::string(argv[3]) + ".logits.f32", std::ios::binary);
  out.write(reinterpret_cast<const char*>(p), std::streamsize(ids.size() * size_t(m.config.vocab_size) * 4));
  return out.good() ? 0 : 1;
}
