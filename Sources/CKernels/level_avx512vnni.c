// The avx512vnni level: AVX-512 with VNNI (Cascade Lake, Ice Lake, Zen 4).
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <cblas.h>

#define RWKV_LEVEL 3
#define RWKV_TABLE rwkv_kernels_avx512vnni
#pragma clang attribute push(__attribute__((target("arch=skylake-avx512,avx512vnni"))), apply_to = function)
#include "kernels/all.h"
#pragma clang attribute pop
#endif
