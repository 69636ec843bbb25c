// F32, F16 and BF16 weights against f32 activations.
//
// F32: one token is a matvec (8 accumulators of 8 lanes over 64-value steps, loads kept in address order:
// 5–15 % more read bandwidth on Zen 4 than other orders), several tokens a BLAS GEMM per fixed block of 64
// rows (OpenBLAS single-threaded inside), so every element is summed the same way whatever the thread count.
// F16/BF16: decode streams rows one after another (rows of ≤ 64 values four at a time, their sums in one tree);
// prefill widens panels of 64 rows × 256 columns to f32 and multiplies them by BLAS, as F32 does.
// The vector code is portable (GCC vector extensions, explicit FMA): the same arithmetic at every level.

#include <cblas.h>

/// Rows per BLAS call of a several-token F32 matmul.
#define GEMM_ROWS 64

static void matmul_f32(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                       int64_t r0, int64_t r1) {
    const float *w = (const float *)weights, *x = (const float *)activations;
    if (tokens > 1) {
        for (int64_t r = r0; r < r1; r += GEMM_ROWS) {
            const int64_t rows = r1 - r < GEMM_ROWS ? r1 - r : GEMM_ROWS;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tokens, (int)rows, (int)k, 1, x, (int)k,
                        w + r * k, (int)k, 0, out + r, (int)m);
        }
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *wr = w + r * k;
        v8 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = splat8(0);
        int64_t i = 0;
        for (; i + 64 <= k; i += 64)
            for (int j = 0; j < 8; j++) {
                acc[j] = fma8(load8(wr + i + 8 * j), load8(x + i + 8 * j), acc[j]);
                // Keeps the weight loads in address order (reading a step's lines backwards cost ~20 % on Zen 4).
                if (j & 1) __asm__ volatile("" ::: "memory");
            }
        for (; i + 8 <= k; i += 8) acc[0] = fma8(load8(wr + i), load8(x + i), acc[0]);
        const v8 s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        float sum = hsum8_pairwise(s);
        for (; i < k; i++) sum += wr[i] * x[i];
        out[r] = sum;
    }
}

typedef _Float16 h8 __attribute__((vector_size(16)));

/// Eight weights widened to f32: F16 (F16C where present) or BF16 (a shift).
static inline v8 widen8(const uint16_t *p, int bf16) {
    if (bf16) {
        typedef uint32_t u8v __attribute__((vector_size(32)));
        typedef uint16_t u16v __attribute__((vector_size(16)));
        u16v raw;
        memcpy(&raw, p, sizeof raw);
        const u8v bits = __builtin_convertvector(raw, u8v) << 16;
        v8 out;
        memcpy(&out, &bits, sizeof out);
        return out;
    }
    h8 h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, v8);
}

static inline float widen1(const uint16_t *p, int bf16) {
    if (bf16) {
        const uint32_t bits = (uint32_t)*p << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    return f16_to_f32(p);
}

/// RB (1 or 4) consecutive rows against one f32 column: per row four accumulators over 32-value steps,
/// combined as (0 + 1) + (2 + 3), lanes summed pairwise, a tail of k % 8 in order. The same arithmetic per
/// row whether a row is alone or one of four.
static inline __attribute__((always_inline)) void rows_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                           const int RB, const int bf16) {
    v8 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = splat8(0);
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int j = 0; j < 4; j++) {
            const v8 xv = load8(x + i + 8 * j);
            for (int r = 0; r < RB; r++) acc[r][j] = fma8(widen8(w + r * k + i + 8 * j, bf16), xv, acc[r][j]);
        }
    for (; i + 8 <= k; i += 8) {
        const v8 xv = load8(x + i);
        for (int r = 0; r < RB; r++) acc[r][0] = fma8(widen8(w + r * k + i, bf16), xv, acc[r][0]);
    }
    v8 v[4];
    for (int r = 0; r < RB; r++) v[r] = (acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]);
    v4 sums = {0};
    if (RB == 4) sums = hsum4x8_pairwise(v[0], v[1], v[2], v[3]);
    else sums[0] = hsum8_pairwise(v[0]);
    for (int r = 0; r < RB; r++) {
        float sum = sums[r];
        for (int64_t j = i; j < k; j++) sum += widen1(w + r * k + j, bf16) * x[j];
        out[r] = sum;
    }
}

/// Columns of a widened weight panel in a several-token F16/BF16 matmul.
#define HALF_PANEL 256

/// Several tokens: each block of GEMM_ROWS rows is widened to f32 a panel of HALF_PANEL columns at a time and
/// multiplied by BLAS (the panels' products added in order), so the sums do not depend on the thread count.
static inline __attribute__((always_inline)) void gemm_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                           int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int bf16) {
    float panel[GEMM_ROWS * HALF_PANEL];
    for (int64_t r = r0; r < r1; r += GEMM_ROWS) {
        const int64_t rows = r1 - r < GEMM_ROWS ? r1 - r : GEMM_ROWS;
        for (int64_t c = 0; c < k; c += HALF_PANEL) {
            const int64_t width = k - c < HALF_PANEL ? k - c : HALF_PANEL;
            for (int64_t i = 0; i < rows; i++) {
                const uint16_t *src = w + (r + i) * k + c;
                float *dst = panel + i * width;
                int64_t j = 0;
                for (; j + 8 <= width; j += 8) store8(dst + j, widen8(src + j, bf16));
                for (; j < width; j++) dst[j] = widen1(src + j, bf16);
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tokens, (int)rows, (int)width, 1, x + c, (int)k,
                        panel, (int)width, c == 0 ? 0 : 1, out + r, (int)m);
        }
    }
}

static inline __attribute__((always_inline)) void matmul_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                             int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int bf16) {
    if (tokens > 1) {
        gemm_half(w, x, out, k, m, tokens, r0, r1, bf16);
        return;
    }
    int64_t r = r0;
    // Short rows four at a time (their horizontal sums dominate otherwise); long rows one after another,
    // one sequential stream, which the prefetcher follows best.
    if (k <= 64)
        for (; r + 4 <= r1; r += 4) rows_half(w + r * k, x, out + r, k, 4, bf16);
    for (; r < r1; r++) rows_half(w + r * k, x, out + r, k, 1, bf16);
}

static void matmul_f16(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_half((const uint16_t *)w, (const float *)x, out, k, m, tokens, r0, r1, 0);
}

static void matmul_bf16(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_half((const uint16_t *)w, (const float *)x, out, k, m, tokens, r0, r1, 1);
}
