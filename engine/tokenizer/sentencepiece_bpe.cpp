// SentencePiece-BPE encoding and decoding, id-for-id compatible with SentencePiece (and with
// llama2.c / llama.cpp, which implement the same algorithm).
//
// Encoding: the text (with a dummy-prefix space) is split into UTF-8 characters; then the
// adjacent pair whose concatenation is a vocabulary piece with the highest score is merged,
// ties going to the leftmost pair, until nothing merges. A max-heap of candidate pairs over a
// linked list of symbols makes this O(n log n). Symbols that are not pieces at the end become
// byte pieces (byte fallback) or <unk>. Checked id for id against the sentencepiece library on
// random and long texts.
//
// Known differences from SentencePiece, all outside ordinary valid text: invalid UTF-8 bytes go
// through byte fallback (SentencePiece substitutes U+FFFD); user-defined pieces take part in
// merges like normal ones (SentencePiece matches them greedily before merging, which needs a
// per-vocabulary index the class does not hold); <unk> decodes to nothing (not " ⁇ ").
#include <algorithm>

#include "engine/error.h"
#include "engine/tokenizer/tokenizer_model.h"

namespace zip::detail {

namespace {

// "<0xAB>" -> 0xAB, or -1 if `piece` is not spelled exactly like a SentencePiece byte piece.
int parse_byte_piece(const std::string& piece) {
  if (piece.size() != 6 || piece.compare(0, 3, "<0x") != 0 || piece[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Length of the UTF-8 character at p (n bytes left). A malformed sequence counts as one byte,
// so each invalid byte becomes its own symbol and goes through byte fallback.
// (SentencePiece itself would replace it with U+FFFD; we keep the bytes so decode() can
// reproduce them exactly.)
size_t utf8_char_len(const unsigned char* p, size_t n) {
  unsigned c = p[0];
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || len > n) return 1;
  for (size_t i = 1; i < len; i++)
    if ((p[i] & 0xC0) != 0x80) return 1;
  return len;
}

struct Symbol {
  int prev, next;  // neighbours in the linked list, -1 at the ends
  size_t start;    // byte offset in the normalized text
  uint32_t len;    // byte length (a character or a piece); 0 once merged away
};

// A candidate merge of symbol `left` with its right neighbour. Kept small (12 bytes): the heap
// is as long as the text, and popping it is the hot loop.
struct Bigram {
  float score;
  int left;
  uint32_t len;  // combined length when queued; anything else later means the entry is stale
};

// Heap order: higher score first, then the leftmost pair (what SentencePiece does).
struct BigramLess {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Texts at least this long are merged segment by segment (see encode).
constexpr size_t kSegmentMinBytes = 16384;

class SentencePieceBpe final : public TokenizerModel {
 public:
  explicit SentencePieceBpe(const TokenizerData& d) : d_(d) {
    for (int& b : byte_id_) b = -1;
    for (size_t i = 0; i < d.pieces.size(); i++) {
      const int type = d.types[i];
      if (type == kByte) {
        int b = parse_byte_piece(d.pieces[i]);
        ZIP_CHECK(b >= 0, "tokenizer: byte piece {} is not spelled <0xAB>", i);
        if (byte_id_[b] < 0) byte_id_[b] = int(i);
      } else if (type == kNormal || type == kUserDefined) {
        // Duplicates: the first id wins (SentencePiece refuses such models; llama2.c is undefined).
        piece_to_id_.emplace(d.pieces[i], int(i));
      }
    }
  }

  bool splits_user_defined() const override { return false; }
  void encode(std::string_view text, std::vector<int>& ids) const override;
  std::string decode_piece(int prev, int id) const override;
  std::string decode(const std::vector<int>& ids) const override;

 private:
  const TokenizerData& d_;
  PieceMap piece_to_id_;  // normal/user-defined pieces
  int byte_id_[256];      // id of <0xAB>, or -1
};

void SentencePieceBpe::encode(std::string_view text, std::vector<int>& ids) const {
  const TokenizerData& d = d_;
  if (text.empty()) return;

  ZIP_CHECK(text.size() < size_t(INT32_MAX), "tokenizer: text of {} bytes is too long for one encode call",
            text.size());
  std::string norm;
  norm.reserve(text.size() + 1);
  if (d.add_dummy_prefix) norm += ' ';
  // SentencePiece escapes ' ' as U+2581 before matching pieces, so a literal U+2581 in the text
  // is a space too; our pieces spell it ' ', so map the text the other way.
  for (size_t i = 0; i < text.size(); i++) {
    if (text[i] == '\xE2' && text.compare(i, 3, "\xE2\x96\x81") == 0) {
      norm += ' ';
      i += 2;
    } else {
      norm += text[i];
    }
  }

  // One symbol per UTF-8 character.
  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(norm.data());
  for (size_t pos = 0; pos < norm.size();) {
    uint32_t len = uint32_t(utf8_char_len(bytes + pos, norm.size() - pos));
    int idx = int(sym.size());
    sym.push_back({idx - 1, -1, pos, len});
    if (idx > 0) sym[size_t(idx) - 1].next = idx;
    pos += len;
  }

  std::vector<Bigram> heap;
  BigramLess less;
  auto lookup_pair = [&](int left, int right, Bigram* out) {
    if (left < 0 || right < 0) return false;
    uint32_t len = sym[size_t(left)].len + sym[size_t(right)].len;
    auto it = piece_to_id_.find(std::string_view(norm.data() + sym[size_t(left)].start, len));
    if (it == piece_to_id_.end()) return false;
    *out = {d.scores[size_t(it->second)], left, len};
    return true;
  };
  auto push_pair = [&](int left, int right) {
    Bigram b;
    if (!lookup_pair(left, right, &b)) return;
    heap.push_back(b);
    std::push_heap(heap.begin(), heap.end(), less);
  };
  // Runs all merges among symbols [first, last).
  auto merge_range = [&](int first, int last) {
    heap.clear();
    for (int i = first + 1; i < last; i++) {
      Bigram b;
      if (lookup_pair(i - 1, i, &b)) heap.push_back(b);
    }
    std::make_heap(heap.begin(), heap.end(), less);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), less);
      const Bigram b = heap.back();
      heap.pop_back();
      Symbol& l = sym[size_t(b.left)];
      // Symbols only grow, so a queued pair is still valid iff the left symbol is alive and its
      // length plus its current right neighbour's still add up to the queued length.
      if (l.len == 0 || l.next < 0) continue;
      Symbol& r = sym[size_t(l.next)];
      if (l.len + r.len != b.len) continue;
      l.len = b.len;
      r.len = 0;
      l.next = r.next;
      if (l.next >= 0) sym[size_t(l.next)].prev = b.left;
      push_pair(l.prev, b.left);
      push_pair(b.left, l.next);
    }
  };

  // A long text is merged in independent segments, cut at ASCII characters that occur in no
  // multi-character piece (for Llama: '\n', '\t', '\r'...): nothing can merge across them, so
  // the result is identical, and many small heaps are several times faster than one huge one.
  // Finding those bytes scans the vocabulary, which only pays off for long texts.
  bool barrier[128] = {};
  if (norm.size() >= kSegmentMinBytes) {
    bool in_long_piece[128] = {};
    for (const auto& [piece, id] : piece_to_id_) {
      if (piece.size() < 2) continue;
      for (unsigned char c : piece)
        if (c < 128) in_long_piece[c] = true;
    }
    for (int c = 0; c < 128; c++) barrier[c] = !in_long_piece[c];
  }
  int first = 0;
  const int n_sym = int(sym.size());
  for (int i = 0; i < n_sym; i++) {
    unsigned char c = bytes[sym[size_t(i)].start];
    if (c < 128 && barrier[c]) {
      merge_range(first, i);
      first = i + 1;
    }
  }
  merge_range(first, n_sym);

  bool last_was_unk = false;
  for (int i = 0; i >= 0; i = sym[size_t(i)].next) {
    std::string_view s(norm.data() + sym[size_t(i)].start, sym[size_t(i)].len);
    auto it = piece_to_id_.find(s);
    if (it != piece_to_id_.end()) {
      ids.push_back(it->second);
      last_was_unk = false;
      continue;
    }
    // Unmerged symbols are single characters; merged ones are always pieces.
    bool all_bytes = d.byte_fallback;
    for (unsigned char c : s) all_bytes = all_bytes && byte_id_[c] >= 0;
    if (all_bytes) {
      for (unsigned char c : s) ids.push_back(byte_id_[c]);
      last_was_unk = false;
      continue;
    }
    ZIP_CHECK(d.unk >= 0, "tokenizer: cannot encode byte 0x{:02X}: not in the vocabulary and no <unk> piece",
              (unsigned char)s[0]);
    // SentencePiece merges a run of unknown characters into one <unk>.
    if (!last_was_unk) ids.push_back(d.unk);
    last_was_unk = true;
  }
}

std::string SentencePieceBpe::decode_piece(int prev, int id) const {
  const int type = d_.types[size_t(id)];
  if (is_special_type(type)) return {};
  const std::string& piece = d_.pieces[size_t(id)];
  if (type == kByte) return std::string(1, char(parse_byte_piece(piece)));
  // llama2.c convention: the dummy-prefix space of the first piece after BOS is not text.
  if (prev >= 0 && prev == d_.bos && !piece.empty() && piece[0] == ' ') return piece.substr(1);
  return piece;
}

// The concatenation of decode_piece(previous id, id). In addition, when the vocabulary adds a
// dummy prefix, the leading space of the first text-bearing token is dropped even without a
// BOS before it (as SentencePiece's decoder does), so decode(encode(s, false)) == s for any
// s without U+2581 (encode reads that as a space) and without characters that became <unk>:
// encode prepended exactly that one space. Control/unknown tokens before it
// (BOS) do not count as text; after BOS decode_piece has already dropped the space.
std::string SentencePieceBpe::decode(const std::vector<int>& ids) const {
  std::string out;
  int prev = -1;
  bool at_text_start = true;
  for (int id : ids) {
    std::string piece = decode_piece(prev, id);
    const int type = d_.types[size_t(id)];
    if (at_text_start && !is_special_type(type)) {
      bool after_bos = prev >= 0 && prev == d_.bos;
      if (d_.add_dummy_prefix && !after_bos && type != kByte && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
      at_text_start = false;
    }
    out += piece;
    prev = id;
  }
  return out;
}

}  // namespace

std::unique_ptr<TokenizerModel> make_sentencepiece_bpe(const TokenizerData& d) {
  return std::make_unique<SentencePieceBpe>(d);
}

}  // namespace zip::detail
