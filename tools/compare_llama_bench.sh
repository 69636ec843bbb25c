#!/usr/bin/env bash
# rwkv bench and llama-bench alternately on the same files (tools/make_llama_bench_models.py), at 1 and 2
# threads, the series ROUNDS times; JSON per run in OUT. Usage:
#   tools/compare_llama_bench.sh MODELS_DIR PATH/llama-bench OUT [ROUNDS]
set -euo pipefail
models=$1 llama_bench=$2 out=$3 rounds=${4:-2}
rwkv="$(cd "$(dirname "$0")/.." && pwd)/.build/release/rwkv"
mkdir -p "$out"
for round in $(seq "$rounds"); do
    for type in f16 bf16 q4_0 q4_k_m q5_k_m q6_k q5_1; do
        file="$models/rwkv7-0.1b-$type.gguf"
        "$rwkv" bench -m "$file" -t 1,2 -p 512 -n 128 -r 2 --bandwidth-gib 0.25 --json > "$out/rwkv-$type-$round.json" 2>/dev/null
        "$llama_bench" -m "$file" -t 1,2 -p 512 -n 128 -r 2 -o json > "$out/llama-$type-$round.json" 2>/dev/null
    done
done
