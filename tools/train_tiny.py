#!/usr/bin/env python3
"""Trains rwkv-swift's own small RWKV-7 (x070) on the project's story corpus, on the CPU, seeded.

Our compact training implementation of the x070 math (spec: RWKV-7 forward pass), with the tensor names and
shapes of official checkpoints, so the result loads in the official `rwkv` package and in rwkv-swift.
Byte-level vocabulary (V = 256, token = byte). Needs torch and numpy from PyPI (and, for the reference
logits, rwkv and safetensors); installs nothing itself.

  python3 tools/train_tiny.py [--steps 1500] [--out models/]

Writes (in --out): rwkv7-tiny-stories.pth (not committed; `rwkv convert` turns it into the committed GGUF),
training-log.txt, loss.png, and reference logits of the official package on the trained model
(rwkv7-tiny-stories.logits.safetensors).
"""
import argparse
import math
import os
import pathlib
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_stories_corpus import corpus  # noqa: E402

V, C, L, N, FFN, RANK = 256, 128, 4, 64, 512, 32
H = C // N


class Block(nn.Module):
    def __init__(self, i):
        super().__init__()
        self.i = i
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        ramp = torch.arange(C) / (C - 1)
        r1 = 1 - i / L
        for name, power in [("x_r", 0.2), ("x_w", 0.9), ("x_k", 0.7), ("x_v", 0.7), ("x_a", 0.9), ("x_g", 0.2)]:
            setattr(self, name, nn.Parameter((1 - ramp ** (power * r1)).view(1, 1, C)))
        self.w0 = nn.Parameter((-6 + 5 * ramp ** (0.85 + i / L)).view(1, 1, C) + 0.5)
        self.w1, self.w2 = nn.Parameter(torch.zeros(C, RANK)), nn.Parameter(torch.randn(RANK, C) * 0.1)
        self.a0 = nn.Parameter(torch.zeros(1, 1, C))
        self.a1, self.a2 = nn.Parameter(torch.zeros(C, RANK)), nn.Parameter(torch.randn(RANK, C) * 0.1)
        if i > 0:
            self.v0 = nn.Parameter(torch.ones(1, 1, C))
            self.v1, self.v2 = nn.Parameter(torch.zeros(C, RANK)), nn.Parameter(torch.randn(RANK, C) * 0.1)
        self.g1, self.g2 = nn.Parameter(torch.zeros(C, RANK)), nn.Parameter(torch.randn(RANK, C) * 0.1)
        self.k_k = nn.Parameter(torch.full((1, 1, C), 0.85))
        self.k_a = nn.Parameter(torch.ones(1, 1, C))
        self.r_k = nn.Parameter(torch.full((H, N), -0.04))
        self.receptance, self.key, self.value, self.output = (nn.Linear(C, C, bias=False) for _ in range(4))
        nn.init.zeros_(self.output.weight)
        self.ln_x = nn.GroupNorm(H, C, eps=64e-5)
        self.ffn_x_k = nn.Parameter((1 - ramp ** (r1 ** 4)).view(1, 1, C))
        self.ffn_key, self.ffn_value = nn.Linear(C, FFN, bias=False), nn.Linear(FFN, C, bias=False)
        nn.init.zeros_(self.ffn_value.weight)

    def forward(self, x, v_first):
        B, T, _ = x.shape
        xa = self.ln1(x)
        d = F.pad(xa, (0, 0, 1, -1)) - xa
        xr, xw, xk, xv, xaa, xg = (xa + d * m for m in (self.x_r, self.x_w, self.x_k, self.x_v, self.x_a, self.x_g))
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        w = self.w0 + torch.tanh(xw @ self.w1) @ self.w2
        a = torch.sigmoid(self.a0 + (xaa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).view(B, T, H, N), dim=-1, p=2.0).view(B, T, C)
        k = k * (1 + (a - 1) * self.k_a)
        if self.i == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        decay = torch.exp(-0.606531 * torch.sigmoid(w))
        y = wkv(r, decay, k, v, -kk, kk * a)
        y = self.ln_x(y.view(B * T, C)).view(B, T, C)
        y = y + ((r * k * self.r_k.view(C)).view(B, T, H, N).sum(-1, keepdim=True) * v.view(B, T, H, N)).view(B, T, C)
        x = x + self.output(y * g)
        xf = self.ln2(x)
        kf = xf + (F.pad(xf, (0, 0, 1, -1)) - xf) * self.ffn_x_k
        x = x + self.ffn_value(torch.relu(self.ffn_key(kf)) ** 2)
        return x, v_first


def wkv(r, w, k, v, a, b):
    """S ← S·diag(w) + (S·a)·bᵀ + v·kᵀ; y = S·r, per head, token by token (row i = value channel)."""
    B, T, _ = r.shape
    r, w, k, v, a, b = (t.view(B, T, H, N) for t in (r, w, k, v, a, b))
    state = torch.zeros(B, H, N, N)
    out = []
    for t in range(T):
        sa = (state @ a[:, t].unsqueeze(-1))
        state = state * w[:, t].unsqueeze(-2) + sa @ b[:, t].unsqueeze(-2) + v[:, t].unsqueeze(-1) @ k[:, t].unsqueeze(-2)
        out.append((state @ r[:, t].unsqueeze(-1)).squeeze(-1))
    return torch.stack(out, dim=1).reshape(B, T, C)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, C)
        nn.init.uniform_(self.emb.weight, -1e-4, 1e-4)
        self.ln0 = nn.LayerNorm(C)
        self.blocks = nn.ModuleList(Block(i) for i in range(L))
        self.ln_out = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        nn.init.normal_(self.head.weight, std=0.5 / math.sqrt(C))

    def forward(self, idx):
        x = self.ln0(self.emb(idx))
        v_first = None
        for block in self.blocks:
            x, v_first = block(x, v_first)
        return self.head(self.ln_out(x))

    def official_state_dict(self):
        """Official names and shapes (blocks.N.att.*, blocks.N.ffn.*), float32."""
        sd = OrderedDict()
        sd["emb.weight"] = self.emb.weight
        for i, blk in enumerate(self.blocks):
            p = f"blocks.{i}."
            if i == 0:
                sd[p + "ln0.weight"], sd[p + "ln0.bias"] = self.ln0.weight, self.ln0.bias
            sd[p + "ln1.weight"], sd[p + "ln1.bias"] = blk.ln1.weight, blk.ln1.bias
            sd[p + "ln2.weight"], sd[p + "ln2.bias"] = blk.ln2.weight, blk.ln2.bias
            for name in ["x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "w1", "w2", "a0", "a1", "a2"] + (["v0", "v1", "v2"] if i else []) + ["g1", "g2", "k_k", "k_a", "r_k"]:
                sd[p + "att." + name] = getattr(blk, name)
            for name in ["receptance", "key", "value", "output"]:
                sd[p + f"att.{name}.weight"] = getattr(blk, name).weight
            sd[p + "att.ln_x.weight"], sd[p + "att.ln_x.bias"] = blk.ln_x.weight, blk.ln_x.bias
            sd[p + "ffn.x_k"] = blk.ffn_x_k
            sd[p + "ffn.key.weight"], sd[p + "ffn.value.weight"] = blk.ffn_key.weight, blk.ffn_value.weight
        sd["ln_out.weight"], sd["ln_out.bias"] = self.ln_out.weight, self.ln_out.bias
        sd["head.weight"] = self.head.weight
        return OrderedDict((k, v.detach().clone().float().contiguous()) for k, v in sd.items())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--ctx", type=int, default=96)
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parent.parent / "models"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    text = corpus(stories=4000, seed=1).encode()
    data = torch.tensor(np.frombuffer(text, dtype=np.uint8).astype(np.int64))
    split = int(len(data) * 0.95)
    train, valid = data[:split], data[split:]
    counts = np.bincount(np.frombuffer(text[:split], dtype=np.uint8), minlength=256) + 1e-9
    unigram = -(np.log(counts / counts.sum())[np.frombuffer(text[split:], dtype=np.uint8)]).mean()

    model = Model()
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99), weight_decay=0.01)
    generator = torch.Generator().manual_seed(1)
    log = [f"corpus: {len(text)} bytes ({len(train)} train, {len(valid)} validation), unigram validation loss {unigram:.4f} nats/byte",
           f"model: RWKV-7 L{L} C{C} H{H}x{N} V{V} FFN {FFN} LoRA {RANK}, {params} parameters; batch {args.batch} x ctx {args.ctx}, {args.steps} steps, AdamW lr 3e-3 cosine"]
    print(log[0], log[1], sep="\n", flush=True)

    def batch(source, n):
        starts = torch.randint(0, len(source) - args.ctx - 1, (n,), generator=generator)
        x = torch.stack([source[s:s + args.ctx] for s in starts])
        y = torch.stack([source[s + 1:s + args.ctx + 1] for s in starts])
        return x, y

    curve = []
    start = time.time()
    for step in range(1, args.steps + 1):
        lr = 3e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps))) * min(1, step / 50)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = batch(train, args.batch)
        loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0 or step == 1:
            with torch.no_grad():
                vx, vy = batch(valid, 32)
                vloss = F.cross_entropy(model(vx).view(-1, V), vy.view(-1)).item()
            curve.append((step, loss.item(), vloss))
            line = f"step {step:5d}  train {loss.item():.4f}  valid {vloss:.4f}  lr {lr:.2e}  {time.time() - start:.0f}s"
            log.append(line)
            print(line, flush=True)

    sd = model.official_state_dict()
    torch.save(sd, out / "rwkv7-tiny-stories.pth")
    with torch.no_grad():
        vloss = np.mean([F.cross_entropy(model(vx).view(-1, V), vy.view(-1)).item() for vx, vy in (batch(valid, 32) for _ in range(8))])
    log.append(f"final validation loss {vloss:.4f} nats/byte vs unigram {unigram:.4f} ({time.time() - start:.0f}s of training)")
    print(log[-1])
    (out / "training-log.txt").write_text("\n".join(log) + "\n")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps_, train_, valid_ = zip(*curve)
    plt.figure(figsize=(6, 3.5))
    plt.plot(steps_, train_, label="train")
    plt.plot(steps_, valid_, label="validation")
    plt.axhline(unigram, color="gray", linestyle="--", label=f"unigram ({unigram:.2f})")
    plt.xlabel("step")
    plt.ylabel("loss (nats/byte)")
    plt.title("rwkv7-tiny-stories")
    plt.legend()
    plt.grid(alpha=0.3)
    plt.tight_layout()
    plt.savefig(out / "loss.png", dpi=100)
    reference_logits(out, text[split:split + 80])


def reference_logits(out, prompt):
    """Logits of the official rwkv package (RWKV_x070, fp32, CPU) on the trained checkpoint."""
    os.environ["RWKV_V7_ON"] = "1"
    os.environ["RWKV_JIT_ON"] = "0"
    os.environ["RWKV_CUDA_ON"] = "0"
    from rwkv.model import RWKV
    from safetensors.numpy import save_file
    model = RWKV(model=str(out / "rwkv7-tiny-stories"), strategy="cpu fp32")
    tokens = list(prompt)
    with torch.no_grad():
        logits, _ = model.forward(tokens, None, full_output=True)
    save_file({"tokens": np.array(tokens, dtype=np.int32), "logits": logits.float().numpy()}, str(out / "rwkv7-tiny-stories.logits.safetensors"))


if __name__ == "__main__":
    main()
