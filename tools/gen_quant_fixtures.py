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
  q4_1.bin, q5_0.bin, q5_1.bin   gguf.quants of blocks.f32
  TYPE.blocks, TYPE.dequant.f32  for every other block type a file can hold (Q4_1, Q5_0, Q5_1, IQ4_NL and
               the K-quants Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS): random block bytes whose f16 scale fields
               are finite (zero, negative, subnormal and huge among them), and gguf.quants.dequantize of them
"""
import pathlib
import sys

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, quants

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
    T = GGMLQuantizationType
    for name, qtype in (("q8_0", T.Q8_0), ("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0), ("q5_1", T.Q5_1)):
        packed = quants.quantize(data.reshape(-1, 32), qtype)
        (OUT / f"{name}.bin").write_bytes(packed.tobytes())

    # Dequantization of every other block type: random bytes, with the f16 scale fields (byte offsets)
    # set to finite values that cover the cases.
    scale_fields = {T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.IQ4_NL: [0], T.Q2_K: [80, 82], T.Q3_K: [108],
                    T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_XS: [0]}
    special_scales = [0.0, -0.5, 6.1e-5, 3.0e-7, 60000.0, -60000.0, 1.0, 0.001]
    block_rng = np.random.default_rng(7)
    for qtype, fields in scale_fields.items():
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        count = 12 if block_size == 256 else 48
        raw = block_rng.integers(0, 256, size=(count, type_size), dtype=np.uint8)
        for b in range(count):
            for f, offset in enumerate(fields):
                value = special_scales[(b + f) % len(special_scales)] if b < len(special_scales) else block_rng.normal() * 0.02
                raw[b, offset:offset + 2] = np.frombuffer(np.float16(value).tobytes(), dtype=np.uint8)
        name = qtype.name.lower().replace("_k", "_K")
        (OUT / f"{name}.blocks").write_bytes(raw.tobytes())
        values = quants.dequantize(raw, qtype).astype("<f4")
        assert values.size == count * block_size
        (OUT / f"{name}.dequant.f32").write_bytes(values.tobytes())

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
