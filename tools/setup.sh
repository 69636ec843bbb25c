#!/usr/bin/env bash
# Installs what building rwkv-swift needs when it is missing: OpenBLAS's CBLAS (Debian: libopenblas-dev), and
# for the server's end-to-end test the official `openai` Python client (pip). On Debian/Ubuntu as root it runs
# apt-get; elsewhere it prints the exact command to run and stops.
# Swift 6 itself is not installed here (https://www.swift.org/install/).
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH; install Swift 6 (https://www.swift.org/install/) and run this again" >&2
    exit 1
fi

if command -v python3 >/dev/null 2>&1 && ! python3 -c "import openai" >/dev/null 2>&1; then
    echo "setup: installing the openai Python client (pip), for the server's end-to-end test" >&2
    python3 -m pip install --quiet --disable-pip-version-check openai >/dev/null 2>&1 ||
        echo "setup: pip could not install openai; the server's end-to-end test will be skipped (pip install openai)" >&2
fi

compiler=$(command -v clang || command -v cc || command -v gcc || true)
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cblas.h>\nint main(void) { openblas_set_num_threads(1); return 0; }\n' > "$probe/blas.c"
if [ -n "$compiler" ] && "$compiler" "$probe/blas.c" -lopenblas -o "$probe/blas" >/dev/null 2>&1; then
    exit 0
fi

packages="libopenblas-dev"
if [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "setup: installing $packages (apt-get)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq $packages >/dev/null
        exit 0
    fi
    echo "setup: OpenBLAS is missing; run: sudo apt-get install -y $packages" >&2
elif [ "$(uname)" = Darwin ]; then
    echo "setup: OpenBLAS is missing; run: brew install openblas (and put its include and lib folders on the compiler's paths)" >&2
elif command -v dnf >/dev/null 2>&1; then
    echo "setup: OpenBLAS is missing; run: sudo dnf install -y openblas-devel" >&2
else
    echo "setup: OpenBLAS's CBLAS (cblas.h, libopenblas) is missing; install your system's OpenBLAS development package" >&2
fi
exit 1
