#!/usr/bin/env python3
"""Load run against `rwkv serve`: C concurrent clients streaming chats for D seconds (bounded), with the
official `openai` client.

Usage: tools/load_test.py BASE_URL MODEL_ID [--clients 64] [--seconds 60] [--max-tokens 64] [--pid PID]
                          [--temperature T]

Each client loops: a streamed chat (a short story prompt of its own), timing the first token and the gaps
between tokens. Prints requests/s, tokens/s, p50/p99 time to first token and inter-token latency, errors,
and (with --pid) the server's resident memory before and after, as a markdown table.
"""
import argparse
import asyncio
import time

import openai


def rss_kib(pid):
    if pid is None:
        return None
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("model")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--pid", type=int)
    parser.add_argument("--temperature", type=float, help="sent with every request (default: the server's sampling)")
    args = parser.parse_args()

    client = openai.AsyncOpenAI(base_url=args.base_url, api_key="unused", max_retries=0, timeout=300)
    rss_before = rss_kib(args.pid)
    first_token, gaps, tokens, requests, errors = [], [], [0], [0], []
    deadline = time.monotonic() + args.seconds

    async def run_client(index):
        turn = 0
        while time.monotonic() < deadline:
            turn += 1
            start = time.monotonic()
            last = None
            try:
                stream = await client.chat.completions.create(
                    model=args.model, stream=True, max_tokens=args.max_tokens, seed=index * 1000 + turn,
                    **({} if args.temperature is None else {"temperature": args.temperature}),
                    messages=[{"role": "user", "content": f"Tell story {index}-{turn} about a cat and a dog."}])
                async for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        now = time.monotonic()
                        if last is None:
                            first_token.append(now - start)
                        else:
                            gaps.append(now - last)
                        last = now
                    if chunk.usage:
                        tokens[0] += chunk.usage.completion_tokens
                requests[0] += 1
            except Exception as error:  # every failure is reported
                errors.append(repr(error))

    began = time.monotonic()
    await asyncio.gather(*(run_client(i) for i in range(args.clients)))
    elapsed = time.monotonic() - began
    await client.close()
    rss_after = rss_kib(args.pid)

    print(f"| clients | seconds | requests | errors | requests/s | tokens/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | RSS before | RSS after |")
    print(f"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ms = lambda s: f"{s * 1000:.0f} ms"
    mib = lambda k: "" if k is None else f"{k / 1024:.0f} MiB"
    print(f"| {args.clients} | {elapsed:.0f} | {requests[0]} | {len(errors)} | {requests[0] / elapsed:.2f} | {tokens[0] / elapsed:.1f} | "
          f"{ms(percentile(first_token, 50))} | {ms(percentile(first_token, 99))} | {ms(percentile(gaps, 50))} | {ms(percentile(gaps, 99))} | "
          f"{mib(rss_before)} | {mib(rss_after)} |")
    if errors:
        print("errors:", errors[:5])
        raise SystemExit(1)


asyncio.run(main())
