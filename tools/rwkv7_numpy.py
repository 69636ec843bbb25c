"""A plain numpy RWKV-7 forward pass (float64), for fixtures where the official package cannot run: RWKV-7,
RWKV-7a (DeepEmbed in the FFN) and RWKV-7b (DeepEmbedAttention, BlinkDL's rwkv_v7b_demo.py written out on
the CPU). Sequence mode over the whole token list from the zero state, every position's logits out.
Also a minimal safetensors reader and writer (numpy only). Follows ../shared/spec/rwkv7.md."""
import json
import struct

import numpy as np

MIXES = ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g"]
DECAY_SCALE = 0.606531  # exp(-0.5), as the official CPU code
SOFT_CAP, SCORE_SCALE = 64.0, 1.0 / 1024.0


def layer_norm(x, w, b, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def shift(x, first):
    """Row t of the result is row t-1 of x; row 0 is `first`."""
    return np.concatenate([first[None, :], x[:-1]], axis=0)


def time_mix(z, p, x, v_first, n_head, head_size):
    """x: [T, C] (after ln1). Returns the time-mix output and v_first."""
    T, C = x.shape
    delta = shift(x, np.zeros(C)) - x
    xr, xw, xk, xv, xa, xg = (x + delta * z[p + "att." + m].reshape(-1) for m in MIXES)
    r = xr @ z[p + "att.receptance.weight"].T
    w = np.tanh(xw @ z[p + "att.w1"]) @ z[p + "att.w2"]
    k = xk @ z[p + "att.key.weight"].T
    v = xv @ z[p + "att.value.weight"].T
    a = sigmoid(z[p + "att.a0"].reshape(-1) + (xa @ z[p + "att.a1"]) @ z[p + "att.a2"])
    g = sigmoid(xg @ z[p + "att.g1"]) @ z[p + "att.g2"]
    kk = (k * z[p + "att.k_k"].reshape(-1)).reshape(T, n_head, head_size)
    kk = (kk / np.maximum(np.linalg.norm(kk, axis=-1, keepdims=True), 1e-12)).reshape(T, C)
    k = k * (1 + (a - 1) * z[p + "att.k_a"].reshape(-1))
    if v_first is None:
        v_first = v
    else:
        v = v + (v_first - v) * sigmoid(z[p + "att.v0"].reshape(-1) + (xv @ z[p + "att.v1"]) @ z[p + "att.v2"])
    decay = np.exp(-DECAY_SCALE * sigmoid(z[p + "att.w0"].reshape(-1) + w))
    state = np.zeros((n_head, head_size, head_size))  # [h, value i, key j]
    y = np.zeros((T, C))
    for t in range(T):
        hv = lambda u: u[t].reshape(n_head, head_size)  # noqa: E731
        r_, w_, k_, v_, a_, b_ = hv(r), hv(decay), hv(k), hv(v), hv(-kk), hv(kk * a)
        sa = np.einsum("hij,hj->hi", state, a_)
        state = state * w_[:, None, :] + sa[:, :, None] * b_[:, None, :] + v_[:, :, None] * k_[:, None, :]
        y[t] = np.einsum("hij,hj->hi", state, r_).reshape(C)
    yg = y.reshape(T, n_head, head_size)
    mean = yg.mean(axis=-1, keepdims=True)
    var = ((yg - mean) ** 2).mean(axis=-1, keepdims=True)
    y = ((yg - mean) / np.sqrt(var + 64e-5)).reshape(T, C) * z[p + "att.ln_x.weight"] + z[p + "att.ln_x.bias"]
    bonus = (r * k * z[p + "att.r_k"].reshape(-1)).reshape(T, n_head, head_size).sum(-1, keepdims=True)
    y = y + (bonus * v.reshape(T, n_head, head_size)).reshape(T, C)
    return (y * g) @ z[p + "att.output.weight"].T, v_first


def channel_mix(z, p, x, idx, emb):
    """x: [T, C] (after ln2); DeepEmbed when the layer has ffn.s1 (s_emb merged per token)."""
    T, C = x.shape
    delta = shift(x, np.zeros(C)) - x
    k = x + delta * z[p + "ffn.x_k"].reshape(-1)
    k = np.maximum(k @ z[p + "ffn.key.weight"].T, 0) ** 2
    if p + "ffn.s1" in z:
        semb = z[p + "ffn.s_emb.weight"][idx] + emb[idx] @ z[p + "ffn.s_emb_x.weight"].T
        rank = z[p + "ffn.s1"].shape[1]
        ss = np.einsum("td,tdq->tq", x @ z[p + "ffn.s1"], semb.reshape(T, rank, 32))
        k = k * (ss @ z[p + "ffn.s2"] + z[p + "ffn.s0"].reshape(-1))
    return k @ z[p + "ffn.value.weight"].T


def dea_attention(z, p, x_in, idx, emb):
    """DeepEmbedAttention over the whole sequence (x_in: the block input before ln1), causal."""
    T, C = x_in.shape
    q = x_in @ z[p + "qkv.qq.weight"].T
    k_emb = z[p + "qkv.k_emb.weight"][idx] + emb[idx] @ z[p + "qkv.k_emb_x.weight"].T
    v_emb = z[p + "qkv.v_emb.weight"][idx] + emb[idx] @ z[p + "qkv.v_emb_x.weight"].T
    k = ((x_in @ z[p + "qkv.k1"]) @ z[p + "qkv.k2"]) * k_emb
    v = np.tanh((x_in @ z[p + "qkv.v1"]) @ z[p + "qkv.v2"]) * v_emb
    q = q + (shift(q, np.zeros(q.shape[1])) - q) * z[p + "qkv.x_q"].reshape(-1)
    k = k + (shift(k, np.zeros(k.shape[1])) - k) * z[p + "qkv.x_k"].reshape(-1)
    v = v + (shift(v, np.zeros(C)) - v) * z[p + "qkv.x_v"].reshape(-1)
    q = layer_norm(q, z[p + "qkv.lnq.weight"], z[p + "qkv.lnq.bias"])
    k = layer_norm(k, z[p + "qkv.lnk.weight"], z[p + "qkv.lnk.bias"])
    v = layer_norm(v, z[p + "qkv.lnv.weight"], z[p + "qkv.lnv.bias"])
    scores = SOFT_CAP * np.tanh((q @ k.T) * SCORE_SCALE)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (scores / scores.sum(axis=-1, keepdims=True)) @ v


def forward(sd, idx):
    """Logits [T, V] for token list idx from the zero state (sd: official names, any float dtype)."""
    z = {k: np.asarray(v, dtype=np.float64) for k, v in sd.items()}
    n_head, head_size = z["blocks.0.att.r_k"].shape
    layers = 1 + max(int(k.split(".")[1]) for k in z if k.startswith("blocks."))
    emb = layer_norm(z["emb.weight"], z["blocks.0.ln0.weight"], z["blocks.0.ln0.bias"])
    x = emb[idx]
    v_first = None
    for i in range(layers):
        p = f"blocks.{i}."
        x_in = x
        tm, v_first = time_mix(z, p, layer_norm(x, z[p + "ln1.weight"], z[p + "ln1.bias"]), v_first, n_head, head_size)
        x = x + tm
        if p + "qkv.qq.weight" in z:
            x = x + dea_attention(z, p, x_in, idx, emb)
        x = x + channel_mix(z, p, layer_norm(x, z[p + "ln2.weight"], z[p + "ln2.bias"]), idx, emb)
    x = layer_norm(x, z["ln_out.weight"], z["ln_out.bias"])
    return x @ z["head.weight"].T


DTYPES = {"F16": np.float16, "F32": np.float32, "I32": np.int32, "F64": np.float64}


def save_safetensors(path, tensors):
    """Writes name -> ndarray (F16, F32, I32) as a safetensors file."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        dtype = next(k for k, v in DTYPES.items() if v == array.dtype.type)
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        blobs.append(array.tobytes())
        offset += array.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load_safetensors(path):
    data = open(path, "rb").read()
    size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + size])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + size + lo:8 + size + hi], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out
