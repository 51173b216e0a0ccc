// SentencePiece tokenizer.model: a serialized ModelProto (sentencepiece_model.proto), read with
// a minimal bounds-checked protobuf wire-format reader. Only the fields that change encoding are
// read; every other field is skipped by its wire type. Normalizations we do not implement
// (precompiled character maps, whitespace collapsing, suffix whitespace) are refused rather
// than silently tokenizing differently from SentencePiece.
#include <cmath>
#include <cstring>
#include <string_view>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/tokenizer.h"

namespace zip {

namespace {

enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

// Reads one protobuf message from [p, end). `path` only labels errors.
class ProtoReader {
 public:
  ProtoReader(const uint8_t* p, const uint8_t* end, const std::string& path) : p_(p), end_(end), path_(path) {}

  bool done() const { return p_ == end_; }

  // Next field tag; returns the field number and sets the wire type.
  uint32_t tag(int* wire) {
    uint64_t t = varint();
    *wire = int(t & 7);
    uint64_t field = t >> 3;
    ZIP_CHECK(field > 0 && field <= 0x1fffffff,
              "'{}': not a valid SentencePiece model: invalid protobuf field number {}", path_, field);
    return uint32_t(field);
  }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      ZIP_CHECK(p_ < end_, "'{}': not a valid SentencePiece model: truncated protobuf (varint)", path_);
      uint8_t b = *p_++;
      if (shift < 64) v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("'{}': not a valid SentencePiece model: invalid protobuf varint (more than 10 bytes)", path_);
  }

  uint32_t fixed32() {
    ZIP_CHECK(end_ - p_ >= 4, "'{}': not a valid SentencePiece model: truncated protobuf (fixed32)", path_);
    uint32_t v;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return v;
  }

  // A length-delimited payload as a sub-range [*begin, *end).
  void bytes(const uint8_t** begin, const uint8_t** end) {
    uint64_t n = varint();
    ZIP_CHECK(n <= uint64_t(end_ - p_),
              "'{}': not a valid SentencePiece model: truncated protobuf (field of {} bytes, {} left)", path_, n,
              end_ - p_);
    *begin = p_;
    *end = p_ + n;
    p_ += n;
  }

  std::string_view string() {
    const uint8_t *b, *e;
    bytes(&b, &e);
    return std::string_view(reinterpret_cast<const char*>(b), size_t(e - b));
  }

  ProtoReader message() {
    const uint8_t *b, *e;
    bytes(&b, &e);
    return ProtoReader(b, e, path_);
  }

  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); break;
      case kFixed64:
        ZIP_CHECK(end_ - p_ >= 8, "'{}': not a valid SentencePiece model: truncated protobuf (fixed64)", path_);
        p_ += 8;
        break;
      case kLengthDelimited: string(); break;
      case kFixed32: fixed32(); break;
      default: fail("'{}': not a valid SentencePiece model: unsupported protobuf wire type {}", path_, wire);
    }
  }

  // Fails unless a known field arrived with the wire type the schema gives it.
  void expect(int wire, int expected, const char* field) const {
    ZIP_CHECK(wire == expected,
              "'{}': not a valid SentencePiece model: protobuf field {} has wire type {}, expected {}", path_, field,
              wire, expected);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const std::string& path_;
};

constexpr int kModelTypeUnigram = 1, kModelTypeBpe = 2;

struct TrainerSpec {
  int model_type = kModelTypeUnigram;
  bool byte_fallback = false;
  bool treat_whitespace_as_suffix = false;
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;
};

struct NormalizerSpec {
  bool has_charsmap = false;
  bool add_dummy_prefix = true;
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Proto int32 fields are sign-extended 64-bit varints; truncation recovers negative values.
int32_t as_int32(uint64_t v) { return int32_t(uint32_t(v)); }

void read_piece(ProtoReader r, TokenizerData& t, const std::string& path) {
  std::string piece;
  float score = 0;
  int type = kNormal;
  while (!r.done()) {
    int wire;
    switch (r.tag(&wire)) {
      case 1:
        r.expect(wire, kLengthDelimited, "piece");
        piece = r.string();
        break;
      case 2: {
        r.expect(wire, kFixed32, "score");
        uint32_t bits = r.fixed32();
        std::memcpy(&score, &bits, 4);
        break;
      }
      case 3:
        r.expect(wire, kVarint, "type");
        type = as_int32(r.varint());
        break;
      default: r.skip(wire);
    }
  }
  const size_t id = t.pieces.size();
  ZIP_CHECK(type >= kNormal && type <= kByte, "'{}': piece {} has unknown type {}", path, id, type);
  ZIP_CHECK(!piece.empty(), "'{}': piece {} is empty", path, id);
  ZIP_CHECK(!std::isnan(score), "'{}': piece {} has a NaN score", path, id);
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  ZIP_CHECK(type != kByte || (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && hex(piece[3]) && hex(piece[4]) &&
                              piece[5] == '>'),
            "'{}': byte piece {} is not spelled <0xAB>", path, id);
  // U+2581 (▁, "E2 96 81") is SentencePiece's visible space; we store a plain ' '.
  std::string spaced;
  for (size_t i = 0; i < piece.size(); i++) {
    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
      spaced += ' ';
      i += 2;
    } else {
      spaced += piece[i];
    }
  }
  t.pieces.push_back(std::move(spaced));
  t.scores.push_back(score);
  t.types.push_back(type);
}

void read_trainer_spec(ProtoReader r, TrainerSpec& s) {
  while (!r.done()) {
    int wire;
    uint32_t field = r.tag(&wire);
    auto varint_field = [&](const char* name) {
      r.expect(wire, kVarint, name);
      return r.varint();
    };
    switch (field) {
      case 3: s.model_type = as_int32(varint_field("model_type")); break;
      case 24: s.treat_whitespace_as_suffix = varint_field("treat_whitespace_as_suffix") != 0; break;
      case 35: s.byte_fallback = varint_field("byte_fallback") != 0; break;
      case 40: s.unk_id = as_int32(varint_field("unk_id")); break;
      case 41: s.bos_id = as_int32(varint_field("bos_id")); break;
      case 42: s.eos_id = as_int32(varint_field("eos_id")); break;
      case 43: s.pad_id = as_int32(varint_field("pad_id")); break;
      default: r.skip(wire);
    }
  }
}

void read_normalizer_spec(ProtoReader r, NormalizerSpec& s) {
  while (!r.done()) {
    int wire;
    switch (r.tag(&wire)) {
      case 2:
        r.expect(wire, kLengthDelimited, "precompiled_charsmap");
        s.has_charsmap = !r.string().empty();
        break;
      case 3:
        r.expect(wire, kVarint, "add_dummy_prefix");
        s.add_dummy_prefix = r.varint() != 0;
        break;
      case 4:
        r.expect(wire, kVarint, "remove_extra_whitespaces");
        s.remove_extra_whitespaces = r.varint() != 0;
        break;
      case 5:
        r.expect(wire, kVarint, "escape_whitespaces");
        s.escape_whitespaces = r.varint() != 0;
        break;
      default: r.skip(wire);
    }
  }
}

}  // namespace

TokenizerData load_sentencepiece_model(const std::string& path) {
  auto file = MappedFile::open(path);
  ZIP_CHECK(file->size() > 0, "'{}': empty SentencePiece model", path);
  ProtoReader r(file->data(), file->data() + file->size(), path);

  TokenizerData t;
  TrainerSpec trainer;
  NormalizerSpec normalizer;
  bool has_normalizer = false;
  while (!r.done()) {
    int wire;
    switch (r.tag(&wire)) {
      case 1:
        r.expect(wire, kLengthDelimited, "pieces");
        read_piece(r.message(), t, path);
        break;
      case 2:
        r.expect(wire, kLengthDelimited, "trainer_spec");
        read_trainer_spec(r.message(), trainer);
        break;
      case 3:
        r.expect(wire, kLengthDelimited, "normalizer_spec");
        read_normalizer_spec(r.message(), normalizer);
        has_normalizer = true;
        break;
      default: r.skip(wire);
    }
  }

  const int n = int(t.pieces.size());
  ZIP_CHECK(n > 0, "'{}': SentencePiece model has no pieces", path);
  ZIP_CHECK(trainer.model_type == kModelTypeBpe, "'{}': only BPE SentencePiece models are supported (model_type {})",
            path, trainer.model_type);
  ZIP_CHECK(has_normalizer, "'{}': SentencePiece model has no normalizer_spec", path);
  ZIP_CHECK(!normalizer.has_charsmap,
            "'{}': SentencePiece normalization rules (precompiled_charsmap) are not supported, only 'identity'", path);
  ZIP_CHECK(!normalizer.remove_extra_whitespaces, "'{}': SentencePiece remove_extra_whitespaces=true is not supported",
            path);
  ZIP_CHECK(normalizer.escape_whitespaces, "'{}': SentencePiece escape_whitespaces=false is not supported", path);
  ZIP_CHECK(!trainer.treat_whitespace_as_suffix, "'{}': SentencePiece treat_whitespace_as_suffix is not supported",
            path);
  for (int id : {trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id})
    ZIP_CHECK(id >= -1 && id < n, "'{}': special token id {} out of range for {} pieces", path, id, n);

  t.unk = trainer.unk_id;
  t.bos = trainer.bos_id;
  t.eos = trainer.eos_id;
  t.pad = trainer.pad_id;
  t.add_bos = t.bos >= 0;
  t.add_dummy_prefix = normalizer.add_dummy_prefix;
  t.byte_fallback = trainer.byte_fallback;
  return t;
}

}  // namespace zip
