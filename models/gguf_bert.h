// BERT in GGUF (llama.cpp's `bert` architecture), both directions: names as llama.cpp's converter
// writes them (token_types, token_embd_norm, attn_output_norm, layer_output_norm, cls = pooler,
// cls.output = classifier), `bert.pooling_type` (0 none, 1 mean, 2 cls), WordPiece vocabulary as
// tokenizer model "bert" (word-initial pieces prefixed with U+2581, "##" continuations without
// it, bracketed tokens as they are). Uniform encoders only (llama.cpp has one head count and
// head_dim = dim / heads). L2 normalisation of sentence embeddings is a llama.cpp runtime option
// (--embd-normalize); the model's setting is kept in `zip.normalize`.
#pragma once
#include "engine/model.h"
#include "models/export.h"
#include "models/gguf.h"
#include "models/gguf_writer.h"
#include "models/import.h"

namespace zip {

ExportResult export_gguf_bert(const Model& m, gguf::Writer& w);
Model import_gguf_bert(const gguf::File& f, const ImportOptions& opt);

}  // namespace zip
