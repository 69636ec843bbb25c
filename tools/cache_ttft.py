#!/usr/bin/env python3
"""Time to first token of a long conversation's next turn against `rwkv serve`, as a chat client sends it
(the whole history every turn). Run it once against a server with its state cache and once with
`--cache-mib 0`.

Usage: tools/cache_ttft.py BASE_URL MODEL_ID [--turns 8] [--words 150]

Builds TURNS turns (each user message WORDS words, each reply up to 32 tokens, greedy), then times the first
token of one more turn, 5 times (each a fresh branch from the same history). Prints the history's prompt
tokens, the cached tokens the server reported, and the median time to first token.
"""
import argparse
import statistics
import time

import openai

parser = argparse.ArgumentParser()
parser.add_argument("base_url")
parser.add_argument("model")
parser.add_argument("--turns", type=int, default=8)
parser.add_argument("--words", type=int, default=150)
args = parser.parse_args()
client = openai.OpenAI(base_url=args.base_url, api_key="unused")

words = "the cat and the dog went to the park where they played with a red ball under a big tree".split()
messages = []
for turn in range(args.turns):
    text = " ".join(words[(turn + i) % len(words)] for i in range(args.words))
    messages.append({"role": "user", "content": f"Turn {turn}: {text}"})
    reply = client.chat.completions.create(model=args.model, messages=messages, max_tokens=32, temperature=0)
    messages.append({"role": "assistant", "content": reply.choices[0].message.content})

timings, usage = [], None
for attempt in range(5):
    ask = messages + [{"role": "user", "content": f"And then, version {attempt}?"}]
    start = time.monotonic()
    stream = client.chat.completions.create(model=args.model, messages=ask, max_tokens=8, temperature=0, stream=True)
    first = None
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.monotonic() - start
        if chunk.usage:
            usage = chunk.usage
    timings.append(first if first is not None else time.monotonic() - start)
cached = getattr(usage, "cached_tokens", None) if usage else None
if cached is None and usage is not None:
    cached = (usage.model_extra or {}).get("cached_tokens")
print(f"prompt tokens {usage.prompt_tokens if usage else '?'}, cached {cached}, "
      f"time to first token median {statistics.median(timings) * 1000:.0f} ms (min {min(timings) * 1000:.0f}, max {max(timings) * 1000:.0f})")
