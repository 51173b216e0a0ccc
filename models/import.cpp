// `zip convert` front end: picks the importer from what the source path is, then applies the
// common steps (target dtype, provenance, validation) so every importer ends the same way.
#include "models/import.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"
#include "engine/file_io.h"

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

Model import_model(const std::string& src, const ImportOptions& opt) {
  struct stat st;
  if (::stat(src.c_str(), &st) != 0) fail("cannot open '{}': {}", src, std::strerror(errno));
  if (opt.dtype_given)
    ZIP_CHECK(is_float(opt.dtype), "--dtype must be f32, f16 or bf16, got {}", dtype_name(opt.dtype));

  Model m;
  if (S_ISDIR(st.st_mode)) {
    ZIP_CHECK(file_exists(src + "/config.json"),
              "'{}' is a directory without config.json: not a Hugging Face checkpoint", src);
    m = import_hf_llama(src, opt);
  } else if (!S_ISREG(st.st_mode)) {
    fail("'{}' is neither a regular file nor a directory", src);
  } else if (base_name(src) == "config.json") {
    m = import_hf_llama(parent_dir(src), opt);
  } else if (src.ends_with(".safetensors") || src.ends_with(".safetensors.index.json")) {
    fail("'{}': pass the Hugging Face directory that holds config.json and the weights", src);
  } else {
    m = import_llama2c(src, opt);
  }

  // Default f32; convert_weights keeps norms f32 whatever the target.
  m.convert_weights(opt.dtype_given ? opt.dtype : DType::F32);
  m.provenance["dtype"] = dtype_name(opt.dtype_given ? opt.dtype : DType::F32);
  m.validate();
  return m;
}

}  // namespace zip
