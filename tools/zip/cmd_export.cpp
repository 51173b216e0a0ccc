// zip export: .zlm → GGUF (llama.cpp) or a Hugging Face folder (models/export.h).
#include <chrono>

#include "engine/error.h"
#include "engine/zlm.h"
#include "models/export.h"
#include "tools/zip/args.h"
#include "tools/zip/commands.h"

namespace zip::cli {

int cmd_export(int argc, char** argv) {
  Args args("export", "MODEL.zlm --to gguf|hf -o OUT",
            "Writes a model for other runtimes (docs/MODELS.md): --to gguf a GGUF v3 file for llama.cpp (uniform\n"
            "Llama models as 'llama', per-layer shapes as 'deci', padded with zeros where llama.cpp could not run\n"
            "them exactly); --to hf a Hugging Face folder (config.json, model.safetensors, tokenizer files).\n"
            "`zip convert` of the result gives the same model back.",
            {{"--to", "FORMAT", "gguf or hf"}, {"-o,--output", "OUT", "output file (gguf) or directory (hf)"}});
  if (!args.parse(argc, argv)) return 0;
  args.expect_positional(1, 1, "MODEL.zlm");
  if (!args.has("-o")) throw UsageError("zip export: missing -o OUT");
  const std::string to = args.str("--to"), out = args.str("-o");
  if (to != "gguf" && to != "hf") throw UsageError(fmt::format("zip export: --to must be gguf or hf, got '{}'", to));
  auto t0 = std::chrono::steady_clock::now();
  const Model m = load_zlm(args.positional()[0]);
  const ExportResult r = to == "gguf" ? export_gguf(m, out) : export_hf(m, out);
  for (const std::string& note : r.notes) fmt::print(stderr, "note: {}\n", note);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "wrote {}: {} ({} layers, {} parameters{}) ({:.2f} s)\n", out, r.arch, m.config.n_layers(),
             m.config.n_params(), r.padded_params ? fmt::format(" + {} zero padding", r.padded_params) : "", s);
  return 0;
}

}  // namespace zip::cli
