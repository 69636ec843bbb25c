#!/usr/bin/env python3
"""A small random RWKV-7b (DeepEmbedAttention) checkpoint and its logits from a numpy forward pass of
BlinkDL's rwkv_v7b_demo.py (tools/rwkv7_numpy.py, float64). numpy only; installs nothing.

First checks the numpy forward pass against the official package's logits of the RWKV-7a fixture
(random-rwkv7a.logits.safetensors, made by gen_deepembed_fixture.py with torch), so the RWKV-7/7a parts of the
reference are the official package's. Writes Tests/RWKVGraphTests/Fixtures/random-rwkv7b.st (official names,
F16, safetensors: 2 layers, n_embd 128, V 512, FFN 256, DeepEmbed rank 32, attention keys 256, caches 32) and
random-rwkv7b.logits.safetensors (72 tokens, every position's logits).
"""
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from rwkv7_numpy import forward, load_safetensors, save_safetensors  # noqa: E402
from tiny_rwkv7 import add_deep_embed, add_deep_embed_attention, make_state_dict  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/RWKVGraphTests/Fixtures"
VOCAB, EMBD, LAYERS, FFN = 512, 128, 2, 256


def check_against_official():
    """The 7a fixture's model (same seeds as gen_deepembed_fixture.py, stored as F16) through the numpy pass."""
    reference = OUT / "random-rwkv7a.logits.safetensors"
    sd = make_state_dict(seed=77, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN)
    add_deep_embed(sd, seed=78, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN)
    ref = load_safetensors(str(reference))
    logits = forward({k: v.astype(np.float16) for k, v in sd.items()}, ref["tokens"].astype(np.int64))
    gap = float(np.abs(logits - ref["logits"]).max())
    assert gap < 1e-4, f"numpy forward vs the official package (RWKV-7a): {gap}"
    print(f"numpy forward vs the official package on RWKV-7a: max |Δ| = {gap:.1e}")


def main():
    check_against_official()
    sd = make_state_dict(seed=91, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN)
    add_deep_embed(sd, seed=92, vocab=VOCAB, embd=EMBD, layers=LAYERS, ffn=FFN)
    add_deep_embed_attention(sd, seed=93, vocab=VOCAB, embd=EMBD, layers=LAYERS)
    sd = {k: v.astype(np.float16) for k, v in sd.items()}
    path = OUT / "random-rwkv7b.st"
    save_safetensors(str(path), sd)
    tokens = np.random.default_rng(6).integers(0, VOCAB, size=72).astype(np.int64)
    logits = forward(sd, tokens)
    # Causality: the first 40 positions alone give the same logits.
    assert np.abs(forward(sd, tokens[:40]) - logits[:40]).max() < 1e-9
    save_safetensors(str(OUT / "random-rwkv7b.logits.safetensors"),
                     {"tokens": tokens.astype(np.int32), "logits": logits.astype(np.float32)})
    print(f"wrote {path.name} ({path.stat().st_size} bytes); logits std {logits.std():.3f}")


if __name__ == "__main__":
    main()
