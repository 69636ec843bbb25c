#!/usr/bin/env python3
"""Writes the byte-exact quantization fixtures used by the Swift tests.

The oracle is the `gguf` PyPI package (`gguf.quants`), whose numpy quantizers are bit-exact copies of
ggml's reference C quantizers. Needs numpy and gguf (`pip install gguf`); installs nothing itself.

Output (Tests/TensorTests/Fixtures/quant/):
  blocks.f32   float32 LE input, a whole number of 32-value blocks (random rows + edge cases)
  q8_0.bin     gguf.quants Q8_0 of blocks.f32
  q4_0.bin     gguf.quants Q4_0 of blocks.f32
  half.f32     float32 LE values for the f16/bf16 conversions (specials, ties, subnormals, overflow, NaN)
  f16.bin      numpy float16 bits of half.f32 (IEEE round-to-nearest-even)
  bf16.bin     gguf.quants BF16 bits of half.f32
"""
import pathlib
import sys

import numpy as np
from gguf import GGMLQuantizationType, quants

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/TensorTests/Fixtures/quant"


def edge_blocks():
    rng = np.random.default_rng(1234)
    blocks = []
    blocks.append(np.zeros(32))                                   # all zero
    b = rng.normal(size=32); b[7] = -9.0; blocks.append(b)         # largest magnitude negative
    b = rng.normal(size=32); b[20] = 9.0; blocks.append(b)         # largest magnitude positive
    b = rng.normal(size=32); b[3] = 5.0; b[9] = -5.0; blocks.append(b)   # tie for the max: first one wins
    b = rng.normal(size=32); b[3] = -5.0; b[9] = 5.0; blocks.append(b)
    blocks.append(np.array([127.0] + [k + 0.5 for k in range(-15, 16)]))  # Q8_0 exact .5 ties (d = 1)
    blocks.append(np.array([-8.0] + [k * 0.5 for k in range(-15, 16)]))   # Q4_0 exact .5 ties
    blocks.append(np.round(rng.normal(size=32) * 8) / 4)            # 0.25 grid, many ties
    blocks.append(np.tile([1.0, -1.0], 16))                         # ±1 alternating
    blocks.append(rng.normal(size=32) * 1e4)                        # huge
    blocks.append(rng.normal(size=32) * 6e4)                        # near f16's max scale
    blocks.append(rng.normal(size=32) * 1e-6)                       # tiny (d subnormal in f16)
    blocks.append(rng.normal(size=32) * 1e-9)                       # d underflows to 0 in f16
    b = np.zeros(32); b[31] = 3.0; blocks.append(b)                 # single non-zero, last
    b = np.zeros(32); b[0] = -1e-3; blocks.append(b)
    blocks.append(np.full(32, 0.7))                                 # constant positive
    blocks.append(np.full(32, -0.7))                                # constant negative
    return blocks


def main():
    rng = np.random.default_rng(42)
    random_rows = [rng.normal(size=32) * s for s in rng.uniform(0.01, 4.0, size=96)]
    data = np.concatenate(edge_blocks() + random_rows).astype(np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "blocks.f32").write_bytes(data.astype("<f4").tobytes())
    for name, qtype in (("q8_0", GGMLQuantizationType.Q8_0), ("q4_0", GGMLQuantizationType.Q4_0)):
        packed = quants.quantize(data.reshape(-1, 32), qtype)
        (OUT / f"{name}.bin").write_bytes(packed.tobytes())

    f16_max = np.float32(65504.0)
    specials = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 65504.0, 65519.99, 65520.0, 1e6, -1e6,
                float("inf"), float("-inf"), 6.1035156e-05, 6.0e-05, 5.96e-08, 2.98e-08, 2.99e-08, 1e-10,
                1.00048828125, 1.000732421875, 1.0009765625 + 2 ** -11, 2049.0, 2051.0, -2049.0,
                3.4e38, -3.4e38, 1.17549435e-38]
    ties = [np.float32(1 + k * 2 ** -10 + 2 ** -11) for k in range(16)]   # exact f16 ties
    bf_ties = [np.float32(1 + k * 2 ** -7 + 2 ** -8) for k in range(16)]   # exact bf16 ties
    randoms = list(rng.normal(size=200) * 100) + list(rng.normal(size=100) * 1e-5)
    half = np.array(specials + ties + bf_ties + randoms, dtype=np.float32)
    assert np.all(np.isfinite(half) | np.isinf(half)) and f16_max == 65504.0
    (OUT / "half.f32").write_bytes(half.astype("<f4").tobytes())
    (OUT / "f16.bin").write_bytes(half.astype("<f2").view("<u2").tobytes())
    bf16 = quants.quantize(half, GGMLQuantizationType.BF16)
    (OUT / "bf16.bin").write_bytes(np.asarray(bf16).tobytes())
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(data) // 32} blocks and {len(half)} half-precision values to {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
