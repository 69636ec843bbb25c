#!/usr/bin/env python3
"""Writes the llama-quantize fixtures: what llama.cpp's own quantizer makes of a small rwkv7 GGUF.

A random RWKV-7 (tiny_rwkv7.py; n_embd 256 so the K-quants apply, 1 layer, FFN 256, vocabulary 256) is written
as an F32 GGUF with gguf-py, then `llama-quantize` (built from the llama.cpp source the `llama_cpp_python`
sdist vendors, see DEVELOPERS.md) makes every file type from llama-quantize's F16 of it. Needs numpy and
gguf from PyPI and the llama-quantize binary; never run by the tests or CI.

  python3 tools/gen_llama_quantize_fixtures.py --llama-quantize PATH/llama-quantize

Output (Tests/RWKVGraphTests/Fixtures/llama-quantize/):
  source-f16.gguf   llama-quantize F16 of the random model: the input of every other file
  q4_k_m.gguf       llama-quantize Q4_K_M of source-f16.gguf, as a real file to load
  iq4_xs.gguf       llama-quantize IQ4_XS of it with the attention's key and value in IQ4_NL: the IQ4 types,
                    which `rwkv quantize` does not make, as a real file to load
  tensors.tsv       for every file type made: recipe, options, tensor, ggml type, FNV-1a-64 of its bytes
"""
import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGUFReader, GGUFWriter

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_rwkv7 import add_rwkv7_metadata, gguf_tensors, make_state_dict  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/RWKVGraphTests/Fixtures/llama-quantize"
VOCAB, EMBD, LAYERS, FFN, RANK = 256, 256, 1, 256, 32

# (name in tensors.tsv, llama-quantize type argument, extra options)
RECIPES = [
    ("bf16", "BF16", []), ("q8_0", "Q8_0", []), ("q4_0", "Q4_0", []), ("q4_1", "Q4_1", []), ("q5_0", "Q5_0", []),
    ("q5_1", "Q5_1", []), ("q2_k", "Q2_K", []), ("q3_k_s", "Q3_K_S", []), ("q3_k_m", "Q3_K_M", []),
    ("q3_k_l", "Q3_K_L", []), ("q4_k_s", "Q4_K_S", []), ("q4_k_m", "Q4_K_M", []), ("q5_k_s", "Q5_K_S", []),
    ("q5_k_m", "Q5_K_M", []), ("q6_k", "Q6_K", []),
    ("q4_0", "Q4_0", ["--pure"]),
    ("q4_k_m", "Q4_K_M", ["--tensor-type", "time_mix_key=q5_k", "--tensor-type", "output=q8_0"]),
    ("iq4_xs", "IQ4_XS", ["--tensor-type", "time_mix_key=iq4_nl", "--tensor-type", "time_mix_value=iq4_nl"]),
]
# The recipes whose files are kept as fixtures (with their options).
KEPT = {("q4_k_m", ()): "q4_k_m.gguf", ("iq4_xs", ("--tensor-type", "time_mix_key=iq4_nl", "--tensor-type", "time_mix_value=iq4_nl")): "iq4_xs.gguf"}


def write_f32(path):
    sd = make_state_dict(seed=11, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN, rank=RANK)
    w = GGUFWriter(str(path), "rwkv7")
    add_rwkv7_metadata(w, "llama-quantize-fixture", EMBD, LAYERS, FFN, RANK, file_type=0)
    for name, array in gguf_tensors(sd, LAYERS).items():
        w.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def tensor_rows(path):
    reader = GGUFReader(str(path))
    return [(t.name, t.tensor_type.name.lower().replace("_k", "_K"), fnv1a64(t.data.tobytes())) for t in reader.tensors]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-quantize", required=True, help="path of the llama-quantize binary")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    def quantize(source, target, type_name, options):
        subprocess.run([args.llama_quantize, *options, str(source), str(target), type_name], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    with tempfile.TemporaryDirectory() as scratch:
        f32 = pathlib.Path(scratch) / "f32.gguf"
        write_f32(f32)
        source = OUT / "source-f16.gguf"
        quantize(f32, source, "F16", [])
        lines = ["recipe\toptions\ttensor\ttype\tfnv1a64"]
        lines += [f"f16\t\t{n}\t{t}\t{h}" for n, t, h in tensor_rows(source)]
        for name, type_name, options in RECIPES:
            target = pathlib.Path(scratch) / f"{name}.gguf"
            quantize(source, target, type_name, options)
            lines += [f"{name}\t{' '.join(options)}\t{n}\t{t}\t{h}" for n, t, h in tensor_rows(target)]
            if (name, tuple(options)) in KEPT:
                (OUT / KEPT[(name, tuple(options))]).write_bytes(target.read_bytes())
    (OUT / "tensors.tsv").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(RECIPES) + 1} files' tensors to {OUT / 'tensors.tsv'}", file=sys.stderr)


if __name__ == "__main__":
    main()
