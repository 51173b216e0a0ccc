// WordPiece (BERT), id-for-id compatible with Hugging Face tokenizers' BertNormalizer +
// BertPreTokenizer + WordPiece model (what BertTokenizerFast runs).
//
// 1. Normalise (each step if the vocabulary asks for it): clean the text (drop U+0000, U+FFFD
//    and control/format/private-use characters other than \t \n \r; whitespace becomes ' '), put
//    spaces around CJK ideographs, strip accents (NFD, drop non-spacing marks), lower-case.
// 2. Split on whitespace, and isolate every punctuation character (Unicode P* and all ASCII
//    symbols such as $ + < = > ^ ` | ~).
// 3. Each word: longest piece from the start, then longest "##" piece from where it ended, and
//    so on; a word that cannot be covered, or is over 100 characters, is one [UNK].
#include "engine/error.h"
#include "engine/tokenizer/tokenizer_model.h"
#include "engine/tokenizer/unicode.h"

namespace zip::detail {

namespace {

constexpr size_t kMaxWordChars = 100;  // Hugging Face's max_input_chars_per_word
constexpr std::string_view kContinuation = "##";

bool is_cjk(uint32_t cp) {
  // BERT's "Chinese character" blocks, as Hugging Face tokenizers defines them.
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_bert_whitespace(uint32_t cp) { return cp == '\t' || cp == '\n' || cp == '\r' || unicode::is_whitespace(cp); }

// Hugging Face's is_control: unassigned code points are kept (its category tables never report
// Cn), so they end up as [UNK] rather than vanishing.
bool is_bert_control(uint32_t cp) {
  return cp != '\t' && cp != '\n' && cp != '\r' && unicode::is_assigned_other(cp);
}

bool is_bert_punctuation(uint32_t cp) {
  if (cp < 0x80) return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126);
  return unicode::is_punctuation(cp);
}

class WordPiece final : public TokenizerModel {
 public:
  explicit WordPiece(const TokenizerData& d) : d_(d) {
    // Duplicates: the last id wins, as in BertTokenizer's dictionary.
    for (size_t i = 0; i < d.pieces.size(); i++) {
      ZIP_CHECK(d.types[i] != kByte, "tokenizer: wordpiece piece {} has SentencePiece's byte type", i);
      if (d.types[i] != kUnused && !d.pieces[i].empty()) piece_to_id_.insert_or_assign(d.pieces[i], int(i));
    }
  }
  void encode(std::string_view text, std::vector<int>& ids) const override;
  std::string decode_piece(int prev, int id) const override;
  std::string decode(const std::vector<int>& ids) const override;

 private:
  std::vector<uint32_t> normalize(std::string_view text) const;
  void encode_word(const uint32_t* word, size_t n, std::vector<int>& ids) const;
  int unk() const {
    ZIP_CHECK(d_.unk >= 0, "tokenizer: a word has no WordPiece pieces and the vocabulary has no [UNK]");
    return d_.unk;
  }

  const TokenizerData& d_;
  PieceMap piece_to_id_;
};

std::vector<uint32_t> WordPiece::normalize(std::string_view text) const {
  std::vector<uint32_t> cps = unicode::decode_utf8(text, 0xFFFD), out;
  out.reserve(cps.size());
  if (d_.clean_text) {
    for (uint32_t cp : cps) {
      if (cp == 0 || cp == 0xFFFD || is_bert_control(cp)) continue;
      out.push_back(is_bert_whitespace(cp) ? ' ' : cp);
    }
    cps.swap(out);
    out.clear();
  }
  if (d_.handle_chinese_chars) {
    for (uint32_t cp : cps) {
      if (is_cjk(cp)) {
        out.insert(out.end(), {' ', cp, ' '});
      } else {
        out.push_back(cp);
      }
    }
    cps.swap(out);
    out.clear();
  }
  if (d_.strip_accents) {
    for (uint32_t cp : unicode::nfd(cps))
      if (!unicode::is_nonspacing_mark(cp)) out.push_back(cp);
    cps.swap(out);
    out.clear();
  }
  if (d_.lowercase) {
    for (uint32_t cp : cps) unicode::append_lowercase(out, cp);
    cps.swap(out);
  }
  return cps;
}

void WordPiece::encode_word(const uint32_t* word, size_t n, std::vector<int>& ids) const {
  if (n > kMaxWordChars) {
    ids.push_back(unk());
    return;
  }
  std::string utf8;
  std::vector<size_t> offset;  // byte offset of each character, and the end
  for (size_t i = 0; i < n; i++) {
    offset.push_back(utf8.size());
    unicode::append_utf8(utf8, word[i]);
  }
  offset.push_back(utf8.size());

  const size_t first_id = ids.size();
  std::string candidate;
  for (size_t start = 0; start < n;) {
    int found = -1;
    size_t end = n;
    for (; end > start; end--) {
      candidate.assign(start > 0 ? kContinuation : std::string_view());
      candidate.append(utf8, offset[start], offset[end] - offset[start]);
      auto it = piece_to_id_.find(candidate);
      if (it != piece_to_id_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // the whole word is unknown, even the pieces found so far
      ids.resize(first_id);
      ids.push_back(unk());
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

void WordPiece::encode(std::string_view text, std::vector<int>& ids) const {
  const std::vector<uint32_t> cps = normalize(text);
  size_t start = 0;  // of the current word
  for (size_t i = 0; i <= cps.size(); i++) {
    const bool end = i == cps.size();
    const bool space = !end && unicode::is_whitespace(cps[i]);
    const bool punct = !end && !space && is_bert_punctuation(cps[i]);
    if (!end && !space && !punct) continue;
    if (i > start) encode_word(cps.data() + start, i - start, ids);
    if (punct) encode_word(cps.data() + i, 1, ids);
    start = i + 1;
  }
}

// Hugging Face's WordPiece decoder with cleanup: tokens joined by spaces, "##" pieces glued to
// the previous one, and the space before . ? ! , and a few English contractions dropped.
std::string WordPiece::decode_piece(int prev, int id) const {
  if (is_special_type(d_.types[size_t(id)])) return {};
  const std::string& piece = d_.pieces[size_t(id)];
  const bool first = prev < 0 || is_special_type(d_.types[size_t(prev)]);
  if (first) return piece;
  if (piece.starts_with(kContinuation)) return piece.substr(kContinuation.size());
  std::string s = " " + piece;
  static const std::pair<std::string_view, std::string_view> kCleanup[] = {
      {" .", "."},    {" ?", "?"},   {" !", "!"},           {" ,", ","},   {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kCleanup)  // each a single left-to-right pass, like str::replace
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
      s.replace(pos, from.size(), to);
  return s;
}

std::string WordPiece::decode(const std::vector<int>& ids) const {
  std::string out;
  int prev = -1;  // the last token that produced text: special tokens are skipped entirely
  for (int id : ids) {
    if (is_special_type(d_.types[size_t(id)])) continue;
    out += decode_piece(prev, id);
    prev = id;
  }
  return out;
}

}  // namespace

std::unique_ptr<TokenizerModel> make_wordpiece(const TokenizerData& d) { return std::make_unique<WordPiece>(d); }

}  // namespace zip::detail
