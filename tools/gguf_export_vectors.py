#!/usr/bin/env python3
"""Test vectors for the GGUF writer, as llama.cpp's own `gguf` Python package reads zip's output.

Makes the stories260K golden slice (uneven query groups, an attention-free layer, an FFN-free
layer: exported as `deci` with padding), exports it with `zip export --to gguf`, reads the file
with gguf.GGUFReader and writes tests/data/gguf_export_vectors.json: every key with its value
type (and its value, or an array's element type and length), every tensor's name, ggml type,
shape (ne) and the CRC-32 (zlib) of its data bytes. tests/test_export_vectors.cpp exports the same
model in-process and compares.

    python3 -m venv /tmp/exportvenv && /tmp/exportvenv/bin/pip install gguf numpy
    /tmp/exportvenv/bin/python tools/gguf_export_vectors.py   # from the repo root, after make
"""
import json
import os
import subprocess
import sys
import tempfile
import zlib
from importlib.metadata import version

import gguf

SHARED = os.environ.get("ZIP_SHARED", "../shared")


def zip_cmd(*args):
    subprocess.run(["build/zip", *args], check=True, stderr=subprocess.DEVNULL)


def value_of(field):
    t = field.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        out = {"elem": field.types[1].name, "count": len(field.data)}
        if field.types[1] in (gguf.GGUFValueType.INT32, gguf.GGUFValueType.UINT32) and len(field.data) <= 64:
            out["values"] = [int(field.parts[i][0]) for i in field.data]
        return out
    if t == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    v = field.parts[field.data[0]][0]
    return float(v) if t in (gguf.GGUFValueType.FLOAT32, gguf.GGUFValueType.FLOAT64) else int(v)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        zlm, sliced, out = f"{tmp}/s.zlm", f"{tmp}/sliced.zlm", f"{tmp}/sliced.gguf"
        zip_cmd("convert", f"{SHARED}/models/stories260K/stories260K.bin", "-o", zlm)
        zip_cmd("slice", zlm, "--spec", f"{SHARED}/golden/stories260K-sliced/index.json", "-o", sliced)
        zip_cmd("export", sliced, "--to", "gguf", "-o", out)
        r = gguf.GGUFReader(out)
        keys = []
        for name, field in r.fields.items():
            if name.startswith("GGUF."):  # the reader's pseudo-keys: header fields
                continue
            keys.append({"key": name, "type": field.types[0].name, "value": value_of(field)})
        tensors = [{"name": t.name, "type": t.tensor_type.name, "ne": [int(x) for x in t.shape],
                    "n_bytes": int(t.n_bytes), "crc32": zlib.crc32(t.data.tobytes())}
                   for t in r.tensors]
    doc = {"source": "tools/gguf_export_vectors.py: stories260K golden slice, zip export --to gguf, "
                     f"read by gguf-py {version('gguf')}",
           "version": int(r.fields["GGUF.version"].parts[-1][0]),
           "alignment": int(r.alignment), "keys": keys, "tensors": tensors}
    with open("tests/data/gguf_export_vectors.json", "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{len(keys)} keys, {len(tensors)} tensors", file=sys.stderr)


if __name__ == "__main__":
    main()
