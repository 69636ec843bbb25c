#!/usr/bin/env python3
"""Reference logits from BlinkDL's official `rwkv` package (RWKV_x070) for a small random RWKV-7.

Needs torch, numpy, safetensors and rwkv (0.8.x) from PyPI; installs nothing itself. Writes to
Tests/RWKVGraphTests/Fixtures/:
  random-rwkv7.pth            3 layers, n_embd 128 (2 heads of 64), vocabulary 2048, FFN 512, LoRA ranks 32,
                              bf16 (as released checkpoints), layer 0 with its unused v0/v1/v2 (as current
                              training code saves them)
  random-rwkv7.logits.safetensors
                              a logits dump: `tokens` (I32 [72]) and `logits` (F32 [72, 2048]) of the official
                              model in fp32 on the CPU, full_output=True, from the zero state
"""
import os
import pathlib
import sys
from collections import OrderedDict

os.environ["RWKV_V7_ON"] = "1"
os.environ["RWKV_JIT_ON"] = "0"
os.environ["RWKV_CUDA_ON"] = "0"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from tiny_rwkv7 import make_state_dict  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/RWKVGraphTests/Fixtures"
VOCAB, EMBD, LAYERS, FFN, RANK, TOKENS = 2048, 128, 3, 512, 32, 72


def main():
    from rwkv.model import RWKV

    OUT.mkdir(parents=True, exist_ok=True)
    sd = make_state_dict(seed=2024, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN, rank=RANK)
    path = OUT / "random-rwkv7.pth"
    torch.save(OrderedDict((k, torch.from_numpy(v).to(torch.bfloat16)) for k, v in sd.items()), path)

    model = RWKV(model=str(path)[:-4], strategy="cpu fp32")
    rng = np.random.default_rng(99)
    tokens = [int(t) for t in rng.integers(0, VOCAB, size=TOKENS)]
    with torch.no_grad():
        logits, _ = model.forward(tokens, None, full_output=True)
        logits = logits.float().numpy()
        # The package's own serial mode agrees (a sanity check of the reference itself).
        state = None
        serial = []
        for t in tokens:
            out, state = model.forward([t], state)
            serial.append(out.float().numpy())
    gap = float(np.max(np.abs(np.stack(serial) - logits)))
    assert gap < 1e-4, f"official sequence and serial modes differ by {gap}"
    save_file({"tokens": np.array(tokens, dtype=np.int32), "logits": logits.astype(np.float32)},
              str(OUT / "random-rwkv7.logits.safetensors"))
    print(f"wrote {path.name} and its logits for {TOKENS} tokens (|logit| max {np.abs(logits).max():.3f}, "
          f"std {logits.std():.3f}; official serial vs sequence max |Δ| {gap:.2e})", file=sys.stderr)


if __name__ == "__main__":
    main()
