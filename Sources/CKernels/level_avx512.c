// The avx512 level: AVX-512 F/BW/DQ/VL/CD (Skylake-SP, Zen 4), 256-bit vectors preferred as LLVM tunes that CPU.
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <cblas.h>

#define RWKV_LEVEL 2
#define RWKV_TABLE rwkv_kernels_avx512
#pragma clang attribute push(__attribute__((target("arch=skylake-avx512"))), apply_to = function)
#include "kernels/all.h"
#pragma clang attribute pop
#endif
