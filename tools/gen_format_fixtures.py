#!/usr/bin/env python3
"""Writes the model-file fixtures for Tests/ModelFilesTests (small: a 2-layer, n_embd 128 random RWKV-7).

Needs numpy, gguf, safetensors and torch from PyPI; installs nothing itself.

  tiny.pth              the random model, official names and shapes, f32 (torch.save)
  tiny.safetensors      the same, safetensors (numpy writer)
  tiny-f32.gguf         the same model as llama.cpp's rwkv7 GGUF, written by gguf-py with its names and
                        layouts computed here independently (transposed LoRAs, fused mixes, flat r_k,
                        layer-0 dummy v0/v1/v2) and the metadata rwkv-swift writes, in the same order
  tiny-q8_0.gguf        tiny-f32.gguf with the quantizable set quantized by gguf.quants (Q8_0)
  tiny-q4_0.gguf        the same with Q4_0 (head Q8_0, our documented stand-in for llama.cpp's Q6_K)
  mixed.pth             a few tensors exercising the reader: f16, bf16, f32, an nn.Parameter, two views
                        of one storage, a 0-d tensor
  strided.pth           a transposed (non-contiguous) tensor, which the reader must refuse
  values.gguf           one metadata key of every GGUF value type (with nested arrays) and three tensors
"""
import pathlib
import sys
from collections import OrderedDict

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter, quants
from safetensors.numpy import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_rwkv7 import add_rwkv7_metadata, gguf_tensors, is_quantizable, make_state_dict  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/ModelFilesTests/Fixtures"
VOCAB, EMBD, LAYERS, FFN, RANK = 64, 128, 2, 128, 32


def write_rwkv_gguf(path, name, tensors, file_type):
    w = GGUFWriter(str(path), "rwkv7")
    add_rwkv7_metadata(w, name, EMBD, LAYERS, FFN, RANK, file_type)
    for tname, (array, qtype) in tensors.items():
        if qtype is None:
            w.add_tensor(tname, array)
        else:
            w.add_tensor(tname, quants.quantize(array, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    sd = make_state_dict(seed=7, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN, rank=RANK)
    torch.save(OrderedDict((k, torch.from_numpy(v)) for k, v in sd.items()), OUT / "tiny.pth")
    save_file(dict(sd), str(OUT / "tiny.safetensors"), metadata={"format": "pt"})

    g = gguf_tensors(sd, LAYERS)
    write_rwkv_gguf(OUT / "tiny-f32.gguf", "tiny-f32", {k: (v, None) for k, v in g.items()}, 0)
    for qname, qtype, file_type in [("q8_0", GGMLQuantizationType.Q8_0, 7), ("q4_0", GGMLQuantizationType.Q4_0, 2)]:
        chosen = OrderedDict()
        for k, v in g.items():
            t = qtype if is_quantizable(k) else None
            if t == GGMLQuantizationType.Q4_0 and k == "output.weight":
                t = GGMLQuantizationType.Q8_0
            chosen[k] = (v, t)
        write_rwkv_gguf(OUT / f"tiny-{qname}.gguf", f"tiny-{qname}", chosen, file_type)

    # Reader exercise: dtypes, a Parameter, shared storage, a 0-d tensor.
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    mixed = OrderedDict()
    mixed["half"] = torch.linspace(-2, 2, 10).to(torch.float16)
    mixed["bfloat"] = torch.linspace(-3, 3, 12).reshape(3, 4).to(torch.bfloat16)
    mixed["param"] = torch.nn.Parameter(torch.ones(2, 3) * 0.5)
    mixed["view_a"] = base[1]           # shares storage with view_b, offset 6
    mixed["view_b"] = base[2:4]         # offset 12, shape (2, 6)
    mixed["scalar"] = torch.tensor(3.25)
    torch.save(mixed, OUT / "mixed.pth")
    torch.save(OrderedDict(t=torch.arange(6, dtype=torch.float32).reshape(2, 3).t()), OUT / "strided.pth")

    w = GGUFWriter(str(OUT / "values.gguf"), "test")
    w.add_uint8("v.u8", 200)
    w.add_int8("v.i8", -100)
    w.add_uint16("v.u16", 60000)
    w.add_int16("v.i16", -30000)
    w.add_uint32("v.u32", 4000000000)
    w.add_int32("v.i32", -2000000000)
    w.add_float32("v.f32", 1.5)
    w.add_bool("v.bool", True)
    w.add_string("v.string", "héllo")
    w.add_uint64("v.u64", 2 ** 63 + 5)
    w.add_int64("v.i64", -(2 ** 62))
    w.add_float64("v.f64", -2.25)
    w.add_array("v.array", [1, 2, 3])
    w.add_key_value("v.nested", [[1, 2], [3]], GGUFValueType.ARRAY, sub_type=GGUFValueType.ARRAY)
    w.add_array("v.strings", ["a", "bc", ""])
    w.add_tensor("t.f32", np.arange(8, dtype=np.float32).reshape(2, 4))
    w.add_tensor("t.f16", np.linspace(-1, 1, 6).astype(np.float16))
    row = np.linspace(-1, 1, 64, dtype=np.float32).reshape(2, 32)
    w.add_tensor("t.q8_0", quants.quantize(row, GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} fixtures to {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
