// zip slice: structured pruning by explicit index lists.
#include "engine/quant/quantize_model.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "compress/slice.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_slice(int argc, char** argv) {
  Args args("slice", "MODEL.zlm --spec SPEC.json -o OUT.zlm",
            "Keeps, per layer, the listed KV heads, query heads and FFN neurons; an empty kv_heads or\n"
            "ffn_neurons list removes that module. SPEC.json maps layer numbers to\n"
            "{\"kv_heads\": [...], \"q_heads\": [...] (optional), \"ffn_neurons\": [...]}; layers not\n"
            "listed are kept whole. A `slice` object nested in the file is accepted too.",
            {{"--spec", "SPEC.json", "the slice specification"}, {"-o,--output", "OUT.zlm", "output file"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  if (!args.has("--spec")) throw UsageError("zip slice: missing --spec SPEC.json");
  if (!args.has("-o")) throw UsageError("zip slice: missing -o OUT.zlm");
  std::string spec_path = args.str("--spec");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(spec_path));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON ({})", spec_path, e.what());
  }
  if (j.is_object() && j.contains("slice")) j = j["slice"];
  std::string in = args.positional()[0];
  Model m = load_zlm(in);
  quant::require_float_weights(m, "zip slice");
  SliceSpec spec = parse_slice_spec(j, m.config);
  Model s = slice_model(m, spec);
  s.provenance["parent"] = {{"file", in}, {"hash", zlm_content_hash(in)}};
  s.provenance["recipe"] = {{"method", "slice"}, {"spec", slice_spec_to_json(spec)}};
  std::string out = args.str("-o");
  save_zlm(s, out);
  fmt::print(stderr, "wrote {}: {} → {} parameters\n", out, m.config.n_params(), s.config.n_params());
  return 0;
}

}  // namespace zip::cli
