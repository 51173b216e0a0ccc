// Shared test models: each imported (or written as .zlm) once per test process, on first use,
// from the shared data (ztest::shared). Tests that must modify a model copy it first.
#pragma once
#include <string>

#include "engine/model.h"

namespace ztest {

const zip::Model& stories260K();         // llama2.c stories260K (GQA, tied embeddings)
const zip::Model& stories260K_sliced();  // the golden slice of it: uneven KV groups, removed modules
const zip::Model& tiny_llama();          // tiny-random-llama (HF safetensors)
const zip::Model& tiny_gpt2();           // tiny-random-gpt2
const zip::Model& tiny_bert();           // tiny-random-bert (encoder)

// The same models as .zlm files in this process's temp dir (read-only for tests).
const std::string& stories260K_zlm();
const std::string& tiny_llama_zlm();
const std::string& tiny_gpt2_zlm();
const std::string& tiny_bert_zlm();
// tiny-random-bert with a WordPiece vocabulary that fits its 512 ids (special tokens, letters,
// digits, word pieces, punctuation) and mean pooling, as a sentence-transformers folder sets it.
const std::string& pooled_bert_zlm();
// The first 60 STS-B dev pairs (a quick --eval for encoders).
const std::string& stsb_head_tsv();

}  // namespace ztest
