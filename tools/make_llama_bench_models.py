#!/usr/bin/env python3
"""Makes the files of the speed comparison with llama.cpp: a random RWKV-7 of the official 0.1B shape
(L12, C768, V65536, FFN 3072; tiny_rwkv7.py's value ranges) with the World vocabulary, converted to F32, F16
and BF16 GGUFs by `rwkv convert` (the layout llama.cpp's convert_hf_to_gguf.py writes: the a/v/g LoRAs F16,
w1/w2 and vectors F32), then the quantized types made from the F16 file by llama.cpp's own `llama-quantize`,
as the published RWKV-7 GGUFs are made.

  python3 tools/make_llama_bench_models.py --llama-quantize PATH/llama-quantize --out DIR \\
      [--vocab ../shared/models/rwkv_vocab_v20230424.txt] [--types Q4_0,Q4_K_M,Q5_K_M,Q6_K,Q5_1]

Writes DIR/rwkv7-0.1b-f32.gguf and DIR/rwkv7-0.1b-TYPE.gguf (about 2 GB in all). Needs numpy; the rwkv
binary from `swift build -c release`. Not used by the tests or CI.
"""
import argparse
import json
import pathlib
import subprocess
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_rwkv7 import make_state_dict  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name, array in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(len(encoded).to_bytes(8, "little"))
        f.write(encoded)
        for array in tensors.values():
            f.write(np.ascontiguousarray(array, dtype="<f4").tobytes())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-quantize", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--vocab", default=str(ROOT.parent / "shared/models/rwkv_vocab_v20230424.txt"))
    parser.add_argument("--rwkv", default=str(ROOT / ".build/release/rwkv"))
    parser.add_argument("--types", default="Q4_0,Q4_K_M,Q5_K_M,Q6_K,Q5_1")
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    f32 = out / "rwkv7-0.1b-f32.gguf"
    if not f32.exists():
        source = out / "rwkv7-0.1b-random.safetensors"
        write_safetensors(source, make_state_dict(seed=1, vocab=65536, embd=768, layers=12, ffn=3072, rank=64))
        subprocess.run([args.rwkv, "convert", str(source), str(f32), "--type", "f32", "--vocab", args.vocab], check=True)
        source.unlink()
    for type_name in ["f16", "bf16"]:
        target = out / f"rwkv7-0.1b-{type_name}.gguf"
        if not target.exists():
            subprocess.run([args.rwkv, "convert", str(f32), str(target), "--type", type_name], check=True)
    for type_name in args.types.split(","):
        target = out / f"rwkv7-0.1b-{type_name.lower()}.gguf"
        if not target.exists():
            subprocess.run([args.llama_quantize, str(out / "rwkv7-0.1b-f16.gguf"), str(target), type_name], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for path in sorted(out.glob("rwkv7-0.1b-*.gguf")):
        print(path, path.stat().st_size, file=sys.stderr)


if __name__ == "__main__":
    main()
