#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader: libFuzzer with AddressSanitizer (the Fuzz/ package, which
# instruments rwkv-swift's own targets). Each target runs RUNS executions (default 1,000,000), seeded from the
# project's fixtures (and ../shared/models where present), with a dictionary of its format's keys and opcodes;
# an input that crashes, hangs (> 10 s), or allocates more than 2 GiB is a finding, saved under
# Fuzz/findings/TARGET/. A table of executions, time and coverage is printed at the end.
#
# Usage: tools/fuzz.sh [RUNS] [TARGET …]     targets: gguf pth safetensors rwkvcpp state vocab logits tokenizer request
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
targets=${*:-gguf pth safetensors rwkvcpp state vocab logits tokenizer request}

# swiftc drops coverage instrumentation when -sanitize=fuzzer comes before -sanitize=address, and SwiftPM
# passes its --sanitize set in no fixed order: ask for the coverage explicitly so every build is instrumented.
# A failed build stops here (an older binary must not be fuzzed in its place).
build_log=$(mktemp)
if ! swift build --package-path Fuzz -c release --sanitize=fuzzer --sanitize=address \
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp >"$build_log" 2>&1; then
    grep -E "error" "$build_log" >&2 || tail -20 "$build_log" >&2
    rm -f "$build_log"
    echo "fuzz: the build failed" >&2
    exit 1
fi
grep -E "Build complete" "$build_log" || true
rm -f "$build_log"
binary=$PWD/Fuzz/.build/release/rwkv-fuzz
[ -x "$binary" ] || { echo "fuzz: the build failed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
shared=../shared/models

# Seeds: the project's fixtures, and small files made here for the formats the fixtures lack.
seeds() {
    local target=$1 dir=$work/seeds-$1
    mkdir -p "$dir"
    case $target in
    gguf) cp Tests/ModelFilesTests/Fixtures/*.gguf models/*.gguf "$dir"/ ;;
    pth) cp Tests/ModelFilesTests/Fixtures/*.pth Tests/RWKVGraphTests/Fixtures/*.pth "$dir"/ ;;
    safetensors) cp Tests/ModelFilesTests/Fixtures/tiny.safetensors "$dir"/ ;;
    logits) cp Tests/RWKVGraphTests/Fixtures/*.logits.safetensors "$dir"/ ;;
    request)  # the first byte picks the endpoint: odd = chat
        printf '%s' '0{"model": "m", "prompt": "Once upon a time", "max_tokens": 16, "temperature": 0.7, "stop": ["\n", "x"], "seed": 3}' > "$dir/completion.json"
        printf '%s' '0{"prompt": [1, 2, 3], "stream": true, "n": 1, "top_p": 0.5, "top_k": 4}' > "$dir/tokens.json"
        printf '%s' '1{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "max_completion_tokens": 8, "reasoner": true, "penalty_decay": 0.99}' > "$dir/chat.json"
        ;;
    rwkvcpp | state | vocab | tokenizer) python3 - "$target" "$dir" "$shared" <<'PY'
import os, struct, sys
target, out, shared = sys.argv[1:]
def write(name, data):
    open(os.path.join(out, name), "wb").write(data)
if target == "rwkvcpp":
    def tensor(name, dims, typ, nbytes):
        return struct.pack("<III", len(dims), len(name), typ) + struct.pack("<%dI" % len(dims), *dims) + name.encode() + bytes(i * 37 % 256 for i in range(nbytes))
    header = struct.pack("<6I", 0x67676D66, 101, 8, 4, 1, 0)
    write("seed.bin", header + tensor("emb.weight", [4, 8], 0, 128) + tensor("blocks.0.ln1.weight", [4], 0, 16) + tensor("head.weight", [32, 2], 9, 68))
elif target == "state":
    values = 2 * (64 + 64 + 64 * 64)
    fields = [256, 64, 2, 64, 32, 32, 32, 32, 256]
    write("seed.state", b"RWKV7STATE\x00\x01" + struct.pack("<9I", *fields) + struct.pack("<%df" % values, *[(i % 17) / 16 for i in range(values)]))
elif target == "vocab":
    path = os.path.join(shared, "rwkv_vocab_v20230424.txt")
    lines = open(path, "rb").read().split(b"\n") if os.path.exists(path) else []
    if not lines:
        lines = [b"%d %r %d" % (i, bytes([i - 1]), 1) for i in range(1, 300)]
    write("head.txt", b"\n".join(lines[:400]) + b"\n")
    write("tail.txt", b"\n".join(lines[:300] + [l for l in lines[300:] if b"\\x" in l or b"\\u" in l][:100]) + b"\n")
else:
    write("english.txt", b"The quick brown fox jumps over the lazy dog.\n\n  def f(x): return x * 2")
    write("mixed.txt", "你好世界 👋🏽 caf\u00e9 \t\r\n".encode() + bytes([0xFF, 0xC0, 0x80, 0xE2, 0x82]))
PY
    ;;
    esac
    if [ "$target" = rwkvcpp ] && [ -f "$shared/tiny-rwkv-7v0-834K-FP16.bin" ]; then cp "$shared/tiny-rwkv-7v0-834K-FP16.bin" "$dir"/; fi
    echo "$dir"
}

dictionary() {
    case $1 in
    gguf) echo Fuzz/dictionaries/gguf.dict ;;
    pth) echo Fuzz/dictionaries/pickle.dict ;;
    safetensors | logits) echo Fuzz/dictionaries/safetensors.dict ;;
    rwkvcpp) echo Fuzz/dictionaries/rwkvcpp.dict ;;
    request) echo Fuzz/dictionaries/request.dict ;;
    esac
}

summary="| target | executions | seconds | execs/s | coverage (edges) | features | corpus | findings |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
status=0
for target in $targets; do
    corpus=$work/corpus-$target
    findings=Fuzz/findings/$target
    mkdir -p "$corpus" "$findings"
    seed=$(seeds "$target")
    dict=$(dictionary "$target")
    dict=${dict:+$PWD/$dict}
    log=$work/$target.log
    set +e
    (cd "$findings" && RWKV_FUZZ_TARGET=$target "$binary" -runs="$runs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=262144 \
        -print_final_stats=1 ${dict:+-dict="$dict"} "$corpus" "$seed") >"$log" 2>&1
    code=$?
    set -e
    executions=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
    seconds=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' || echo "?")
    rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
    coverage=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
    if [ -z "$coverage" ]; then
        echo "fuzz: $target: libFuzzer saw no coverage (is the build instrumented?); its log:" >&2
        tail -20 "$log" >&2
        status=1
    fi
    cov=$(echo "$coverage" | awk '{print $2}'); ft=$(echo "$coverage" | awk '{print $4}'); corp=$(echo "$coverage" | awk '{print $6}')
    found=$(find "$findings" -type f | wc -l)
    summary+="| $target | $executions | $seconds | $rate | ${cov:-?} | ${ft:-?} | ${corp:-?} | $found |\n"
    if [ "$code" -ne 0 ] || [ "$found" -ne 0 ]; then
        echo "fuzz: $target: finding (exit $code); see $findings and the log below" >&2
        tail -40 "$log" >&2
        status=1
    fi
done
printf "%b" "$summary"
exit $status
