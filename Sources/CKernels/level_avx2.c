// The avx2 level: AVX2, FMA, F16C, BMI1/2 (Haswell and later, Zen).
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <cblas.h>

#define RWKV_LEVEL 1
#define RWKV_TABLE rwkv_kernels_avx2
#pragma clang attribute push(__attribute__((target("arch=haswell"))), apply_to = function)
#include "kernels/all.h"
#pragma clang attribute pop
#endif
