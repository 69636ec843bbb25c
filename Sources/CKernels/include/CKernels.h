#ifndef RWKV_CKERNELS_H
#define RWKV_CKERNELS_H

#include <stdint.h>

/// The instruction set the int8 kernels were compiled for: "avx512vnni", "avx2" or "scalar".
const char *rwkv_kernels_isa(void);

/// Quantizes `k` floats (a multiple of 32) to Q8_0 blocks, bit-identical to ggml's reference quantizer.
void rwkv_quantize_row_q8_0(const float *x, void *out, int64_t k);

/// out[t * m + r] = dot(weight row r, activation row t) for rows r in [r0, r1) and all `tokens`.
/// Weights: Q8_0 or Q4_0 rows of k elements; activations: Q8_0 rows of k elements.
void rwkv_matmul_q8_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1);
void rwkv_matmul_q4_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1);

/// Weights interleaved by 8 rows (the r8 layouts, described in matmul_r8.c) against Q8_0s activations
/// (per block of 32: f32 scale, int32 sum of the quants, 32 int8 quants). r0 and r1 are multiples of 8.
void rwkv_matmul_q8_0r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1);
void rwkv_matmul_q4_0r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1);

/// Interleaves `rows` (a multiple of 8) Q8_0 (q4 = 0) or Q4_0 (q4 = 1) rows of k elements into the r8 layout,
/// and back.
void rwkv_pack_rows8(const void *src, void *dst, int64_t rows, int64_t k, int q4);
void rwkv_unpack_rows8(const void *src, void *dst, int64_t rows, int64_t k, int q4);

/// Quantizes `k` floats to Q8_0s blocks: the Q8_0 quants and scale of ``rwkv_quantize_row_q8_0`` plus their sum.
void rwkv_quantize_row_q8_0s(const float *x, void *out, int64_t k);

/// out[r] = dot(f32 weight row r, x) for r in [r0, r1): 8 accumulators over 64-value steps, loads in address order.
void rwkv_matvec_f32(const float *w, const float *x, float *out, int64_t k, int64_t r0, int64_t r1);

/// The same for F16 weights and f32 activations.
void rwkv_matmul_f16(const uint16_t *w, const float *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1);

/// out = exp(x) (within 2 ulp) and out = 1 / (1 + exp(−x)) (within 3 ulp), vectorised; in place allowed.
void rwkv_exp_f32(const float *x, float *out, int64_t count);
void rwkv_sigmoid_f32(const float *x, float *out, int64_t count);

/// The WKV-7 recurrence of one head of size 64 for value rows [row0, row1) over `tokens` tokens.
/// r, w, k, v, a, b point at the head's first channel of token 0; consecutive tokens are `stride` floats
/// apart. `state` is the head's 64 × 64 matrix (row = value channel), updated in place; y gets row outputs.
void rwkv_wkv7_head64(const float *r, const float *w, const float *k, const float *v, const float *a, const float *b,
                      float *state, float *y, int64_t stride, int64_t tokens, int64_t row0, int64_t row1);

#endif
