#!/usr/bin/env python3
"""Writes the byte-exact K-quant quantization fixtures used by the Swift tests.

gguf-py cannot quantize the K-quants, so the oracle is ggml itself: `ggml_quantize_chunk` from the
libggml-base that llama.cpp builds (what llama-quantize calls; with no importance matrix it runs
quantize_row_*_ref). Pass its path with --ggml, or install the `llama-cpp-python` PyPI package (which
builds llama.cpp from source and ships libggml-base next to its Python files). Never run by the tests or CI.

Output (Tests/TensorTests/Fixtures/quant/):
  superblocks.f32   float32 LE input, rows of 256 (edge cases + random rows of several distributions)
  TYPE.quant.bin    ggml_quantize_chunk(TYPE) of superblocks.f32, for q2_K, q3_K, q4_K, q5_K, q6_K
"""
import argparse
import ctypes
import pathlib
import sys

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/TensorTests/Fixtures/quant"
TYPES = {"q2_K": 10, "q3_K": 11, "q4_K": 12, "q5_K": 13, "q6_K": 14}   # ggml_type ids
BYTES = {"q2_K": 84, "q3_K": 110, "q4_K": 144, "q5_K": 176, "q6_K": 210}


def find_ggml(explicit):
    if explicit:
        return explicit
    try:
        import llama_cpp  # noqa: F401  (the package's lib folder holds libggml-base)
        lib = pathlib.Path(llama_cpp.__file__).parent / "lib"
        for name in ("libggml-base.so", "libggml-base.dylib"):
            if (lib / name).exists():
                return str(lib / name)
    except ImportError:
        pass
    sys.exit("gen_kquant_fixtures: pass --ggml PATH/libggml-base.so (or pip install llama-cpp-python)")


def edge_rows(rng):
    rows = []
    rows.append(np.zeros(256))                                          # all zero
    r = np.zeros(256); r[255] = 3.0; rows.append(r)                      # one value, last
    r = np.zeros(256); r[0] = -1e-3; rows.append(r)                      # one tiny negative
    rows.append(np.full(256, 0.7))                                       # constant positive
    rows.append(np.full(256, -0.7))                                      # constant negative
    rows.append(np.tile([1.0, -1.0], 128))                               # ±1
    rows.append(rng.normal(size=256) * 1e4)                              # huge
    rows.append(rng.normal(size=256) * 1e-6)                             # tiny: scales subnormal in f16
    rows.append(rng.normal(size=256) * 1e-9)                             # scales underflow to 0
    r = rng.normal(size=256); r[:128] = 0; rows.append(r)                # half the sub-blocks zero
    r = rng.normal(size=256); r[::16] = 0; rows.append(r)
    rows.append(np.abs(rng.normal(size=256)))                            # all positive (min > 0)
    rows.append(-np.abs(rng.normal(size=256)))                           # all negative
    r = rng.normal(size=256) * 0.02; r[37] = 1.5; rows.append(r)         # an outlier
    r = rng.normal(size=256) * 0.02; r[200] = -1.5; rows.append(r)
    rows.append(np.round(rng.normal(size=256) * 8) / 4)                  # a grid: ties
    rows.append(np.arange(256) / 255.0 - 0.5)                            # a ramp
    r = rng.normal(size=256); r[16:32] = 5.0; rows.append(r)             # one constant sub-block
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ggml", help="path of libggml-base.so")
    args = parser.parse_args()
    ggml = ctypes.CDLL(find_ggml(args.ggml))
    ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
    ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]

    rng = np.random.default_rng(2026)
    rows = edge_rows(rng)
    rows += [rng.normal(size=256) * s for s in rng.uniform(0.005, 3.0, size=20)]
    rows += [rng.standard_t(3, size=256) * 0.05 for _ in range(6)]       # heavy tails, like trained weights
    rows += [rng.uniform(-1, 1, size=256) * 0.06 for _ in range(6)]      # uniform, like the random models
    data = np.ascontiguousarray(np.concatenate(rows).astype("<f4"))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "superblocks.f32").write_bytes(data.tobytes())
    n_rows = len(rows)
    for name, type_id in TYPES.items():
        out = np.zeros(n_rows * BYTES[name], dtype=np.uint8)
        written = ggml.ggml_quantize_chunk(type_id, data.ctypes.data, out.ctypes.data, 0, n_rows, 256, None)
        assert written == out.size, (name, written, out.size)
        (OUT / f"{name}.quant.bin").write_bytes(out.tobytes())
    print(f"wrote {n_rows} super-blocks and {len(TYPES)} quantizations to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
