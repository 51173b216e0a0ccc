// zip quantize: a .zlm → the same model with its weights in a mix of types (quant_mix.h).
#include <algorithm>
#include <chrono>
#include <thread>

#include "engine/error.h"
#include "engine/quant/quantize_model.h"
#include "engine/zlm.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_quantize(int argc, char** argv) {
  Args args("quantize", "MODEL.zlm -o OUT.zlm --type q8_0|q4_0|q5_0|q4_k_m|q4_k_s|q6_k|f16|bf16|f32 [-t THREADS]",
            "Writes the model with its weights in the given type or mix (docs/MODELS.md says which\n"
            "tensor gets which type: as llama.cpp's llama-quantize for the same name). Norms, biases\n"
            "and position embeddings stay f32. --type f32 turns a quantized model back into floats.\n"
            "The output does not depend on -t.",
            {{"-o,--output", "OUT.zlm", "output file (written atomically)"},
             {"--type", "TYPE", "q8_0, q4_0, q5_0, q4_k_m, q4_k_s, q6_k, f16, bf16 or f32"},
             {"-t,--threads", "N", "threads (default: all cores)"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  if (!args.has("-o")) throw UsageError("zip quantize: missing -o OUT.zlm");
  if (!args.has("--type")) throw UsageError("zip quantize: missing --type TYPE");
  quant::QuantMix mix;
  const std::string type = args.str("--type");
  if (!quant::parse_quant_mix(type, &mix))
    throw UsageError(fmt::format("zip quantize: --type must be {}, got '{}'", quant::kQuantMixNames, type));
  const int threads = int(args.integer("-t", std::max(1u, std::thread::hardware_concurrency()), 1, 1024));

  const auto t0 = std::chrono::steady_clock::now();
  const std::string in = args.positional()[0], out = args.str("-o");
  Model m = load_zlm(in);
  const uint64_t in_bytes = inspect_zlm(in, false).file_size;
  const int fell_back = quant::quantize_model(m, mix, threads);
  m.provenance["parent"] = {{"file", in}, {"hash", zlm_content_hash(in)}};
  m.provenance["quantize"] = {{"type", quant::quant_mix_name(mix)}, {"fallbacks", fell_back}};
  m.provenance["dtype"] = quant::weight_type_summary(m);
  save_zlm(m, out);
  const auto stats = quant::weight_type_stats(m);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "wrote {}: {} ({}), {:.2f} bits per weight, {:.1f} MB (from {:.1f} MB){} ({:.2f} s)\n", out,
             quant::quant_mix_name(mix), quant::weight_type_summary(m), quant::bits_per_weight(stats),
             double(inspect_zlm(out, false).file_size) / 1e6, double(in_bytes) / 1e6,
             fell_back ? fmt::format(", {} tensor(s) fell back to q5_0/q8_0/f16 (rows not whole blocks)", fell_back) : "",
             s);
  return 0;
}

}  // namespace zip::cli
