#!/usr/bin/env python3
"""End-to-end check of `rwkv serve` with the official `openai` client (PyPI).

Usage: tools/openai_e2e.py BASE_URL MODEL_ID     (BASE_URL like http://127.0.0.1:8080/v1)

Lists the models, makes a completion, streams a chat, runs 32 streamed chats at once (none may fail), and
checks that bad requests raise the client's error classes. Prints one line per check; exits 1 on a failure.
"""
import asyncio
import sys

import openai

base_url, model_id = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key="unused")


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)
    print(f"ok: {what}")


models = client.models.list()
check([m.id for m in models.data] == [model_id], f"models.list() lists {model_id}")

completion = client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=24, temperature=0)
check(completion.choices[0].text != "" and completion.usage.completion_tokens > 0, "a completion with text and usage")
check(completion.choices[0].finish_reason in ("stop", "length"), "the completion has a finish reason")

pieces, reasons = [], []
for chunk in client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "Tell me a story about a dog."}],
                                            max_tokens=40, stream=True, seed=7):
    choice = chunk.choices[0]
    if choice.delta.content:
        pieces.append(choice.delta.content)
    if choice.finish_reason:
        reasons.append(choice.finish_reason)
check(len(pieces) > 1 and len(reasons) == 1, f"a streamed chat ({len(pieces)} chunks, finish {reasons})")


async def concurrent(count):
    aclient = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)

    async def one(i):
        text, finished = "", None
        stream = await aclient.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": f"Story number {i}:"}], max_tokens=32, stream=True, seed=i)
        async for chunk in stream:
            choice = chunk.choices[0]
            text += choice.delta.content or ""
            finished = choice.finish_reason or finished
        return text, finished

    results = await asyncio.gather(*(one(i) for i in range(count)), return_exceptions=True)
    await aclient.close()
    return results


results = asyncio.run(concurrent(32))
failures = [r for r in results if isinstance(r, BaseException)]
check(not failures, f"32 concurrent streamed chats, none failed ({failures[:1]})")
check(all(finished in ("stop", "length") for _, finished in results), "every concurrent chat finished")

try:
    client.completions.create(model=model_id, prompt="x", max_tokens=-1)
    check(False, "max_tokens=-1 is refused")
except openai.BadRequestError as error:
    check(error.status_code == 400, "max_tokens=-1 is a 400 BadRequestError")
try:
    client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
    check(False, "an unknown model is refused")
except openai.NotFoundError as error:
    check(error.status_code == 404, "an unknown model is a 404 NotFoundError")
print("all checks passed")
