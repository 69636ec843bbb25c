#!/usr/bin/env bash
# Every main job once, on the project's own model (no download): quantize, generate at a chosen precision,
# dump logits at two precisions and compare them, and a quick benchmark. Run from the repository root after
# `swift build -c release`.
set -euo pipefail
cd "$(dirname "$0")/.."
rwkv=.build/release/rwkv
model=models/rwkv7-tiny-stories.gguf
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== rwkv info"; $rwkv info "$model" | sed -n '1,5p'
echo; echo "== rwkv quantize --type q4_0"; $rwkv quantize "$model" "$out/q4_0.gguf" --type q4_0
echo; echo "== rwkv generate --type q8_0"; $rwkv generate -m "$model" -p "Once upon a time" -n 200 --type q8_0 --seed 7
echo; echo "== rwkv logits (f32 and the q4_0 file) + rwkv compare"
text="In the meadow, there lived a curious rabbit called Mia. The sun was shining."
$rwkv logits -m "$model" --text "$text" -o "$out/f32.safetensors"
$rwkv logits -m "$out/q4_0.gguf" --text "$text" -o "$out/q4_0.safetensors"
$rwkv compare "$out/f32.safetensors" "$out/q4_0.safetensors" --max-kl 0.05
echo; echo "== rwkv bench"; $rwkv bench -m "$model" -p 128 -n 64 -r 2 -t 1,2 --type f32,q8_0,q4_0
