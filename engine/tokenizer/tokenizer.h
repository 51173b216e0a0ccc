// Tokenizers. A TokenizerData is the serialisable vocabulary (what a .zlm embeds); a Tokenizer
// is the algorithm built from it. Loaders for each source format produce TokenizerData.
// Three algorithms (TokenizerData::type), each id-for-id identical to its reference:
//   "sentencepiece-bpe"  Llama / llama2.c (SentencePiece BPE with byte fallback)
//   "byte-bpe"           GPT-2 style byte-level BPE (Hugging Face tokenizers, tiktoken-like)
//   "wordpiece"          BERT (Hugging Face BertTokenizer: basic tokenizer + WordPiece)
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zip {

struct Tensor;
namespace detail {
class TokenizerModel;
}

// Piece types (SentencePiece's, sentencepiece_model.proto; the other algorithms use the same
// meanings). kControl: special tokens (BOS, <|endoftext|>, [CLS]...) that decode to nothing and
// are matched in text only when asked to (parse_special). kUserDefined: for byte-bpe/wordpiece,
// Hugging Face's non-special added tokens, always cut out of the text before encoding.
enum PieceType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct TokenizerData {
  std::string type = "sentencepiece-bpe";  // or "byte-bpe", "wordpiece"
  // Raw bytes of each piece. SentencePiece's U+2581 (▁) is stored as a plain space ' ', byte
  // pieces keep their "<0xAB>" spelling (their type is kByte). byte-bpe pieces are stored
  // decoded from GPT-2's byte-level alphabet (vocab.json's "Ġthe" is " the"); wordpiece pieces
  // as in vocab.txt ("##ing" continues a word).
  std::vector<std::string> pieces;
  std::vector<float> scores;    // sentencepiece-bpe: merge priority (higher merges first); else 0
  std::vector<int32_t> types;   // PieceType per piece
  int bos = -1, eos = -1, unk = -1, pad = -1;
  int cls = -1, sep = -1, mask = -1;  // wordpiece: [CLS] text [SEP] (b [SEP]); [MASK]
  bool add_bos = true;          // encode(add_special=true) prepends BOS (unless cls/sep are set)
  // sentencepiece-bpe: a space is prepended to non-empty text. byte-bpe: Hugging Face's
  // add_prefix_space, a space is prepended unless the text starts with one.
  bool add_dummy_prefix = true;
  bool byte_fallback = true;    // sentencepiece-bpe: unknown characters become <0xAB> byte pieces

  // byte-bpe
  std::string pre;              // pre-tokenizer rule: "gpt2", "llama3", "qwen2", "smollm"
  std::vector<std::pair<int32_t, int32_t>> merges;  // (left id, right id), by rank (first merges first)
  bool ignore_merges = false;   // a pre-token that is a piece is taken whole (Llama 3)

  // wordpiece: Hugging Face's BertNormalizer options
  bool clean_text = false;      // drop control characters, U+0000, U+FFFD; whitespace -> ' '
  bool handle_chinese_chars = false;  // spaces around CJK ideographs
  bool strip_accents = false;   // NFD, then drop non-spacing marks
  bool lowercase = false;

  // The chat template (Jinja text) the model was published with: GGUF tokenizer.chat_template or
  // Hugging Face tokenizer_config.json's chat_template; empty when none. Rendered by
  // engine/chat/chat_template.h for the families it recognises.
  std::string chat_template;

  bool operator==(const TokenizerData&) const = default;
};

class Tokenizer {
 public:
  explicit Tokenizer(std::shared_ptr<const TokenizerData> data);
  ~Tokenizer();

  // Token ids for `text` (raw bytes, UTF-8 expected; invalid bytes are kept: byte fallback or
  // byte-level pieces, [UNK] for wordpiece).
  // add_special: wrap in [CLS] ... [SEP] when the vocabulary has both (wordpiece), else prepend
  //   BOS when the vocabulary asks for it (add_bos).
  // parse_special: special pieces spelled in the text (e.g. "<|endoftext|>", "[SEP]") become
  //   their ids instead of being tokenized as text.
  std::vector<int> encode(std::string_view text, bool add_special = true, bool parse_special = false) const;

  // Ids with token types (segment ids), as BERT-style models take them.
  struct Encoding {
    std::vector<int> ids, type_ids;
  };
  // One text: encode() with all type ids 0.
  Encoding encode_with_types(std::string_view text, bool add_special = true, bool parse_special = false) const;
  // A sentence pair: [CLS] a [SEP] b [SEP], type ids 0 up to the first [SEP] included, then 1.
  // Needs a vocabulary with [CLS] and [SEP].
  Encoding encode_pair(std::string_view a, std::string_view b, bool parse_special = false) const;

  // The bytes token `id` contributes to the text when it follows token `prev` (-1: none), e.g.
  // SentencePiece drops the leading space of the first piece after BOS, <0xAB> pieces become the
  // raw byte, a wordpiece word gets a space before it unless it continues one ("##").
  std::string decode_piece(int prev, int id) const;
  // The text of a whole id sequence (special tokens produce nothing).
  std::string decode(const std::vector<int>& ids) const;

  const TokenizerData& data() const { return *data_; }
  int vocab_size() const { return int(data_->pieces.size()); }
  int bos() const { return data_->bos; }
  int eos() const { return data_->eos; }

 private:
  // Appends the ids of `text`, special pieces cut out first (always user-defined ones where the
  // algorithm wants it, control ones too when parse_special).
  void encode_segments(std::string_view text, bool parse_special, std::vector<int>& ids) const;
  // The longest special piece starting at text[pos], or -1.
  int match_special(std::string_view text, size_t pos, bool parse_special) const;

  std::shared_ptr<const TokenizerData> data_;
  std::shared_ptr<const detail::TokenizerModel> model_;
  // Special pieces by first byte, longest first (only those that can be matched in text).
  std::vector<std::vector<int>> special_by_byte_;
  bool has_user_defined_ = false, has_control_ = false;
};

// Loaders (throw zip::Error on malformed input).
TokenizerData load_llama2c_tokenizer(const std::string& path);      // llama2.c tokenizer.bin
TokenizerData load_sentencepiece_model(const std::string& path);    // SentencePiece tokenizer.model
// GPT-2 byte-level BPE from vocab.json + merges.txt.
TokenizerData load_gpt2_vocab(const std::string& vocab_json, const std::string& merges_txt);
// BERT WordPiece vocab.txt (one piece per line, id = line number); BertTokenizer's defaults
// (lower-casing, accent stripping) unless `lowercase` says otherwise.
TokenizerData load_wordpiece_vocab(const std::string& vocab_txt, bool lowercase = true);
// Hugging Face tokenizer.json: byte-level BPE or WordPiece. Other kinds (SentencePiece-style BPE,
// Unigram...) are refused with an error saying so.
TokenizerData load_hf_tokenizer_json(const std::string& path);
// Whether `path` is a tokenizer.json load_hf_tokenizer_json supports: false for a valid
// tokenizer.json of another kind; throws for a file that is not a tokenizer.json at all.
bool is_supported_hf_tokenizer_json(const std::string& path);
// A file (recognised by name and content) or a directory, searched in this order:
// tokenizer.json (skipped for tokenizer.model when it is of a kind not supported),
// vocab.json + merges.txt, vocab.txt, tokenizer.model, tokenizer.bin, tok*.bin. For the
// Hugging Face files, tokenizer_config.json beside them may name BOS/EOS and BERT's casing.
TokenizerData load_tokenizer(const std::string& file_or_dir);

// The chat template a Hugging Face directory declares: chat_template.jinja if present (it wins,
// as in transformers), else tokenizer_config.json's "chat_template" (a string, or a list of
// {"name", "template"} from which "default" is taken); "" when there is none.
std::string load_chat_template(const std::string& dir);

// Embedding in a .zlm: scalar fields go to `meta` (the header's "tokenizer" object), the
// vocabulary to tensors named "tokenizer.*" (u8 piece bytes, i32 offsets, f32 scores, i32 types,
// i32 merges for byte-bpe).
void tokenizer_to_zlm(const TokenizerData& t, nlohmann::json& meta, std::map<std::string, Tensor>& tensors);
TokenizerData tokenizer_from_zlm(const nlohmann::json& meta, const std::map<std::string, Tensor>& tensors);

}  // namespace zip
