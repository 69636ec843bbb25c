#!/usr/bin/env python3
"""Makes the files of the speed comparison with llama.cpp: a random RWKV-7 of an official shape (0.1B: L12,
C768; 2.9B: L32, C2560; 7.2B: L32, C4096; V65536, FFN 4C, the released LoRA ranks; tiny_rwkv7.py's value
ranges) with the World vocabulary, converted to F32 (0.1B only), F16 and BF16 GGUFs by `rwkv convert` (the
layout llama.cpp's convert_hf_to_gguf.py writes: the a/v/g LoRAs F16, w1/w2 and vectors F32), then the
quantized types made from the F16 file by llama.cpp's own `llama-quantize`, as the published RWKV-7 GGUFs are
made. The random weights are written tensor by tensor (F16 for the large shapes), never whole in memory.

  python3 tools/make_llama_bench_models.py --llama-quantize PATH/llama-quantize --out DIR [--shape 0.1b|2.9b|7.2b] \\
      [--vocab ../shared/models/rwkv_vocab_v20230424.txt] [--types Q4_0,Q4_K_M,Q5_K_M,Q6_K,Q5_1] [--float-types f32,f16,bf16]

Writes DIR/rwkv7-SHAPE-TYPE.gguf (0.1B: about 2 GB in all; 2.9B: 6 GB for F16 plus each quantized file).
Needs numpy; the rwkv binary from `swift build -c release`. Not used by the tests or CI.
"""
import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_rwkv7 import state_dict_items  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


# layers, width, LoRA ranks (w, a, v, g) of the released checkpoints (RandomModel.swift has the same table).
SHAPES = {
    "0.1b": (12, 768, {"w": 64, "a": 64, "v": 32, "g": 128}),
    "2.9b": (32, 2560, {"w": 96, "a": 96, "v": 64, "g": 320}),
    "7.2b": (32, 4096, {"w": 128, "a": 128, "v": 96, "g": 480}),
}


def write_safetensors(path, items, dry_items):
    """Writes (name, array) pairs as safetensors; `dry_items` gives the same names, shapes and dtypes first,
    for the header."""
    header, offset = {}, 0
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}
    for name, array in dry_items:
        header[name] = {"dtype": names[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for name, array in items:
            assert header[name]["shape"] == list(array.shape)
            f.write(np.ascontiguousarray(array).tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-quantize", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocab", default=str(ROOT.parent / "shared/models/rwkv_vocab_v20230424.txt"))
    parser.add_argument("--rwkv", default=str(ROOT / ".build/release/rwkv"))
    parser.add_argument("--shape", default="0.1b", choices=sorted(SHAPES))
    parser.add_argument("--types", default="Q4_0,Q4_K_M,Q5_K_M,Q6_K,Q5_1")
    parser.add_argument("--float-types", default="f32,f16,bf16", help="made by rwkv convert from the source")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layers, embd, ranks = SHAPES[args.shape]
    stem = f"rwkv7-{args.shape}"
    float_types = args.float_types.split(",")
    # The F32 source of the small shape keeps its values exact; the large ones are written as F16.
    source_dtype = np.float32 if args.shape == "0.1b" else np.float16
    base = out / f"{stem}-{'f32' if source_dtype == np.float32 else 'f16'}.gguf"
    if not base.exists():
        source = out / f"{stem}-random.safetensors"
        kwargs = dict(seed=1, vocab=65536, embd=embd, layers=layers, ffn=4 * embd, ranks=ranks, dtype=source_dtype)
        write_safetensors(source, state_dict_items(**kwargs), state_dict_items(**kwargs, dry=True))
        subprocess.run([args.rwkv, "convert", str(source), str(base), "--type", base.stem.rsplit("-", 1)[1],
                        "--vocab", args.vocab], check=True)
        source.unlink()
    for type_name in float_types:
        target = out / f"{stem}-{type_name}.gguf"
        if not target.exists():
            subprocess.run([args.rwkv, "convert", str(base), str(target), "--type", type_name], check=True)
    for type_name in args.types.split(","):
        target = out / f"{stem}-{type_name.lower()}.gguf"
        if type_name and not target.exists():
            subprocess.run([args.llama_quantize, str(out / f"{stem}-f16.gguf"), str(target), type_name], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for path in sorted(out.glob(f"{stem}-*.gguf")):
        print(path, path.stat().st_size, file=sys.stderr)


if __name__ == "__main__":
    main()
