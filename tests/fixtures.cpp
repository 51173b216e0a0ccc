#include "tests/fixtures.h"

#include <filesystem>
#include <fstream>

#include "engine/file_io.h"

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
const std::string& pooled_bert_zlm() {
  static const std::string p = [] {
    const std::string vocab = temp_dir() + "/fixture-pooled-bert-vocab";
    std::filesystem::create_directories(vocab);
    {
      std::ofstream v(vocab + "/vocab.txt");
      for (const char* s : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "'", "!", "?", "\"", "-"}) v << s << "\n";
      for (char ch = 'a'; ch <= 'z'; ch++) v << ch << "\n##" << ch << "\n";
      for (char ch = '0'; ch <= '9'; ch++) v << ch << "\n##" << ch << "\n";
    }
    zip::ImportOptions io;
    io.tokenizer_path = vocab;
    zip::Model bert = zip::import_model(shared("models/tiny-random-bert"), io);
    bert.config.pooling = "mean";
    return written(bert, "pooled-bert");
  }();
  return p;
}
const std::string& stsb_head_tsv() {
  static const std::string p = [] {
    const std::string path = temp_dir() + "/fixture-stsb-head.tsv", all = zip::read_file(shared("data/tasks/stsb/dev.tsv"));
    size_t at = 0;
    for (int line = 0; line < 61; line++) at = all.find('\n', at) + 1;
    zip::write_file_atomic(path, all.substr(0, at));
    return path;
  }();
  return p;
}

}  // namespace ztest
