#!/usr/bin/env python3
"""Reference vectors for the engine's quantisers (tests/test_quantize.cpp).

Regenerate (the outputs are committed; CI never runs this):
    python3 -m venv /tmp/qtvenv && /tmp/qtvenv/bin/pip install gguf==0.19.0 numpy
    # ggml's reference K-quantisers, built from the ggml-quants.c that llama-cpp-python's sdist
    # vendors (a stub supplies the four ggml symbols it links against but never calls here):
    gcc -O2 -fPIC -shared -I$GGML/src -I$GGML/include -o /tmp/libggmlq.so $GGML/src/ggml-quants.c tools/ggml_quants_stub.c -lm
    /tmp/qtvenv/bin/python tools/make_quant_testdata.py /tmp/libggmlq.so     # writes tests/data/gguf/quant/
The random generator is seeded: a rerun with the same versions gives the same bytes.

Outputs (tests/data/gguf/quant/), for TYPE in Q8_0, Q4_0, Q4_K, Q6_K, Q5_0 (generated in that order,
so adding Q5_0 last left the earlier files unchanged):
  TYPE.in.f32   the floats quantised: special blocks first (zeros, ties at .5, a negative
                maximum, all equal, one spike, tiny and large magnitudes), then random normal
                blocks with scales from 1e-3 to 10 (Q5_0: one more tie block, its d = max / −16 = 1)
  TYPE.blocks   the quantised blocks: Q8_0/Q4_0/Q5_0 from gguf-py's numpy quantiser (checked equal to
                ggml's quantize_row_*_ref); Q4_K/Q6_K from ggml's quantize_row_*_ref
  TYPE.deq.f32  TYPE.blocks dequantised by gguf-py
"""
import ctypes
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

LIB = sys.argv[1]
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gguf", "quant")
rng = np.random.default_rng(20261207)
ggml = ctypes.CDLL(LIB)
BLOCK = {T.Q8_0: (32, 34), T.Q4_0: (32, 18), T.Q4_K: (256, 144), T.Q6_K: (256, 210), T.Q5_0: (32, 22)}
REF = {T.Q8_0: "quantize_row_q8_0_ref", T.Q4_0: "quantize_row_q4_0_ref",
       T.Q4_K: "quantize_row_q4_K_ref", T.Q6_K: "quantize_row_q6_K_ref",
       T.Q5_0: "quantize_row_q5_0_ref"}


def special_blocks(n, q5=False):
    """Blocks of n floats that exercise the edge cases of the scale and the rounding."""
    k = np.arange(n, dtype=np.float32)
    out = [np.zeros(n, np.float32)]
    ties = (k % 16 - 8 + 0.5).astype(np.float32)  # x·id lands on k + .5 once the scale is 1
    ties[0] = 127.0 if n == 32 else 8.0
    out.append(ties)
    q4_ties = ties.copy()
    q4_ties[0] = -8.0  # Q4_0's d = max / −8 = 1
    out.append(q4_ties)
    if q5:
        q5_ties = ties.copy()
        q5_ties[0] = -16.0  # Q5_0's d = max / −16 = 1
        out.append(q5_ties)
    neg = rng.normal(0, 1, n).astype(np.float32)
    neg[3] = -10.0  # the element of largest magnitude is negative
    out.append(neg)
    out.append(np.full(n, 0.75, np.float32))
    out.append(np.full(n, -0.75, np.float32))
    spike = np.zeros(n, np.float32)
    spike[n // 2] = 3.0
    out.append(spike)
    out.append((rng.normal(0, 1, n) * 1e-6).astype(np.float32))
    out.append((rng.normal(0, 1, n) * 1e4).astype(np.float32))
    out.append(np.abs(rng.normal(0, 1, n)).astype(np.float32))  # all positive: min 0
    out.append(-np.abs(rng.normal(0, 1, n)).astype(np.float32))
    return np.concatenate(out)


def ggml_quantize(qtype, x):
    n, size = BLOCK[qtype]
    out = np.zeros(len(x) // n * size, np.uint8)
    fn = getattr(ggml, REF[qtype])
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn(x.ctypes.data, out.ctypes.data, len(x))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_K, T.Q6_K, T.Q5_0):
        n, _ = BLOCK[qtype]
        rand = [(rng.normal(0, 1, n) * s).astype(np.float32) for s in np.geomspace(1e-3, 10, 24)]
        x = np.ascontiguousarray(np.concatenate([special_blocks(n, qtype == T.Q5_0)] + rand).astype(np.float32))
        ref = ggml_quantize(qtype, x)
        if qtype in (T.Q8_0, T.Q4_0, T.Q5_0):
            blocks = quantize(x.reshape(1, -1), qtype).reshape(-1)
            assert np.array_equal(blocks, ref), f"gguf-py and ggml disagree on {qtype.name}"
        else:
            blocks = ref
        deq = dequantize(blocks.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        x.tofile(os.path.join(OUT, f"{qtype.name}.in.f32"))
        blocks.tofile(os.path.join(OUT, f"{qtype.name}.blocks"))
        deq.tofile(os.path.join(OUT, f"{qtype.name}.deq.f32"))
        print(qtype.name, len(x), "floats", len(blocks), "bytes")


main()
