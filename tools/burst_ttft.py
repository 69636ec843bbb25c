#!/usr/bin/env python3
"""Time to first token when many chats arrive at once: N streamed chats (short prompts of their own) sent
together with the official `openai` client, R rounds after one warm-up round; prints the median and the
worst time to first token of each round's requests and the round's time to the last first token, as a
markdown row.

Usage: tools/burst_ttft.py BASE_URL MODEL_ID [--clients 16] [--rounds 5] [--max-tokens 8]

Used for docs/serving.md's batched-prefill table (the server's --prefill-sequences 1 against 8). Not used by
the tests or CI.
"""
import argparse
import asyncio
import statistics
import time

import openai


async def one(client, model, index, round_, max_tokens):
    start = time.monotonic()
    stream = await client.chat.completions.create(
        model=model, stream=True, max_tokens=max_tokens, temperature=0,
        messages=[{"role": "user", "content": f"Tell story {index}-{round_} about a cat and a dog."}])
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic() - start
    return first if first is not None else time.monotonic() - start


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("model")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()
    client = openai.AsyncOpenAI(base_url=args.base_url, api_key="unused", max_retries=0, timeout=300)
    medians, worsts = [], []
    for round_ in range(args.rounds + 1):
        times = await asyncio.gather(*(one(client, args.model, i, round_, args.max_tokens) for i in range(args.clients)))
        if round_ > 0:  # round 0 warms up (graphs are built on first use)
            medians.append(statistics.median(times))
            worsts.append(max(times))
    print("| clients | rounds | TTFT median (median over rounds) | last first token (median over rounds) |")
    print("|---:|---:|---:|---:|")
    print(f"| {args.clients} | {args.rounds} | {statistics.median(medians) * 1000:.0f} ms | {statistics.median(worsts) * 1000:.0f} ms |")


asyncio.run(main())
