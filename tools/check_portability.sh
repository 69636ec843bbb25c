#!/usr/bin/env bash
# One binary for every x86-64: runs the release binary on CPUs it was not built for, under Debian's qemu-user,
# on the project's model, and checks that the logits equal the native run's bit for bit (every kernel level
# does the same arithmetic). An instruction the emulated CPU lacks outside the dispatched kernels (say AVX-512
# in code compiled for the build machine) kills the run with SIGILL and fails the check.
#
#   -cpu Haswell   AVX2/FMA/F16C, no AVX-512: the avx2 kernels
#   -cpu qemu64    baseline x86-64 (SSE2): the scalar kernels
#   RWKV_ISA=…     every level this machine runs, natively
#
# Usage: tools/check_portability.sh [path/to/rwkv]   (default .build/release/rwkv; needs qemu-user)
set -euo pipefail
cd "$(dirname "$0")/.."
rwkv=${1:-.build/release/rwkv}
model=models/rwkv7-tiny-stories.gguf
text="Once upon a time, in a small village, there lived a girl named Lily. She loved to play in the meadow."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ "$(uname -m)" != x86_64 ]; then echo "portability: not an x86-64 machine; nothing to check"; exit 0; fi
command -v qemu-x86_64 >/dev/null || { echo "portability: qemu-x86_64 is missing (Debian: apt-get install qemu-user)" >&2; exit 1; }

# OpenBLAS (the F32 prefill GEMM) picks its own kernels from cpuid, with their own summation order: every run
# here uses its generic SSE3 ones, so that only our kernels differ between runs. (qemu64 also claims an AMD CPU
# with 3DNow!, which qemu does not emulate, so OpenBLAS's own choice would fail there.)
export OPENBLAS_CORETYPE=Prescott
"$rwkv" logits -m "$model" --text "$text" -o "$out/native.safetensors" 2>/dev/null
native_text=$("$rwkv" generate -m "$model" -p "Once upon a time" -n 40 --temperature 0 2>/dev/null)

same() {  # name, dump
    "$rwkv" compare "$out/native.safetensors" "$2" --max-abs 0 >/dev/null || {
        echo "portability: $1 gives other logits than the native run" >&2
        "$rwkv" compare "$out/native.safetensors" "$2" >&2
        exit 1
    }
    echo "portability: $1: logits bit-identical to the native run"
}

for level in scalar avx2 avx512 avx512vnni; do
    RWKV_ISA=$level "$rwkv" logits -m "$model" --text "$text" -o "$out/$level.safetensors" 2>"$out/$level.err"
    if grep -q "not supported by this CPU" "$out/$level.err"; then echo "portability: $level: not on this CPU, skipped"; continue; fi
    same "RWKV_ISA=$level" "$out/$level.safetensors"
done

for cpu in Haswell qemu64; do
    qemu-x86_64 -cpu $cpu "$rwkv" logits -m "$model" --text "$text" -o "$out/$cpu.safetensors" 2>/dev/null \
        || { echo "portability: the binary failed under qemu -cpu $cpu (status $?)" >&2; exit 1; }
    same "qemu -cpu $cpu" "$out/$cpu.safetensors"
    generated=$(qemu-x86_64 -cpu $cpu "$rwkv" generate -m "$model" -p "Once upon a time" -n 40 --temperature 0 2>/dev/null)
    [ "$generated" = "$native_text" ] || { echo "portability: qemu -cpu $cpu generated other text" >&2; exit 1; }
    echo "portability: qemu -cpu $cpu: the same 40 generated tokens"
done
