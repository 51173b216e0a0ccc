// Byte-level BPE (GPT-2, and with other pre-tokenizer rules Llama 3, Qwen2, SmolLM), id-for-id
// compatible with Hugging Face tokenizers' BPE model behind a ByteLevel pre-tokenizer.
//
// Encoding: the text is cut into pre-tokens by the vocabulary's rule (pretokenize.h); each
// pre-token's bytes start as one symbol per byte (the piece spelling that byte) and the adjacent
// pair with the lowest merge rank is merged, ties going to the leftmost pair, until no pair is a
// merge. Pre-tokens repeat a lot in real text, so each distinct one is merged once per call.
// Pieces are raw bytes, so decoding is concatenation and any byte string round-trips.
#include <algorithm>
#include <cstdint>

#include "engine/error.h"
#include "engine/tokenizer/pretokenize.h"
#include "engine/tokenizer/tokenizer_model.h"

namespace zip::detail {

namespace {

struct Symbol {
  int id;          // -1 once merged into its left neighbour
  int prev, next;  // neighbours in the word, -1 at the ends
};

// A queued merge of symbol `left` with its right neighbour, valid while the two still hold
// the ids it was queued for.
struct Candidate {
  int rank, left, left_id, right_id;
};

// Heap order: lowest rank first, then the leftmost pair (Hugging Face's order).
struct CandidateLess {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

uint64_t pair_key(int left, int right) { return uint64_t(uint32_t(left)) << 32 | uint32_t(right); }

class ByteBpe final : public TokenizerModel {
 public:
  explicit ByteBpe(const TokenizerData& d);
  void encode(std::string_view text, std::vector<int>& ids) const override;
  std::string decode_piece(int prev, int id) const override;
  std::string decode(const std::vector<int>& ids) const override;

 private:
  void encode_word(std::string_view word, std::vector<int>& ids) const;

  struct Merge {
    int rank, id;
  };
  const TokenizerData& d_;
  const PreTokenizerRule* rule_;
  PieceMap piece_to_id_;                        // every piece but unused ones; the first id wins
  int byte_id_[256];                            // the piece that is byte b alone, or -1
  std::unordered_map<uint64_t, Merge> merges_;  // (left id, right id) -> rank, merged piece
};

ByteBpe::ByteBpe(const TokenizerData& d) : d_(d) {
  rule_ = find_pretokenizer(d.pre);
  ZIP_CHECK(rule_ != nullptr, "tokenizer: unknown pre-tokenizer '{}' (known: {})", d.pre, pretokenizer_names());
  const int n = int(d.pieces.size());
  for (int i = 0; i < n; i++) {
    ZIP_CHECK(d.types[size_t(i)] != kByte, "tokenizer: byte-bpe piece {} has SentencePiece's byte type", i);
    if (d.types[size_t(i)] != kUnused && !d.pieces[size_t(i)].empty()) piece_to_id_.emplace(d.pieces[size_t(i)], i);
  }
  for (int b = 0; b < 256; b++) {
    auto it = piece_to_id_.find(std::string_view(std::string(1, char(b))));
    byte_id_[b] = it == piece_to_id_.end() ? -1 : it->second;
  }
  ZIP_CHECK(d.merges.size() < size_t(INT32_MAX), "tokenizer: too many merges ({})", d.merges.size());
  merges_.reserve(d.merges.size());
  std::string joined;
  for (size_t r = 0; r < d.merges.size(); r++) {
    const auto [a, b] = d.merges[r];
    ZIP_CHECK(a >= 0 && a < n && b >= 0 && b < n, "tokenizer: merge {} refers to id {} or {}, outside [0, {})", r,
              a, b, n);
    joined = d.pieces[size_t(a)];
    joined += d.pieces[size_t(b)];
    auto it = piece_to_id_.find(joined);
    ZIP_CHECK(it != piece_to_id_.end(), "tokenizer: merge {} (pieces {} and {}) does not make a piece", r, a, b);
    // A repeated pair keeps its last rank, as in Hugging Face's merge map.
    merges_.insert_or_assign(pair_key(a, b), Merge{int(r), it->second});
  }
}

void ByteBpe::encode_word(std::string_view word, std::vector<int>& ids) const {
  if (d_.ignore_merges) {
    auto it = piece_to_id_.find(word);
    if (it != piece_to_id_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  std::vector<Symbol> sym;
  sym.reserve(word.size());
  for (unsigned char c : word) {
    // A byte without a piece becomes <unk>, or is dropped when there is none (Hugging Face).
    int id = byte_id_[c] >= 0 ? byte_id_[c] : d_.unk;
    if (id < 0) continue;
    int idx = int(sym.size());
    sym.push_back({id, idx - 1, -1});
    if (idx > 0) sym[size_t(idx) - 1].next = idx;
  }
  if (sym.empty()) return;

  std::vector<Candidate> heap;
  CandidateLess less;
  auto candidate = [&](int left, int right, Candidate* c) {
    if (left < 0 || right < 0) return false;
    auto it = merges_.find(pair_key(sym[size_t(left)].id, sym[size_t(right)].id));
    if (it == merges_.end()) return false;
    *c = {it->second.rank, left, sym[size_t(left)].id, sym[size_t(right)].id};
    return true;
  };
  for (int i = 1; i < int(sym.size()); i++) {
    Candidate c;
    if (candidate(i - 1, i, &c)) heap.push_back(c);
  }
  std::make_heap(heap.begin(), heap.end(), less);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), less);
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& l = sym[size_t(c.left)];
    if (l.id != c.left_id || l.next < 0 || sym[size_t(l.next)].id != c.right_id) continue;  // stale
    Symbol& r = sym[size_t(l.next)];
    l.id = merges_.at(pair_key(c.left_id, c.right_id)).id;
    r.id = -1;
    l.next = r.next;
    if (l.next >= 0) sym[size_t(l.next)].prev = c.left;
    for (auto [a, b] : {std::pair{l.prev, c.left}, std::pair{c.left, l.next}}) {
      Candidate n;
      if (!candidate(a, b, &n)) continue;
      heap.push_back(n);
      std::push_heap(heap.begin(), heap.end(), less);
    }
  }
  for (int i = 0; i >= 0; i = sym[size_t(i)].next) ids.push_back(sym[size_t(i)].id);
}

void ByteBpe::encode(std::string_view text, std::vector<int>& ids) const {
  if (text.empty()) return;
  std::string prefixed;
  if (d_.add_dummy_prefix && text[0] != ' ') {
    prefixed = " ";
    prefixed += text;
    text = prefixed;
  }
  std::vector<std::string_view> words;
  pretokenize(*rule_, text, words);
  // Each distinct pre-token is merged once; later copies repeat the ids it produced then.
  std::unordered_map<std::string_view, std::pair<size_t, size_t>> seen;  // -> [begin, end) in ids
  for (std::string_view w : words) {
    auto [it, fresh] = seen.try_emplace(w);
    if (!fresh) {
      for (size_t i = it->second.first; i < it->second.second; i++) {
        const int id = ids[i];  // not a reference into ids, which may reallocate
        ids.push_back(id);
      }
      continue;
    }
    const size_t begin = ids.size();
    encode_word(w, ids);
    it->second = {begin, ids.size()};
  }
}

std::string ByteBpe::decode_piece(int, int id) const {
  return is_special_type(d_.types[size_t(id)]) ? std::string() : d_.pieces[size_t(id)];
}

std::string ByteBpe::decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) out += decode_piece(-1, id);
  return out;
}

}  // namespace

std::unique_ptr<TokenizerModel> make_byte_bpe(const TokenizerData& d) { return std::make_unique<ByteBpe>(d); }

}  // namespace zip::detail
