#!/usr/bin/env bash
# rwkv bench and llama-bench alternately on the same files (tools/make_llama_bench_models.py), at 1 and 2
# threads, the series ROUNDS times; JSON per run in OUT; then the side-by-side table
# (tools/compare_table.py). Usage:
#   tools/compare_llama_bench.sh MODELS_DIR PATH/llama-bench OUT [ROUNDS] [SHAPE] [TYPES] [THREADS]
# SHAPE: 0.1b (default), 2.9b or 7.2b; TYPES: space-separated file types (default: the 0.1B series).
set -euo pipefail
models=$1 llama_bench=$2 out=$3 rounds=${4:-2} shape=${5:-0.1b}
types=${6:-f16 bf16 q4_0 q4_k_m q5_k_m q6_k q5_1} threads=${7:-1,2}
rwkv="$(cd "$(dirname "$0")/.." && pwd)/.build/release/rwkv"
mkdir -p "$out"
for round in $(seq "$rounds"); do
    for type in $types; do
        file="$models/rwkv7-$shape-$type.gguf"
        "$rwkv" bench -m "$file" -t "$threads" -p 512 -n 128 -r 2 --bandwidth-gib 0.25 --json > "$out/rwkv-$type-$round.json" 2>/dev/null
        "$llama_bench" -m "$file" -t "$threads" -p 512 -n 128 -r 2 -o json > "$out/llama-$type-$round.json" 2>/dev/null
    done
done
python3 "$(dirname "$0")/compare_table.py" "$out"
