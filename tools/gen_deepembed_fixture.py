#!/usr/bin/env python3
"""A small random RWKV-7a (DeepEmbed) model and its logits from the official `rwkv` package
(RWKV_x070 with RWKV_DE_VERSION=1, fp32, CPU). Needs torch, numpy, safetensors, rwkv; installs nothing.

Writes Tests/RWKVGraphTests/Fixtures/random-rwkv7a.pth (2 layers, n_embd 128, V 512, FFN 256, DeepEmbed
rank 32: s_emb 512 × 1024 per layer) and random-rwkv7a.logits.safetensors (48 tokens, full output).
"""
import os
import pathlib
import sys
from collections import OrderedDict

os.environ["RWKV_V7_ON"] = "1"
os.environ["RWKV_JIT_ON"] = "0"
os.environ["RWKV_CUDA_ON"] = "0"
os.environ["RWKV_DE_VERSION"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_rwkv7 import add_deep_embed, make_state_dict  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/RWKVGraphTests/Fixtures"
VOCAB, EMBD, LAYERS, FFN = 512, 128, 2, 256


def main():
    from rwkv.model import RWKV
    sd = make_state_dict(seed=77, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN)
    add_deep_embed(sd, seed=78, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN)
    path = OUT / "random-rwkv7a.pth"
    torch.save(OrderedDict((k, torch.from_numpy(v).to(torch.float16)) for k, v in sd.items()), path)
    model = RWKV(model=str(path)[:-4], strategy="cpu fp32")
    tokens = [int(t) for t in np.random.default_rng(5).integers(0, VOCAB, size=48)]
    with torch.no_grad():
        logits, _ = model.forward(tokens, None, full_output=True)
        state = None
        serial = []
        for t in tokens:
            out, state = model.forward([t], state)
            serial.append(out.float().numpy())
    gap = float(np.max(np.abs(np.stack(serial) - logits.float().numpy())))
    assert gap < 1e-4, gap
    save_file({"tokens": np.array(tokens, dtype=np.int32), "logits": logits.float().numpy()}, str(OUT / "random-rwkv7a.logits.safetensors"))
    print(f"wrote {path.name} ({path.stat().st_size} bytes); logits std {logits.float().std():.3f}; serial vs sequence {gap:.1e}")


if __name__ == "__main__":
    main()
