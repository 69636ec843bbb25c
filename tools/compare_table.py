#!/usr/bin/env python3
"""The side-by-side table of tools/compare_llama_bench.sh's runs: per file type and test, the median over
rounds of rwkv's and llama-bench's mean t/s at each thread count, their ratio, and rwkv's decode share of the
read bandwidth.

  python3 tools/compare_table.py OUT      (OUT holds rwkv-TYPE-ROUND.json and llama-TYPE-ROUND.json)
"""
import json
import pathlib
import statistics
import sys
from collections import defaultdict


def load(path):
    """A run's JSON, or None while the run is still writing it."""
    try:
        return json.load(open(path))
    except json.JSONDecodeError:
        return None


def main():
    out = pathlib.Path(sys.argv[1])
    ours, theirs, share = defaultdict(list), defaultdict(list), defaultdict(list)
    types = []
    for path in sorted(out.glob("rwkv-*.json")):
        dtype = path.stem.split("-")[1]
        if dtype not in types:
            types.append(dtype)
        for r in (load(path) or {"results": []})["results"]:
            test = r["test"]
            ours[(dtype, test, r["threads"])].append(r["mean"])
            if r.get("percentOfBandwidth"):
                share[(dtype, r["threads"])].append(r["percentOfBandwidth"])
    for path in sorted(out.glob("llama-*.json")):
        dtype = path.stem.split("-")[1]
        for r in load(path) or []:
            test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
            theirs[(dtype, test, r["n_threads"])].append(r["avg_ts"])
    threads = sorted({key[2] for key in ours})
    slash = " / ".join
    print(f"| file | test | rwkv-swift {slash(f'{t}t' for t in threads)} | llama.cpp {slash(f'{t}t' for t in threads)} | ratio | decode % of read |")
    print("|---|---|---|---|---|---|")
    order = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m", "q5_k_m", "q6_k", "q5_1"]
    for dtype in sorted(types, key=lambda d: order.index(d) if d in order else 99):
        for test in sorted({key[1] for key in ours if key[0] == dtype}):
            a = [statistics.median(ours[(dtype, test, t)]) if ours[(dtype, test, t)] else None for t in threads]
            b = [statistics.median(theirs[(dtype, test, t)]) if theirs[(dtype, test, t)] else None for t in threads]
            fmt = lambda values: slash("–" if v is None else f"{v:.2f}" for v in values)
            ratio = slash("–" if x is None or y is None else f"{x / y:.2f}×" for x, y in zip(a, b))
            pct = slash(f"{statistics.median(share[(dtype, t)]):.0f} %" for t in threads) if test.startswith("tg") and share[(dtype, threads[0])] else ""
            print(f"| {dtype.upper()} | {test} | {fmt(a)} | {fmt(b)} | {ratio} | {pct} |")


if __name__ == "__main__":
    main()
