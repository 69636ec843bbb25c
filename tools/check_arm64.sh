#!/usr/bin/env bash
# The C kernels keep compiling for arm64: every CKernels and CThreads source cross-compiled to an object for
# aarch64-linux-gnu (only the scalar level exists there; the x86 level files compile to nothing).
# Needs Debian's libc6-dev-arm64-cross (the aarch64 C headers); installs it as root where it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
sysroot=/usr/aarch64-linux-gnu/include
if [ ! -d "$sysroot" ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq libc6-dev-arm64-cross >/dev/null
    else
        echo "arm64: the aarch64 C headers are missing (Debian: apt-get install libc6-dev-arm64-cross)" >&2
        exit 1
    fi
fi
# cblas.h declares the same functions on every architecture: the host's copy serves for the declarations.
blas=$(dirname "$(readlink -f /usr/include/x86_64-linux-gnu/cblas.h 2>/dev/null || echo /usr/include/cblas.h)")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for source in Sources/CKernels/*.c Sources/CThreads/*.c; do
    clang --target=aarch64-linux-gnu -O2 -c -Werror -isystem "$sysroot" -isystem "$blas" \
        -I Sources/CKernels/include -I Sources/CThreads/include "$source" -o "$out/$(basename "$source").o"
done
echo "arm64: $(ls "$out" | wc -l) C sources compile for aarch64-linux-gnu"
