#!/usr/bin/env bash
# The whole test suite under AddressSanitizer and under ThreadSanitizer (release builds, each in a build folder
# of its own so the normal .build stays as it is). Usage: tools/sanitize.sh [address|thread …] (default both).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for sanitizer in ${*:-address thread}; do
    log=$(mktemp)
    echo "== swift test --sanitize=$sanitizer"
    set +e
    RWKV_SANITIZER=$sanitizer TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ASAN_OPTIONS="detect_leaks=0" \
        swift test -c release --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" 2>&1 | tee "$log" | grep -E "^(✘|✔ Test run|.*WARNING: ThreadSanitizer|.*ERROR: AddressSanitizer|SUMMARY)"
    code=${PIPESTATUS[0]}
    set -e
    if [ "$code" -ne 0 ] || grep -qE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer" "$log"; then
        echo "sanitize: $sanitizer found a problem (exit $code):" >&2
        if grep -qE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer" "$log"; then
            grep -A30 -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer" "$log" | head -80 >&2
        else
            tail -40 "$log" >&2
        fi
        status=1
    fi
    rm -f "$log"
done
exit $status
