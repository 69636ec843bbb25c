#!/usr/bin/env python3
"""Load + first token, rwkv against llama.cpp, measured the same way: the wall time of a process that loads a
GGUF, prefills a 64-token prompt and prints one token (`rwkv generate -n 1`, `llama-completion -n 1`), with the
file in the page cache (warm: after one untimed run) and dropped from it (cold: posix_fadvise DONTNEED before
each run), alternating the two tools, ROUNDS times; medians. Also rwkv's own split (`rwkv bench --load`).

  python3 tools/compare_load.py --llama-completion PATH/llama-completion FILE... [--threads 2] [--rounds 3]

Prints a markdown table. Not used by the tests or CI.
"""
import argparse
import os
import pathlib
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# 64 tokens in the World tokenizer (checked with `rwkv tokenize`).
PROMPT = ("The history of the river town begins with a ferry, a mill and a small market where farmers sold grain, "
          "wool and apples to travellers on their way to the coast, and it grew slowly over three centuries into a "
          "busy port with warehouses, two churches, a school and a bridge of nine arches that still stands")


def drop_cache(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(command):
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--llama-completion", required=True)
    parser.add_argument("--rwkv", default=str(ROOT / ".build/release/rwkv"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    t = str(args.threads)
    tools = {
        "rwkv": lambda f: [args.rwkv, "generate", "-m", f, "-p", PROMPT, "-n", "1", "-t", t, "--temperature", "0"],
        "llama.cpp": lambda f: [args.llama_completion, "-m", f, "-p", PROMPT, "-n", "1", "-t", t, "-no-cnv",
                                "--temp", "0", "-c", "512", "--no-warmup"],
    }
    print(f"| file | cache | threads | rwkv s | llama.cpp s | llama.cpp / rwkv |")
    print(f"| ---- | ----- | ------: | -----: | ----------: | ---------------: |")
    for path in args.files:
        for cold in [False, True]:
            times = {name: [] for name in tools}
            if not cold:
                for name, command in tools.items():
                    timed(command(path))
            for _ in range(args.rounds):
                for name, command in tools.items():
                    if cold:
                        drop_cache(path)
                    times[name].append(timed(command(path)))
            ours, theirs = statistics.median(times["rwkv"]), statistics.median(times["llama.cpp"])
            print(f"| {pathlib.Path(path).name} | {'cold' if cold else 'warm'} | {t} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}× |",
                  flush=True)


if __name__ == "__main__":
    main()
