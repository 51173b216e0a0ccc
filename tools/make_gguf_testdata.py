#!/usr/bin/env python3
"""Reference data for tests/test_gguf.cpp, written with the `gguf` package (llama.cpp's gguf-py),
whose numpy dequantisers are the reference the engine's dequantisers must match bit for bit.

Regenerate (the outputs are committed; CI never runs this):
    python3 -m venv /tmp/gguf-venv && /tmp/gguf-venv/bin/pip install gguf==0.19.0 numpy tokenizers
    /tmp/gguf-venv/bin/python tools/make_gguf_testdata.py            # writes tests/data/gguf/
The random generator is seeded, so a rerun with the same package versions gives the same bytes.

Outputs (tests/data/gguf/):
  dequant/<TYPE>.blocks  raw ggml blocks of TYPE        dequant/<TYPE>.f32  gguf-py's dequantisation
      F32, F16, BF16: random bit patterns (no NaN; infinities, zeros, subnormals included).
      Q8_0, Q4_0, Q4_1: blocks from gguf-py's quantiser on random floats, then random blocks.
      Q4_K, Q5_K, Q6_K (gguf-py cannot quantise to them): random blocks, random quant bits and
      packed scales, with the f16 super-block scales drawn from sane ranges.
  tiny-llama.gguf  a 2-layer random Llama written with GGUFWriter: dim 32, 2 query heads of 16,
      KV heads [1, 2] per layer (an array), FFN 256, untied output, tensors in F32, F16, BF16,
      Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, and a tiny byte-level BPE vocabulary (pre "gpt-2").
  tiny-rows.f32    for every tensor of tiny-llama.gguf (engine layout [out, in]) its first and last
      row (1-D tensors: all of it), dequantised by gguf-py, concatenated in index.json's order.
  index.json       what each file holds, the tiny model's config, and tokenizer ids for a few
      strings computed by Hugging Face `tokenizers` on the same vocabulary and merges.
"""
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gguf")
rng = np.random.default_rng(20250101)


def f16_bytes(x):
    return np.asarray(x, dtype=np.float16).reshape(-1).view(np.uint8)


def random_halves(n):
    """Random f16 bit patterns without NaN, plus 0, -0, ±inf, the smallest subnormal, the largest finite."""
    h = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    nan = ((h & 0x7C00) == 0x7C00) & ((h & 0x03FF) != 0)
    h[nan] &= 0x7FFF ^ 0x0400  # clear an exponent bit: finite
    h[:6] = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x7BFF]
    return h


def random_bf16(n):
    b = rng.integers(0, 1 << 16, size=n, dtype=np.uint32).astype(np.uint16)
    nan = ((b & 0x7F80) == 0x7F80) & ((b & 0x007F) != 0)
    b[nan] &= 0x7FFF ^ 0x0080
    b[:6] = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x0001, 0x7F7F]
    return b


def sane_half(lo, hi, n, signed=False):
    x = rng.uniform(lo, hi, size=n)
    if signed:
        x *= rng.choice([-1.0, 1.0], size=n)
    return f16_bytes(x)


def random_k_blocks(qtype, n_blocks):
    """Random K-quant super-blocks: random bytes, then the f16 scales set to sane values."""
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint32).astype(np.uint8)
    if qtype in (T.Q4_K, T.Q5_K):  # f16 d, f16 dmin at the start
        b[:, 0:2] = sane_half(1e-4, 0.05, n_blocks, signed=True).reshape(n_blocks, 2)
        b[:, 2:4] = sane_half(1e-4, 0.05, n_blocks).reshape(n_blocks, 2)
    else:  # Q6_K: f16 d at the end
        b[:, size - 2:size] = sane_half(1e-4, 0.01, n_blocks, signed=True).reshape(n_blocks, 2)
    return b


def random_small_blocks(qtype, n_blocks):
    """Random Q8_0/Q4_0/Q4_1 blocks: random quant bytes, f16 d (and m) sane."""
    size = gguf.GGML_QUANT_SIZES[qtype][1]
    b = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint32).astype(np.uint8)
    b[:, 0:2] = sane_half(1e-3, 0.5, n_blocks, signed=True).reshape(n_blocks, 2)
    if qtype == T.Q4_1:
        b[:, 2:4] = sane_half(-2.0, 2.0, n_blocks).reshape(n_blocks, 2)
    return b


def write(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.ascontiguousarray(arr).tofile(path)


def dequant_vectors(index):
    cases = {}
    f32 = rng.standard_normal(64).astype(np.float32)
    f32[:3] = [0.0, -0.0, np.inf]
    cases["F32"] = (T.F32, f32.view(np.uint8))
    cases["F16"] = (T.F16, random_halves(256).view(np.uint8))
    cases["BF16"] = (T.BF16, random_bf16(256).view(np.uint8))
    for name, qt in (("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_1", T.Q4_1)):
        quantised = quantize(rng.standard_normal((2, 32)).astype(np.float32) * 0.7, qt).reshape(2, -1)
        cases[name] = (qt, np.concatenate([quantised, random_small_blocks(qt, 2)]).reshape(-1))
    for name, qt in (("Q4_K", T.Q4_K), ("Q5_K", T.Q5_K), ("Q6_K", T.Q6_K)):
        cases[name] = (qt, random_k_blocks(qt, 2).reshape(-1))
    for name, (qt, raw) in cases.items():
        block, size = gguf.GGML_QUANT_SIZES[qt]
        n = raw.size // size * block
        if qt == T.F16:
            ref = raw.view(np.float16).astype(np.float32)
        elif qt == T.F32:
            ref = raw.view(np.float32).copy()
        else:
            ref = dequantize(raw.reshape(1, -1), qt).reshape(-1)
        assert ref.dtype == np.float32 and ref.size == n
        write(os.path.join(OUT, "dequant", name + ".blocks"), raw)
        write(os.path.join(OUT, "dequant", name + ".f32"), ref)
        index["dequant"][name] = {"ggml_type": int(qt), "n": int(n)}


# --- the tiny Llama -----------------------------------------------------------------------------

BYTE_ALPHABET = [c for c in range(ord("!"), ord("~") + 1)] + [c for c in range(0xA1, 0xAC + 1)] + \
                [c for c in range(0xAE, 0xFF + 1)]


def byte_to_char():
    """GPT-2's printable spelling of every byte."""
    table, extra = {}, 0
    for b in range(256):
        if b in BYTE_ALPHABET:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def tiny_vocab():
    spell = byte_to_char()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = list(specials) + [spell[b] for b in range(256)]
    types = [3] * len(specials) + [1] * 256
    merges = []
    for a, b in [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("ll", "o"), ("Ġ", "w"), ("o", "r"),
                 ("l", "d"), ("or", "ld"), ("Ġw", "orld"), ("H", "e"), ("He", "llo"), ("Ġ", "a"), ("i", "n"),
                 ("Ġa", "n"), ("Ġ", "c"), ("a", "t"), ("Ġc", "at"), ("Ġ", "Ġ"), ("Ċ", "Ċ")]:
        for piece in (a, b):
            assert piece in tokens, piece
        merged = a + b
        if merged not in tokens:
            tokens.append(merged)
            types.append(1)
        merges.append(f"{a} {b}")
    return tokens, types, merges


def reference_ids(tokens, merges, texts):
    """Ids from Hugging Face `tokenizers` (ByteLevel, GPT-2 regex, no prefix space); None if absent."""
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, AddedToken
    except ImportError:
        return None
    vocab = {t: i for i, t in enumerate(tokens)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tk.add_special_tokens([AddedToken(t, special=True) for t in tokens[:3]])
    return {t: tk.encode(t).ids for t in texts}


# name → (ggml type, shape [out, in]); the scale keeps values in a realistic range.
def tiny_tensors(dim, ffn, hd, kv_per_layer, vocab):
    t = {"token_embd": (T.Q8_0, (vocab, dim)), "output_norm": (T.F32, (dim,)), "output": (T.Q4_0, (vocab, dim))}
    layer_types = [
        dict(attn_q=T.Q4_0, attn_k=T.Q4_1, attn_v=T.Q8_0, attn_output=T.F16, ffn_gate=T.Q4_1, ffn_up=T.Q8_0,
             ffn_down=T.Q4_K),
        dict(attn_q=T.Q8_0, attn_k=T.F32, attn_v=T.Q4_0, attn_output=T.BF16, ffn_gate=T.Q4_0, ffn_up=T.Q4_1,
             ffn_down=T.Q6_K),
    ]
    for l, kinds in enumerate(layer_types):
        q, kv = 2 * hd, kv_per_layer[l] * hd
        shapes = dict(attn_q=(q, dim), attn_k=(kv, dim), attn_v=(kv, dim), attn_output=(dim, q), ffn_gate=(ffn, dim),
                      ffn_up=(ffn, dim), ffn_down=(dim, ffn))
        t[f"blk.{l}.attn_norm"] = (T.F32, (dim,))
        t[f"blk.{l}.ffn_norm"] = (T.F32, (dim,))
        for k, qt in kinds.items():
            t[f"blk.{l}.{k}"] = (qt, shapes[k])
    return t


def encode_tensor(qt, shape):
    """Random data in type qt: (array for GGUFWriter, raw_dtype, gguf-py's dequantised values [out, in])."""
    if len(shape) == 1:
        x = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        return x, None, x
    x = (0.2 * rng.standard_normal(shape)).astype(np.float32)
    if qt == T.F32:
        return x, None, x
    if qt == T.F16:
        h = x.astype(np.float16)
        return h, None, h.astype(np.float32)
    if qt in (T.Q4_K, T.Q6_K, T.Q5_K):
        raw = random_k_blocks(qt, x.size // 256).reshape(shape[0], -1)
    else:
        raw = quantize(x, qt)
    return raw, qt, dequantize(raw, qt).reshape(shape)


def tiny_model(index):
    dim, ffn, hd, kv = 32, 256, 16, [1, 2]
    tokens, types, merges = tiny_vocab()
    vocab = len(tokens)
    path = os.path.join(OUT, "tiny-llama.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("zip tiny random llama")
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_block_count(2)
    w.add_feed_forward_length(ffn)
    w.add_head_count(2)
    w.add_head_count_kv(kv)
    w.add_rope_dimension_count(hd)
    w.add_rope_freq_base(50000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    rows, offset, entries = [], 0, []
    for name, (qt, shape) in tiny_tensors(dim, ffn, hd, kv, vocab).items():
        data, raw_dtype, ref = encode_tensor(qt, shape)
        w.add_tensor(name + ".weight" if name != "token_embd" else "token_embd.weight", data, raw_dtype=raw_dtype)
        ref = np.asarray(ref, dtype=np.float32)
        picked = ref if ref.ndim == 1 else ref[[0, shape[0] - 1]].reshape(-1)
        engine_name = "tok_embd" if name == "token_embd" else name  # engine/model.h's names
        entries.append({"name": engine_name, "shape": list(shape), "ggml_type": int(qt), "offset": offset,
                        "rows": [] if ref.ndim == 1 else [0, shape[0] - 1]})
        rows.append(picked)
        offset += picked.size
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    write(os.path.join(OUT, "tiny-rows.f32"), np.concatenate(rows))
    texts = ["Hello world", " the cat in the hat", "Hello\n\nworld  !", "<|im_start|>hi"]
    index["tiny"] = {"file": "tiny-llama.gguf", "rows_file": "tiny-rows.f32", "tensors": entries,
                     "config": {"dim": dim, "n_layers": 2, "n_heads": 2, "n_kv_heads": kv, "head_dim": hd,
                                "ffn_dim": ffn, "vocab_size": vocab, "max_seq_len": 128, "rope_theta": 50000.0,
                                "norm_eps": 1e-6, "tied": False},
                     "tokenizer": {"bos": 1, "eos": 2, "unk": 0, "add_bos": True, "n_merges": len(merges),
                                   "ids_without_bos": reference_ids(tokens, merges, texts)}}


def main():
    from importlib.metadata import version
    index = {"generator": f"tools/make_gguf_testdata.py (gguf {version('gguf')}, numpy {np.__version__})",
             "dequant": {}}
    dequant_vectors(index)
    tiny_model(index)
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
