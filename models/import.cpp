// `zip convert` front end: picks the importer from what the source path is (and, for Hugging
// Face directories, from the architecture config.json names), then applies the common steps
// (target dtype, provenance, validation) so every importer ends the same way.
#include "models/import.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/quant/quantize_model.h"
#include "models/gguf.h"
#include "models/hf_common.h"
#include "models/tokenizer_fit.h"

namespace zip {

static std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

static std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Model import_hf(const std::string& dir, const ImportOptions& opt) {
  const std::string cfg_path = dir + "/config.json";
  switch (hf::detect_class(hf::read_json_object(cfg_path), cfg_path).family) {
    case Arch::Llama: return import_hf_llama(dir, opt);
    case Arch::GPT2: return import_hf_gpt2(dir, opt);
    case Arch::BERT: return import_hf_bert(dir, opt);
  }
  fail("{}: unsupported architecture", cfg_path);
}

// A sentence-transformers folder (modules.json) or a Hugging Face checkpoint (config.json).
static Model import_dir(const std::string& dir, const ImportOptions& opt) {
  if (file_exists(dir + "/modules.json")) return import_sentence_transformers(dir, opt);
  ZIP_CHECK(file_exists(dir + "/config.json"), "'{}' is a directory without config.json: not a Hugging Face checkpoint",
            dir);
  return import_hf(dir, opt);
}

std::shared_ptr<const TokenizerData> given_tokenizer(const ImportOptions& opt) {
  return opt.tokenizer ? opt.tokenizer : load_given_tokenizer(opt.tokenizer_path);
}

Model import_model(const std::string& src, const ImportOptions& given) {
  struct stat st;
  if (::stat(src.c_str(), &st) != 0) fail("cannot open '{}': {}", src, std::strerror(errno));
  if (given.dtype_given)
    ZIP_CHECK(is_float(given.dtype), "--dtype must be f32, f16 or bf16, got {}", dtype_name(given.dtype));
  ImportOptions opt = given;
  if (!opt.tokenizer_path.empty() && !opt.tokenizer) opt.tokenizer = load_given_tokenizer(opt.tokenizer_path);

  Model m;
  if (S_ISDIR(st.st_mode)) {
    m = import_dir(src, opt);
  } else if (!S_ISREG(st.st_mode)) {
    fail("'{}' is neither a regular file nor a directory", src);
  } else if (base_name(src) == "config.json") {
    m = import_dir(parent_dir(src), opt);
  } else if (src.ends_with(".safetensors") || src.ends_with(".safetensors.index.json")) {
    fail("'{}': pass the Hugging Face directory that holds config.json and the weights", src);
  } else if (gguf::has_gguf_magic(src)) {
    m = import_gguf(src, opt);
  } else {
    // Not a folder, not GGUF: llama2.c checkpoints have no magic, so its header check decides.
    try {
      m = import_llama2c(src, opt);
    } catch (const Error& e) {
      fail("'{}' is not a model zip convert recognises (a Hugging Face folder, a GGUF file or a llama2.c "
           "checkpoint); read as a llama2.c checkpoint: {}", src, e.what());
    }
  }

  if (m.tokenizer)
    check_tokenizer_fits(*m.tokenizer, m.config, opt.tokenizer_path.empty() ? "found with " + src : opt.tokenizer_path);

  // Default f32 (block weights a GGUF brought are kept); convert_weights keeps norms f32.
  if (opt.quant_mix) {
    quant::quantize_model(m, *opt.quant_mix, opt.threads);
    m.provenance["dtype"] = quant::quant_mix_name(*opt.quant_mix);
  } else if (opt.dtype_given || !quant::has_block_weights(m)) {
    m.convert_weights(opt.dtype_given ? opt.dtype : DType::F32);
    m.provenance["dtype"] = dtype_name(opt.dtype_given ? opt.dtype : DType::F32);
  } else {
    for (auto& [name, t] : m.tensors)
      if (is_float(t.dtype) && t.dtype != DType::F32) t = t.converted(DType::F32);
    m.provenance["dtype"] = quant::weight_type_summary(m);
  }
  m.validate();
  return m;
}

}  // namespace zip
