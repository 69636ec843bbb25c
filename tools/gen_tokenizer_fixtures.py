#!/usr/bin/env python3
"""Token ids from the official World tokenizer (the `rwkv` PyPI package's TRIE_TOKENIZER and its
rwkv_vocab_v20230424.txt) for texts the Swift tokenizer must match byte for byte.

Needs rwkv (0.8.x) from PyPI; installs nothing itself. Writes Tests/RWKVGraphTests/Fixtures/tokenizer.json:
a list of {"name", "hex" (the input bytes), "ids"}.
"""
import json
import os
import pathlib

from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

import rwkv

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/RWKVGraphTests/Fixtures/tokenizer.json"

CASES = {
    "english": "The quick brown fox jumps over the lazy dog. It's 3:45pm; \"quotes\" and (parens)!",
    "chinese": "你好，世界！人工智能正在改变我们的生活方式。这是一个测试。",
    "emoji": "Hello 👋🏽 world 🌍! Family: 👨‍👩‍👧‍👦 flags: 🇯🇵🇫🇷 ✨",
    "code": "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
    "whitespace": "a  b   c\t\td\n\n\ne" + " " * 200 + "f" + "\n" * 7 + "\t \t",
    "mixed": "User: 什么是RWKV？\n\nAssistant: RWKV is an RNN with transformer-level performance. Ünïcödé café naïve — ½ ≠ ∞",
    "chat": "User: hi\n\nAssistant: Hello! How can I help you today?\n\nUser: tell me a joke\n\nAssistant:",
    "empty": "",
}
RAW = {
    "invalid_utf8": bytes([0xFF, 0xFE, 0x41, 0xC3, 0x28, 0xE2, 0x82, 0x20, 0x80, 0xBF, 0xF0, 0x9F, 0x98]),
    "lone_bytes": bytes(range(0, 256, 7)),
}


def main():
    vocab = os.path.join(os.path.dirname(rwkv.__file__), "rwkv_vocab_v20230424.txt")
    tok = TRIE_TOKENIZER(vocab)
    cases = []
    for name, text in CASES.items():
        data = text.encode("utf-8")
        ids = tok.encodeBytes(data)
        assert tok.decodeBytes(ids) == data
        cases.append({"name": name, "hex": data.hex(), "ids": ids})
    for name, data in RAW.items():
        ids = tok.encodeBytes(data)
        assert tok.decodeBytes(ids) == data
        cases.append({"name": name, "hex": data.hex(), "ids": ids})
    OUT.write_text("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
