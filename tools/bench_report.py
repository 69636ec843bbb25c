#!/usr/bin/env python3
"""Turns `rwkv bench --json` output into markdown tables and a thread-scaling plot.

Usage: bench_report.py OUT_PREFIX RUN1.json [RUN2.json ...]
Writes OUT_PREFIX.md (a table per test with the median over runs of each run's mean t/s, beside the
decode GB/s, % of the read bandwidth and peak RSS) and OUT_PREFIX.png (t/s against threads per type, pp and
tg, with the decode roofline = read bandwidth / bytes per token drawn dashed). Needs matplotlib.
"""
import json
import statistics
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    prefix, paths = sys.argv[1], sys.argv[2:]
    runs = [json.load(open(p)) for p in paths]
    rows = defaultdict(list)
    bandwidth = defaultdict(list)
    for run in runs:
        for b in run["readBandwidth"]:
            bandwidth[b["threads"]].append(b["gigabytesPerSecond"])
        for r in run["results"]:
            rows[(r["model"], r["type"], r["threads"], r["test"])].append(r)
    lines = [f"CPU: {runs[0]['cpu']}; {len(runs)} run(s), {runs[0]['date'][:10]}. t/s: median over runs of each run's mean "
             f"(each over its -r repetitions); read bandwidth (median): "
             + ", ".join(f"{statistics.median(v):.1f} GB/s at {t}t" for t, v in sorted(bandwidth.items())), ""]
    for test_kind in ("pp", "tg"):
        lines.append("| model | type | threads | test | t/s | runs (t/s) | GB/s | % read | peak RSS MiB |")
        lines.append("|---|---|---:|---|---:|---|---:|---:|---:|")
        for (model, dtype, threads, test), items in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][3], ["f32", "f16", "q8_0", "q4_0"].index(kv[0][1]) if kv[0][1] in ["f32", "f16", "q8_0", "q4_0"] else 9, kv[0][2])):
            if not test.startswith(test_kind):
                continue
            means = [i["mean"] for i in items]
            gbps = [i["gigabytesPerSecond"] for i in items if i.get("gigabytesPerSecond")]
            pct = [i["percentOfBandwidth"] for i in items if i.get("percentOfBandwidth")]
            rss = max(i["peakResidentBytes"] for i in items) / 2 ** 20
            lines.append(f"| {model} | {dtype} | {threads} | {test} | **{statistics.median(means):.1f}** | "
                         f"{', '.join(f'{m:.1f}' for m in means)} | {statistics.median(gbps):.1f} | {statistics.median(pct):.0f} | {rss:.0f} |"
                         if gbps else
                         f"| {model} | {dtype} | {threads} | {test} | **{statistics.median(means):.1f}** | "
                         f"{', '.join(f'{m:.1f}' for m in means)} | | | {rss:.0f} |")
        lines.append("")
    open(prefix + ".md", "w").write("\n".join(lines))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, kind in zip(axes, ("pp", "tg")):
        by_type = defaultdict(dict)
        bytes_per_token = {}
        for (model, dtype, threads, test), items in rows.items():
            if test.startswith(kind):
                by_type[dtype][threads] = statistics.median(i["mean"] for i in items)
                if kind == "tg" and items[0].get("gigabytesPerSecond"):
                    bytes_per_token[dtype] = items[0]["gigabytesPerSecond"] * 1e9 / items[0]["mean"]
        for dtype, points in sorted(by_type.items()):
            xs = sorted(points)
            line, = ax.plot(xs, [points[x] for x in xs], marker="o", label=dtype)
            if kind == "tg" and dtype in bytes_per_token:
                threads = sorted(bandwidth)
                ax.plot(threads, [statistics.median(bandwidth[t]) * 1e9 / bytes_per_token[dtype] for t in threads],
                        linestyle="--", color=line.get_color(), alpha=0.6)
        ax.set_xlabel("threads")
        ax.set_ylabel("tokens/s")
        ax.set_title(("prefill (pp)" if kind == "pp" else "decode (tg; dashed: bandwidth roofline)"))
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"rwkv-swift, {next(iter(rows))[0]}, {runs[0]['cpu']}")
    fig.tight_layout()
    fig.savefig(prefix + ".png", dpi=110)
    print(f"wrote {prefix}.md and {prefix}.png", file=sys.stderr)


if __name__ == "__main__":
    main()
