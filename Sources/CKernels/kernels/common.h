// Shared by every kernel header. A level file (level_*.c) defines RWKV_LEVEL and RWKV_TABLE, includes the
// system headers, opens a `#pragma clang attribute` region that compiles every function for its ISA, and
// includes kernels/all.h. Every kernel is written once: portable C (GCC vector extensions, explicit fmaf) where
// the compiler vectorises well, intrinsics under `#if RWKV_SIMD` where it does not, with a scalar path that
// does the same arithmetic in the same order, so every level gives bit-identical results.
#ifndef RWKV_LEVEL
#error "include kernels/common.h from a level file"
#endif

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "CKernels.h"

// RWKV_LEVEL is the level's number, as in rwkv_isa (a plain number: the preprocessor cannot see enums).
/// AVX2 intrinsics (and the F16C/FMA/BMI2 that come with them) are available.
#define RWKV_SIMD (RWKV_LEVEL >= 1)
/// AVX-512 VNNI `vpdpbusd` on 256-bit registers is available.
#define RWKV_VNNI (RWKV_LEVEL >= 3)

// Results must not depend on whether the compiler fuses a multiply and an add: FMA only where written.
#pragma clang fp contract(off)
// Vector types wider than the level's registers are passed only to inlined helpers.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float v4 __attribute__((vector_size(16)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

static inline v8 load8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store8(float *p, v8 v) { memcpy(p, &v, sizeof v); }

static inline v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

/// A zero the compiler cannot fold: arrays of accumulators started from it stay in registers, where a constant
/// start lets clang turn their initialisation into a memset of stack memory (a call per row).
static inline v8 zero8(void) {
    v8 z = {0};
#if RWKV_LEVEL >= 1
    __asm__("" : "+x"(z));
#endif
    return z;
}

#if RWKV_LEVEL >= 2
static inline v16 zero16(void) {
    v16 z = {0};
    __asm__("" : "+v"(z));
    return z;
}
#endif

static inline v8 splat8(float x) { return (v8){x, x, x, x, x, x, x, x}; }
#if RWKV_LEVEL >= 2
static inline v16 splat16(float x) { return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
#endif

/// `a · b + c` per lane, rounded once (a libm call per lane at the scalar level, where it is exact too).
static inline v8 fma8(v8 a, v8 b, v8 c) { return __builtin_elementwise_fma(a, b, c); }
static inline v16 fma16(v16 a, v16 b, v16 c) { return __builtin_elementwise_fma(a, b, c); }

/// Sum of 8 lanes as ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)): halves, then a pairwise tree.
static inline float hsum8(v8 v) {
    v4 h = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
    h = h + __builtin_shufflevector(h, h, 2, 3, 0, 1);
    return h[0] + h[1];
}

/// Sum of 16 lanes by halving (8 + 8, 4 + 4, then (0 + 2) + (1 + 3)).
static inline float hsum16(v16 v) {
    v8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    float a = q[0] + q[2], b = q[1] + q[3];
    return a + b;
}

static inline float f16_to_f32(const void *p) {
    _Float16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

static inline uint16_t f32_to_f16_bits(float f) {
    _Float16 h = (_Float16)f;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

/// `((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7))`: the order of a tree of horizontal adds.
static inline float hsum8_pairwise(v8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

/// Pairwise adds of neighbouring lanes of a and b, as x86's hadd: (a0+a1, a2+a3, b0+b1, b2+b3 | a4+a5, …).
static inline v8 hadd8(v8 a, v8 b) {
    return __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14) + __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
}

/// The ``hsum8_pairwise`` of four vectors at once (three horizontal adds and one add).
static inline v4 hsum4x8_pairwise(v8 a, v8 b, v8 c, v8 d) {
    const v8 h = hadd8(hadd8(a, b), hadd8(c, d));
    return __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
}

/// The first of n values of largest magnitude, signed (ggml's quantizers scale blocks by it); its magnitude
/// goes to `amax`.
static inline float largest_magnitude(int n, const float *x, float *amax) {
    float max = 0;
    *amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > *amax) {
            *amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}

/// Asks for the `bytes` of a weight stream that lie `ahead` bytes past `p`, one cache line at a time. A decode
/// step streams every weight once, and a kernel that computes between its loads leaves the hardware prefetcher
/// too short a lead: one core's product of a 113 MB Q4_0 matrix by one token ran 1.2× faster with 2 KiB.
static inline void prefetch_stream(const void *p, int64_t ahead, int64_t bytes) {
    for (int64_t line = 0; line < bytes; line += 64) __builtin_prefetch((const char *)p + ahead + line, 0, 3);
}

/// How far ahead the kernels that stream weights (the interleaved tiles, F32/F16/BF16 decode) prefetch them.
#define R8_PREFETCH 2048

/// `prefetch_stream` for a tile that walks two row groups side by side, block by block: group A's `bytes` at
/// `a` (`offset` bytes into A), group B's at `b`, B right after A in memory (`group_bytes` each). Where `ahead`
/// lies past A's end, it asks for the same place in the next two groups instead, which the next tile reads:
/// A's stream would run into B (already being read) and B's into the next A, leaving the next B cold (a
/// 3072 × 768 Q8_0 matrix at 8 tokens, streamed: 1.2× slower).
static inline void prefetch_group_pair(const uint8_t *a, const uint8_t *b, int64_t offset, int64_t group_bytes, int64_t ahead,
                                       int64_t bytes) {
    const int64_t next = offset + ahead >= group_bytes ? group_bytes : 0;
    prefetch_stream(a, ahead + next, bytes);
    prefetch_stream(b, ahead + next, bytes);
}

#if RWKV_SIMD
/// The largest of v's 8 lanes (the quantizers' largest magnitude, from a vector of lane maxima).
static inline float max_lane8(__m256 v) {
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
}

/// acc + the sums of pairs of 16-bit products a · b, as exact int32 (wrapping): where VNNI is and `fused`, one
/// `vpdpwssd`; else `vpmaddwd`, then `vpaddd`. The fused form puts a 5-cycle multiply on acc's dependency
/// chain, so the K-quant tiles fuse only where several tokens' sums interleave. The same integers either way.
static inline __attribute__((always_inline)) __m256i add_pair_products(__m256i acc, __m256i a, __m256i b, const int fused) {
#if RWKV_VNNI
    if (fused) return _mm256_dpwssd_epi32(acc, a, b);
#endif
    (void)fused;
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}
#endif

/// Bytes of a Q8_0 and a Q4_0 block.
#define Q8_BYTES ((int64_t)sizeof(rwkv_block_q8_0))
#define Q4_BYTES ((int64_t)sizeof(rwkv_block_q4_0))

/// Input `i` of a task as floats.
#define IN(t, i) ((float *)(t)->in[i])
