#!/usr/bin/env bash
# Batched decode, rwkv-swift against llama.cpp's llama-batched-bench on the same GGUF file and thread count,
# alternating, ROUNDS rounds: aggregate decode t/s for B = 1, 2, 4, 8, 16 sequences (llama's S_TG: TG tokens
# per sequence after a PP-token prompt; ours: rwkv bench tg<N> b<B>, decode from the zero state).
#
# Usage: tools/compare_batched_bench.sh MODEL.gguf [THREADS=2] [ROUNDS=3] [TG=64]
#   LLAMA_BIN: folder of llama-batched-bench (default: the llama_cpp_python sdist build under /work/llama).
# Prints one line per (tool, round, B) as "tool round B t/s", then the medians side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1 threads=${2:-2} rounds=${3:-3} tg=${4:-64}
llama=${LLAMA_BIN:-$(ls -d /work/llama/*/vendor/llama.cpp/build/bin 2>/dev/null | head -1)}
rwkv=.build/release/rwkv
[ -x "$llama/llama-batched-bench" ] || { echo "compare: llama-batched-bench not found (set LLAMA_BIN)" >&2; exit 1; }
[ -x "$rwkv" ] || { echo "compare: build rwkv first (swift build -c release)" >&2; exit 1; }
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for round in $(seq 1 "$rounds"); do
    LD_LIBRARY_PATH=$llama "$llama/llama-batched-bench" -m "$model" -c 8192 -b 2048 -ub 512 -npp 16 -ntg "$tg" \
        -npl 1,2,4,8,16 -t "$threads" 2>/dev/null |
        awk -v r="$round" -F'|' '$2 ~ /^ *[0-9]+ *$/ { gsub(/ /, "", $4); gsub(/ /, "", $9); print "llama", r, $4, $9 }' | tee -a "$results"
    "$rwkv" bench -m "$model" -t "$threads" -p 0 -n "$tg" -r 3 -b 1,2,4,8,16 --json 2>/dev/null |
        python3 -c '
import json, sys
for row in json.load(sys.stdin)["results"]:
    b = row["test"].split(" b")[1] if " b" in row["test"] else "1"
    print("rwkv", sys.argv[1], b, round(sorted(row["samples"])[len(row["samples"]) // 2], 2))' "$round" | tee -a "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
median = lambda tool, b: statistics.median(float(r[3]) for r in rows if r[0] == tool and r[2] == b)
print("| B | rwkv-swift t/s | llama.cpp t/s | ratio | rwkv-swift vs its B=1 |")
print("|---:|---:|---:|---:|---:|")
for b in ["1", "2", "4", "8", "16"]:
    ours, theirs = median("rwkv", b), median("llama", b)
    print(f"| {b} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | {ours / median('rwkv', '1'):.2f}x |")
PY
