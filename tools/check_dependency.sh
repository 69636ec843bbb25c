#!/usr/bin/env bash
# rwkv-swift as a dependency: Examples/Generate depends on this package by version (`from: "0.1.0"`) through a
# local git URL — a clone of the current commit tagged 0.1.0 — builds in release (SwiftPM refuses unsafe flags
# in a dependency, so this fails if any library target carries them), runs on the project's model, and must
# write the text `rwkv generate` writes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q . "$work/rwkv-swift"
git -C "$work/rwkv-swift" tag 0.1.0
cp -R Examples/Generate "$work/Generate"
export RWKV_SWIFT_URL="file://$work/rwkv-swift"
swift build -c release --package-path "$work/Generate" 2>&1 | tail -3
model=models/rwkv7-tiny-stories.gguf
got=$("$work/Generate/.build/release/generate" "$model" "Once upon a time" 40 2>/dev/null)
want=$(.build/release/rwkv generate -m "$model" -p "Once upon a time" -n 40 --temperature 0 2>/dev/null)
if [ "$got" != "$want" ]; then
    printf 'dependency: the example wrote\n%s\nbut rwkv generate writes\n%s\n' "$got" "$want" >&2
    exit 1
fi
echo "dependency: Examples/Generate built against rwkv-swift 0.1.0 and generated the same text as rwkv generate"
