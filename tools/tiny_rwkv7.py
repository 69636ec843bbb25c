"""A random RWKV-7 state dict in the official layout (names and torch shapes of BlinkDL's checkpoints),
with values that keep activations in a realistic range. numpy only; shared by the fixture scripts."""
from collections import OrderedDict

import numpy as np

MIXES = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"]


def add_deep_embed(sd, seed, vocab, embd, layers, ffn, rank=32):
    """Adds RWKV-7a DeepEmbed tensors (blocks.N.ffn.s_emb/s_emb_x/s1/s2/s0) to a state dict."""
    rng = np.random.default_rng(seed)
    for i in range(layers):
        p = f"blocks.{i}.ffn."
        sd[p + "s_emb.weight"] = (rng.standard_normal((vocab, rank * 32)) * 0.3).astype(np.float32)
        sd[p + "s_emb_x.weight"] = (rng.standard_normal((rank * 32, embd)) * 0.05).astype(np.float32)
        sd[p + "s1"] = (rng.standard_normal((embd, rank)) * 0.1).astype(np.float32)
        sd[p + "s2"] = (rng.standard_normal((32, ffn)) * 0.1).astype(np.float32)
        sd[p + "s0"] = (1 + rng.standard_normal((1, 1, ffn)) * 0.1).astype(np.float32)
    return sd


def add_deep_embed_attention(sd, seed, vocab, embd, layers, key_size=256, rank=32):
    """Adds RWKV-7b DeepEmbedAttention tensors (blocks.N.qkv.*, the shapes of rwkv_v7b_demo.py) to a state
    dict that already has DeepEmbed (add_deep_embed)."""
    rng = np.random.default_rng(seed)
    for i in range(layers):
        p = f"blocks.{i}.qkv."
        sd[p + "qq.weight"] = (rng.standard_normal((key_size, embd)) * embd ** -0.5).astype(np.float32)
        sd[p + "k1"] = (rng.standard_normal((embd, rank)) * 0.3).astype(np.float32)
        sd[p + "k2"] = (rng.standard_normal((rank, key_size)) * 0.3).astype(np.float32)
        sd[p + "k_emb.weight"] = (1 + rng.standard_normal((vocab, key_size)) * 0.3).astype(np.float32)
        sd[p + "k_emb_x.weight"] = (rng.standard_normal((key_size, embd)) * 0.05).astype(np.float32)
        sd[p + "v1"] = (rng.standard_normal((embd, rank)) * 0.3).astype(np.float32)
        sd[p + "v2"] = (rng.standard_normal((rank, embd)) * 0.3).astype(np.float32)
        sd[p + "v_emb.weight"] = (1 + rng.standard_normal((vocab, embd)) * 0.3).astype(np.float32)
        sd[p + "v_emb_x.weight"] = (rng.standard_normal((embd, embd)) * 0.05).astype(np.float32)
        for name, size in [("x_q", key_size), ("x_k", key_size), ("x_v", embd)]:
            sd[p + name] = rng.uniform(0.0, 1.0, (1, 1, size)).astype(np.float32)
        for name, size, lo, hi in [("lnq", key_size, 0.8, 1.2), ("lnk", key_size, 0.8, 1.2), ("lnv", embd, 0.1, 0.3)]:
            sd[p + name + ".weight"] = rng.uniform(lo, hi, (size,)).astype(np.float32)
            sd[p + name + ".bias"] = (rng.standard_normal((size,)) * 0.05).astype(np.float32)
    return sd


def make_state_dict(seed, vocab, embd, layers, ffn, rank=32, head_size=64, layer0_value_lora=True, ranks=None):
    """OrderedDict name -> float32 ndarray, official shapes; keys in training-code registration order."""
    return OrderedDict(state_dict_items(seed, vocab, embd, layers, ffn, rank, head_size, layer0_value_lora, ranks))


def state_dict_items(seed, vocab, embd, layers, ffn, rank=32, head_size=64, layer0_value_lora=True, ranks=None,
                     dtype=np.float32, dry=False):
    """make_state_dict's (name, ndarray) pairs one at a time, so a large model is never whole in memory.
    `ranks` maps "w", "a", "v", "g" to a LoRA rank (else `rank`); `dry` yields zero-cost arrays of the right
    shapes and dtype (for a file header written before the data)."""
    rng = np.random.default_rng(seed)
    c, h = embd, embd // head_size
    ranks = {key: (ranks or {}).get(key, rank) for key in "wavg"}

    def normal(shape, scale):
        if dry:
            return np.broadcast_to(dtype(0), shape)
        return (rng.standard_normal(shape) * scale).astype(dtype)

    def uniform(shape, lo, hi):
        if dry:
            return np.broadcast_to(dtype(0), shape)
        return rng.uniform(lo, hi, shape).astype(dtype)

    yield "emb.weight", normal((vocab, c), 1.0)
    for i in range(layers):
        p = f"blocks.{i}."
        if i == 0:
            yield p + "ln0.weight", uniform((c,), 0.8, 1.2)
            yield p + "ln0.bias", normal((c,), 0.1)
        yield p + "ln1.weight", uniform((c,), 0.8, 1.2)
        yield p + "ln1.bias", normal((c,), 0.1)
        yield p + "ln2.weight", uniform((c,), 0.8, 1.2)
        yield p + "ln2.bias", normal((c,), 0.1)
        for m in MIXES:
            yield p + "att." + m, uniform((1, 1, c), 0.0, 1.0)
        yield p + "att.w0", uniform((1, 1, c), -3.0, 0.5)
        yield p + "att.w1", normal((c, ranks["w"]), 0.1)
        yield p + "att.w2", normal((ranks["w"], c), 0.1)
        yield p + "att.a0", normal((1, 1, c), 0.5)
        yield p + "att.a1", normal((c, ranks["a"]), 0.1)
        yield p + "att.a2", normal((ranks["a"], c), 0.1)
        if i > 0 or layer0_value_lora:
            yield p + "att.v0", normal((1, 1, c), 0.5)
            yield p + "att.v1", normal((c, ranks["v"]), 0.1)
            yield p + "att.v2", normal((ranks["v"], c), 0.1)
        yield p + "att.g1", normal((c, ranks["g"]), 0.1)
        yield p + "att.g2", normal((ranks["g"], c), 0.1)
        yield p + "att.k_k", uniform((1, 1, c), 0.5, 1.0)
        yield p + "att.k_a", uniform((1, 1, c), 0.5, 1.5)
        yield p + "att.r_k", normal((h, head_size), 0.3)
        for proj in ["receptance", "key", "value", "output"]:
            yield p + f"att.{proj}.weight", normal((c, c), c ** -0.5)
        yield p + "att.ln_x.weight", uniform((c,), 0.5, 1.5)
        yield p + "att.ln_x.bias", normal((c,), 0.1)
        yield p + "ffn.x_k", uniform((1, 1, c), 0.0, 1.0)
        yield p + "ffn.key.weight", normal((ffn, c), c ** -0.5)
        yield p + "ffn.value.weight", normal((c, ffn), ffn ** -0.5 * 0.5)
    yield "ln_out.weight", uniform((c,), 0.8, 1.2)
    yield "ln_out.bias", normal((c,), 0.1)
    yield "head.weight", normal((vocab, c), c ** -0.5 * 2)


LAYER_MAP = {
    "ln1.weight": "attn_norm.weight", "ln1.bias": "attn_norm.bias",
    "ln2.weight": "attn_norm_2.weight", "ln2.bias": "attn_norm_2.bias",
    "att.w0": "time_mix_w0.weight", "att.w1": "time_mix_w1.weight", "att.w2": "time_mix_w2.weight",
    "att.a0": "time_mix_a0.weight", "att.a1": "time_mix_a1.weight", "att.a2": "time_mix_a2.weight",
    "att.v0": "time_mix_v0.weight", "att.v1": "time_mix_v1.weight", "att.v2": "time_mix_v2.weight",
    "att.g1": "time_mix_g1.weight", "att.g2": "time_mix_g2.weight",
    "att.k_k": "time_mix_k_k.weight", "att.k_a": "time_mix_k_a.weight", "att.r_k": "time_mix_r_k.weight",
    "att.receptance.weight": "time_mix_receptance.weight", "att.key.weight": "time_mix_key.weight",
    "att.value.weight": "time_mix_value.weight", "att.output.weight": "time_mix_output.weight",
    "att.ln_x.weight": "time_mix_ln.weight", "att.ln_x.bias": "time_mix_ln.bias",
    "ffn.x_k": "channel_mix_lerp_k.weight", "ffn.key.weight": "channel_mix_key.weight",
    "ffn.value.weight": "channel_mix_value.weight",
}
TRANSPOSED = {"att.w1", "att.w2", "att.a1", "att.a2", "att.v1", "att.v2", "att.g1", "att.g2"}


def gguf_tensors(sd, layers):
    """The same model as llama.cpp's rwkv7 GGUF tensors (numpy arrays in GGUF memory layout), in
    llama.cpp's order, with layer 0's dummy v0/v1/v2 = copies of a0/a1/a2."""
    out = OrderedDict()
    out["token_embd.weight"] = sd["emb.weight"]
    out["token_embd_norm.weight"] = sd["blocks.0.ln0.weight"]
    out["token_embd_norm.bias"] = sd["blocks.0.ln0.bias"]
    for i in range(layers):
        p, q = f"blocks.{i}.", f"blk.{i}."

        def put(name):
            value = sd[p + name]
            value = np.ascontiguousarray(value.T) if name in TRANSPOSED else value.reshape(-1) if value.size == value.shape[-1] or name == "att.r_k" else value
            out[q + LAYER_MAP[name]] = value

        for name in ["ln1.weight", "ln1.bias", "ln2.weight", "ln2.bias"]:
            put(name)
        out[q + "time_mix_lerp_fused.weight"] = np.stack([sd[p + "att." + m].reshape(-1) for m in MIXES]).reshape(6, 1, 1, -1)
        for name in ["att.w0", "att.w1", "att.w2", "att.a0", "att.a1", "att.a2"]:
            put(name)
        if i == 0:
            out[q + "time_mix_v0.weight"] = out[q + "time_mix_a0.weight"]
            out[q + "time_mix_v1.weight"] = out[q + "time_mix_a1.weight"]
            out[q + "time_mix_v2.weight"] = out[q + "time_mix_a2.weight"]
        else:
            for name in ["att.v0", "att.v1", "att.v2"]:
                put(name)
        for name in ["att.g1", "att.g2", "att.k_k", "att.k_a", "att.r_k", "att.receptance.weight", "att.key.weight",
                     "att.value.weight", "att.output.weight", "att.ln_x.weight", "att.ln_x.bias", "ffn.x_k",
                     "ffn.key.weight", "ffn.value.weight"]:
            put(name)
    out["output_norm.weight"] = sd["ln_out.weight"]
    out["output_norm.bias"] = sd["ln_out.bias"]
    out["output.weight"] = sd["head.weight"]
    return out


QUANTIZABLE_SUFFIXES = ("time_mix_receptance.weight", "time_mix_key.weight", "time_mix_value.weight",
                        "time_mix_output.weight", "channel_mix_key.weight", "channel_mix_value.weight")


def is_quantizable(name):
    return name in ("token_embd.weight", "output.weight") or name.endswith(QUANTIZABLE_SUFFIXES)


def add_rwkv7_metadata(writer, name, embd, layers, ffn, rank, file_type):
    """llama.cpp's rwkv7 GGUF metadata for a model of this shape (head size 64, one LoRA rank), in the order
    llama.cpp's converter writes it."""
    writer.add_string("general.name", name)
    for key, value in [("rwkv7.context_length", 1048576), ("rwkv7.embedding_length", embd), ("rwkv7.block_count", layers)]:
        writer.add_uint32(key, value)
    writer.add_float32("rwkv7.attention.layer_norm_epsilon", 1e-5)
    for key, value in [("rwkv7.wkv.head_size", 64), ("rwkv7.attention.decay_lora_rank", rank),
                       ("rwkv7.attention.iclr_lora_rank", rank), ("rwkv7.attention.value_residual_mix_lora_rank", rank),
                       ("rwkv7.attention.gate_lora_rank", rank), ("rwkv7.feed_forward_length", ffn),
                       ("rwkv7.attention.head_count", 0), ("rwkv7.token_shift_count", 2),
                       ("general.file_type", file_type), ("general.quantization_version", 2)]:
        writer.add_uint32(key, value)
