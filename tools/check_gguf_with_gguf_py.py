#!/usr/bin/env python3
"""Reads GGUF files with gguf-py (an independent reader) and checks what llama.cpp's rwkv7 loader needs:
the architecture, the required hyperparameter keys, every tensor's name, shape and type, and that the
tensor data lies inside the file. Usage: check_gguf_with_gguf_py.py FILE.gguf [...]. Needs gguf, numpy."""
import sys

from gguf import GGUFReader

REQUIRED = ["rwkv7.context_length", "rwkv7.embedding_length", "rwkv7.block_count", "rwkv7.feed_forward_length",
            "rwkv7.attention.head_count", "rwkv7.wkv.head_size", "rwkv7.attention.decay_lora_rank",
            "rwkv7.attention.iclr_lora_rank", "rwkv7.attention.value_residual_mix_lora_rank"]


def value(reader, key):
    field = reader.fields[key]
    return field.parts[field.data[0]].tolist()[0] if field.types[0].name != "STRING" else bytes(field.parts[field.data[0]]).decode()


def check(path):
    r = GGUFReader(path)
    assert value(r, "general.architecture") == "rwkv7", "architecture"
    for key in REQUIRED:
        assert key in r.fields, f"missing {key}"
    c, layers = value(r, "rwkv7.embedding_length"), value(r, "rwkv7.block_count")
    names = {t.name: t for t in r.tensors}
    expected = ["token_embd.weight", "token_embd_norm.weight", "output_norm.weight", "output.weight"]
    for i in range(layers):
        expected += [f"blk.{i}.{n}" for n in ("attn_norm.weight", "time_mix_lerp_fused.weight", "time_mix_w1.weight",
                                              "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_r_k.weight",
                                              "time_mix_key.weight", "channel_mix_key.weight", "channel_mix_value.weight")]
    for name in expected:
        assert name in names, f"missing tensor {name}"
    assert list(names["token_embd.weight"].shape)[0] == c
    assert list(names["blk.0.time_mix_lerp_fused.weight"].shape) == [c, 1, 1, 6]
    for t in r.tensors:
        assert t.data_offset + t.n_bytes <= len(r.data), f"{t.name} data outside the file"
    print(f"{path}: gguf-py reads {len(r.tensors)} tensors, {len(r.fields)} keys; rwkv7 layout OK "
          f"(C={c}, L={layers}, types {sorted({t.tensor_type.name for t in r.tensors})})")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        check(p)
