// zip convert: foreign checkpoint → .zlm
#include <algorithm>
#include <chrono>
#include <thread>

#include "engine/error.h"
#include "engine/zlm.h"
#include "models/import.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_convert(int argc, char** argv) {
  Args args("convert", "SRC -o OUT.zlm [--tokenizer FILE] [--dtype TYPE] [-t THREADS]",
            "Imports a llama2.c checkpoint (legacy v0), a llama.cpp GGUF file (Llama family; Q8_0, Q4_0,\n"
            "Q4_K and Q6_K tensors are kept as they are, other quantised types are dequantised, unless\n"
            "--dtype is given), or a Hugging Face directory (Llama, GPT-2, BERT, sentence-transformers;\n"
            "config.json + model.safetensors or a sharded index) into one .zlm file (docs/MODELS.md).",
            {{"-o,--output", "OUT.zlm", "output file (written atomically)"},
             {"--tokenizer", "FILE", "tokenizer.bin / tokenizer.model (default: found beside SRC)"},
             {"--dtype", "TYPE", "weight type: f32 (default), f16, bf16, or a mix as zip quantize --type "
                                 "(q8_0, q4_0, q5_0, q4_k_m, q4_k_s, q6_k); norms stay f32"},
             {"-t,--threads", "N", "threads for quantising (default: all cores)"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "SRC");
  if (!args.has("-o")) throw UsageError("zip convert: missing -o OUT.zlm");
  ImportOptions opt;
  opt.tokenizer_path = args.str("--tokenizer");
  if (args.has("--dtype")) {
    std::string d = args.str("--dtype");
    quant::QuantMix mix;
    if (!quant::parse_quant_mix(d, &mix))
      throw UsageError(fmt::format("zip convert: --dtype must be {}, got '{}'", quant::kQuantMixNames, d));
    if (quant::is_float_mix(mix)) parse_dtype(d, &opt.dtype);
    else opt.quant_mix = mix;
    opt.dtype_given = true;
    opt.threads = int(args.integer("-t", std::max(1u, std::thread::hardware_concurrency()), 1, 1024));
  }
  auto t0 = std::chrono::steady_clock::now();
  Model m = import_model(args.positional()[0], opt);
  std::string out = args.str("-o");
  save_zlm(m, out);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "wrote {}: {} {} layers, {} parameters, tokenizer: {} ({:.2f} s)\n", out, m.config.info().name,
             m.config.n_layers(), m.config.n_params(), m.tokenizer ? "yes" : "none", s);
  return 0;
}

}  // namespace zip::cli
