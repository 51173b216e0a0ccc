// The plain Hugging Face vocabulary files: GPT-2's vocab.json + merges.txt (byte-level BPE) and
// BERT's vocab.txt (WordPiece).
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/hf_vocab.h"

namespace zip {

namespace {

// Lines without their terminator ("\n" or "\r\n"); no empty last line for a final newline.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (line.ends_with('\r')) line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

}  // namespace

TokenizerData load_gpt2_vocab(const std::string& vocab_json, const std::string& merges_txt) {
  TokenizerData t;
  t.type = "byte-bpe";
  t.pre = "gpt2";
  t.add_bos = false;
  t.add_dummy_prefix = false;
  t.byte_fallback = false;
  const nlohmann::json vocab = detail::read_json_file(vocab_json);
  detail::set_vocab(t, vocab, /*byte_level=*/true, vocab_json);

  // One merge "a b" per line, by rank; a "#version" line may come first (Hugging Face skips
  // such lines anywhere; so do we).
  const std::string text = read_file(merges_txt);
  size_t line_no = 0;
  for (std::string_view line : split_lines(text)) {
    line_no++;
    if (line.starts_with("#version")) continue;
    size_t sp = line.find(' ');
    ZIP_CHECK(sp != std::string_view::npos && sp > 0 && sp + 1 < line.size() &&
                  line.find(' ', sp + 1) == std::string_view::npos,
              "'{}': line {} is not a merge of two tokens 'a b'", merges_txt, line_no);
    t.merges.push_back(detail::resolve_merge(vocab, line.substr(0, sp), line.substr(sp + 1), merges_txt, t.merges.size()));
  }
  detail::guess_bpe_specials(t);
  return t;
}

TokenizerData load_wordpiece_vocab(const std::string& vocab_txt, bool lowercase) {
  TokenizerData t;
  t.type = "wordpiece";
  t.add_bos = false;
  t.add_dummy_prefix = false;
  t.byte_fallback = false;
  t.clean_text = true;
  t.handle_chinese_chars = true;
  t.lowercase = lowercase;
  t.strip_accents = lowercase;
  const std::string text = read_file(vocab_txt);
  for (std::string_view line : split_lines(text)) {
    // Hugging Face trims trailing whitespace from each entry.
    while (!line.empty() && (line.back() == ' ' || (line.back() >= '\t' && line.back() <= '\r'))) line.remove_suffix(1);
    t.pieces.emplace_back(line);
  }
  ZIP_CHECK(!t.pieces.empty(), "'{}': empty vocabulary", vocab_txt);
  ZIP_CHECK(t.pieces.size() <= size_t(INT32_MAX), "'{}': too many entries", vocab_txt);
  t.types.assign(t.pieces.size(), kNormal);
  t.scores.assign(t.pieces.size(), 0.0f);
  // BertTokenizer's special tokens; the last entry of a repeated token wins, as in its dict.
  auto last = [&](std::string_view piece) {
    for (size_t i = t.pieces.size(); i-- > 0;)
      if (t.pieces[i] == piece) return int(i);
    return -1;
  };
  t.unk = last("[UNK]");
  t.cls = last("[CLS]");
  t.sep = last("[SEP]");
  t.pad = last("[PAD]");
  t.mask = last("[MASK]");
  for (int id : {t.cls, t.sep, t.pad, t.mask})
    if (id >= 0) t.types[size_t(id)] = kControl;
  if (t.unk >= 0) t.types[size_t(t.unk)] = kUnknown;
  return t;
}

}  // namespace zip
