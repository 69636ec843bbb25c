// Quantized and F16 matrix products, tiled over 4 weight rows × 4 tokens so each weight block is loaded
// once per 4 tokens. Per (row, token) the arithmetic is the same whatever the tile, so results do not
// depend on how rows and tokens are grouped (or on the thread count).
//
// Integer dot products of one 32-value block, as 8 int32 lanes:
//   Q8_0 · Q8_0: AVX-512 VNNI vpdpbusd on (x + 128) as unsigned bytes against signed w, started from
//                −128·Σw (so the offset cancels exactly); AVX2: maddubs(|w|, sign(x, w)) + madd.
//   Q4_0 · Q8_0: vpdpbusd on the nibbles q (0…15, unsigned) against signed x, started from −8·Σx.
// Then acc += float(sum) · (d_w · d_x), one FMA per block, and a fixed-order horizontal sum at the end.
#include "CKernels.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

static inline float f16_to_f32(const uint8_t *p) {
    _Float16 h;
    memcpy(&h, p, 2);
    return (float)h;
}

const char *rwkv_kernels_isa(void) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return "avx512vnni";
#elif defined(__AVX2__)
    return "avx2";
#else
    return "scalar";
#endif
}

#define Q8_BYTES 34
#define Q4_BYTES 18

#if defined(__AVX2__)

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// The horizontal sums of four vectors, each as ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)).
static inline __m128 hsum4x8(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/// One vector's horizontal sum in the same pairwise order as ``hsum4x8``.
static inline float hsum8_pairwise(__m256 v) { return _mm_cvtss_f32(hsum4x8(v, v, v, v)); }

static inline __m256i load_q4_nibbles(const uint8_t *qs) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(packed, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
static inline __m256i dot_u8_s8(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
#else
static inline __m256i dot_u8_s8(__m256i acc, __m256i u, __m256i s) {
    const __m256i pairs = _mm256_maddubs_epi16(u, s);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}
#endif

/// F16 · F32 over RB rows × TB tokens, 8 values per step, lanes summed pairwise; a tail of k % 8 in order.
static inline __attribute__((always_inline)) void tile_f16(const uint16_t *w, const float *x, float *out, int64_t k, int64_t m,
                                                            int64_t row, int64_t token, const int RB, const int TB) {
    __m256 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 xv[4];
        for (int t = 0; t < TB; t++) xv[t] = _mm256_loadu_ps(x + (token + t) * k + i);
        for (int r = 0; r < RB; r++) {
            const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + (row + r) * k + i)));
            for (int t = 0; t < TB; t++) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    for (int t = 0; t < TB; t++) {
        // Four rows' sums at once (three horizontal adds), or one row's in the same order.
        float sums[4];
        if (RB == 4) _mm_storeu_ps(sums, hsum4x8(acc[0][t], acc[1][t], acc[2][t], acc[3][t]));
        else sums[0] = hsum8_pairwise(acc[0][t]);
        if (RB == 4 && i == k) {
            _mm_storeu_ps(out + (token + t) * m + row, _mm_loadu_ps(sums));
            continue;
        }
        for (int r = 0; r < RB; r++) {
            float sum = sums[r];
            for (int64_t j = i; j < k; j++) sum += f16_to_f32((const uint8_t *)(w + (row + r) * k + j)) * x[(token + t) * k + j];
            out[(token + t) * m + row + r] = sum;
        }
    }
}

// Decode (one token): rows one after another, so the weights stream sequentially (interleaving rows
// defeats the hardware prefetcher: measured 10 vs 23 GB/s for F16), with two accumulators to hide latency.

/// Per activation block of a decode row: its scale and the int32 lanes a weight dot product starts from
/// (−128·Σx for Q8_0 weights offset to unsigned, −8·Σx for Q4_0 nibbles).
typedef struct {
    float d;
    __m256i start;
    __m256i q;
} prepared_block;

static inline void prepare_q8_0(const uint8_t *x, int64_t nb, prepared_block *out, int offset) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = x + b * Q8_BYTES;
        out[b].d = f16_to_f32(xb);
        out[b].q = _mm256_loadu_si256((const __m256i *)(xb + 2));
        out[b].start = _mm256_sub_epi32(_mm256_setzero_si256(), dot_u8_s8(_mm256_setzero_si256(), _mm256_set1_epi8((char)offset), out[b].q));
    }
}

static inline __m256i dot_q8_block(const uint8_t *wb, const prepared_block *x) {
    const __m256i wq = _mm256_loadu_si256((const __m256i *)(wb + 2));
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    // (w + 128) as unsigned bytes against signed x, started from −128·Σx.
    return _mm256_dpbusd_epi32(x->start, _mm256_xor_si256(wq, _mm256_set1_epi8((char)0x80)), x->q);
#else
    return dot_u8_s8(_mm256_setzero_si256(), _mm256_sign_epi8(wq, wq), _mm256_sign_epi8(x->q, wq));
#endif
}

/// The f16 scales of eight consecutive blocks (`block_bytes` apart), widened in one instruction.
static inline __m256 eight_scales(const uint8_t *wb, int64_t block_bytes) {
    uint16_t h[8];
    for (int j = 0; j < 8; j++) memcpy(&h[j], wb + j * block_bytes, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

/// The unsigned offset the activations are prepared for: −8·Σx for Q4_0 nibbles; for Q8_0 weights offset to
/// unsigned (VNNI) −128·Σx, or none (the AVX2 sign trick).
static inline int activation_offset(int q4) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return q4 ? 8 : 0x80;
#else
    return q4 ? 8 : 0;
#endif
}

static inline float row_q8_0(const uint8_t *wr, const prepared_block *x, int64_t nb) {
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t b = 0;
    // Eight blocks at a time: their f16 scales widened together, each block's then taken from a register.
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *wb = wr + b * Q8_BYTES;
        const __m256 dw = eight_scales(wb, Q8_BYTES);
        for (int j = 0; j < 8; j++) {
            const __m256i sum = dot_q8_block(wb + j * Q8_BYTES, &x[b + j]);
            const __m256 scale = _mm256_mul_ps(_mm256_permutevar8x32_ps(dw, _mm256_set1_epi32(j)), _mm256_set1_ps(x[b + j].d));
            acc[j & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[j & 1]);
        }
    }
    for (; b < nb; b++) {
        const uint8_t *wb = wr + b * Q8_BYTES;
        acc[b & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot_q8_block(wb, &x[b])), _mm256_set1_ps(f16_to_f32(wb) * x[b].d), acc[b & 1]);
    }
    return hsum8(_mm256_add_ps(acc[0], acc[1]));
}

static inline float row_q4_0(const uint8_t *wr, const prepared_block *x, int64_t nb) {
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    const __m256i shifts = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4), mask = _mm256_set1_epi8(0x0F);
    int64_t b = 0;
    // Eight blocks at a time: their f16 scales widened together, each block's then taken from a register.
    for (; b + 8 <= nb; b += 8) {
        const uint8_t *wb = wr + b * Q4_BYTES;
        const __m256 dw = eight_scales(wb, Q4_BYTES);
        for (int j = 0; j < 8; j++) {
            // Both halves of the 16 quant bytes in one register: low nibbles in lane 0, high in lane 1.
            const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(wb + j * Q4_BYTES + 2)));
            const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(both, shifts), mask);
            const __m256i sum = dot_u8_s8(x[b + j].start, q, x[b + j].q);
            const __m256 scale = _mm256_mul_ps(_mm256_permutevar8x32_ps(dw, _mm256_set1_epi32(j)), _mm256_set1_ps(x[b + j].d));
            acc[j & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), scale, acc[j & 1]);
        }
    }
    for (; b < nb; b++) {
        const uint8_t *wb = wr + b * Q4_BYTES;
        const __m256i sum = dot_u8_s8(x[b].start, load_q4_nibbles(wb + 2), x[b].q);
        acc[b & 1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(f16_to_f32(wb) * x[b].d), acc[b & 1]);
    }
    return hsum8(_mm256_add_ps(acc[0], acc[1]));
}

/// RB (1 or 4) consecutive F16 rows against one f32 column: per row four accumulators over 32-value steps,
/// combined as (0 + 1) + (2 + 3), lanes summed pairwise (four rows' at once), a tail of k % 8 in order. The
/// same arithmetic per row whether a row is alone or one of four.
static inline __attribute__((always_inline)) void rows_f16(const uint16_t *w, const float *x, float *out, int64_t k, const int RB) {
    __m256 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int j = 0; j < 4; j++) {
            const __m256 xv = _mm256_loadu_ps(x + i + 8 * j);
            for (int r = 0; r < RB; r++)
                acc[r][j] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + r * k + i + 8 * j))), xv, acc[r][j]);
        }
    for (; i + 8 <= k; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        for (int r = 0; r < RB; r++)
            acc[r][0] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + r * k + i))), xv, acc[r][0]);
    }
    __m256 v[4];
    for (int r = 0; r < RB; r++) v[r] = _mm256_add_ps(_mm256_add_ps(acc[r][0], acc[r][1]), _mm256_add_ps(acc[r][2], acc[r][3]));
    float sums[4];
    if (RB == 4) _mm_storeu_ps(sums, hsum4x8(v[0], v[1], v[2], v[3]));
    else sums[0] = hsum8_pairwise(v[0]);
    for (int r = 0; r < RB; r++) {
        float sum = sums[r];
        for (int64_t j = i; j < k; j++) sum += f16_to_f32((const uint8_t *)(w + r * k + j)) * x[j];
        out[r] = sum;
    }
}

// Prefill with prepared activations: each 4-token tile's blocks are prepared once (scale, the int32 start
// lanes, the quants) and reused by every 4-row weight tile of the unit. The integer sums are exact, so the
// results are the same as preparing them per tile.

static inline __attribute__((always_inline)) void tile_prepared(const uint8_t *w, const prepared_block *x, float *out, int64_t nb,
                                                                 int64_t m, int64_t row, int64_t token, const int RB, const int TB, const int q4) {
    const int64_t block = q4 ? Q4_BYTES : Q8_BYTES, row_bytes = nb * block;
    __m256 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256 dxv[4];
        for (int t = 0; t < TB; t++) dxv[t] = _mm256_set1_ps(x[t * nb + b].d);
        for (int r = 0; r < RB; r++) {
            const uint8_t *wb = w + (row + r) * row_bytes + b * block;
            const __m256 dwv = _mm256_set1_ps(f16_to_f32(wb));
            if (q4) {
                const __m256i q = load_q4_nibbles(wb + 2);
                for (int t = 0; t < TB; t++) {
                    const __m256i sum = dot_u8_s8(x[t * nb + b].start, q, x[t * nb + b].q);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dwv, dxv[t]), acc[r][t]);
                }
            } else {
                for (int t = 0; t < TB; t++) {
                    const __m256i sum = dot_q8_block(wb, &x[t * nb + b]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dwv, dxv[t]), acc[r][t]);
                }
            }
        }
    }
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) out[(token + t) * m + row + r] = hsum8(acc[r][t]);
}

static void prefill_quantized(const uint8_t *w, const uint8_t *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int q4) {
    const int64_t nb = k / 32;
    const int offset = activation_offset(q4);
    prepared_block prepared[4 * nb];
    int64_t t = 0;
    for (; t + 4 <= tokens; t += 4) {
        prepare_q8_0(x + t * nb * Q8_BYTES, 4 * nb, prepared, offset);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_prepared(w, prepared, out, nb, m, r, t, 4, 4, q4);
        for (; r < r1; r++) tile_prepared(w, prepared, out, nb, m, r, t, 1, 4, q4);
    }
    for (; t < tokens; t++) {
        prepare_q8_0(x + t * nb * Q8_BYTES, nb, prepared, offset);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_prepared(w, prepared, out, nb, m, r, t, 4, 1, q4);
        for (; r < r1; r++) tile_prepared(w, prepared, out, nb, m, r, t, 1, 1, q4);
    }
}

/// Decode: the activation row prepared once, then the weight rows one after another.
static void decode_quantized(const uint8_t *w, const uint8_t *x, float *out, int64_t k, int64_t r0, int64_t r1, const int q4) {
    const int64_t nb = k / 32;
    prepared_block blocks[nb];
    prepare_q8_0(x, nb, blocks, activation_offset(q4));
    for (int64_t r = r0; r < r1; r++)
        out[r] = q4 ? row_q4_0(w + r * nb * Q4_BYTES, blocks, nb) : row_q8_0(w + r * nb * Q8_BYTES, blocks, nb);
}

void rwkv_matmul_q8_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1) decode_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, r0, r1, 0);
    else prefill_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, m, tokens, r0, r1, 0);
}

void rwkv_matmul_q4_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1) decode_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, r0, r1, 1);
    else prefill_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, m, tokens, r0, r1, 1);
}

void rwkv_matvec_f32(const float *w, const float *x, float *out, int64_t k, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const float *wr = w + r * k;
        __m256 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 64 <= k; i += 64)
            for (int j = 0; j < 8; j++) {
                acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i + 8 * j), _mm256_loadu_ps(x + i + 8 * j), acc[j]);
                // Keeps the weight loads in address order (reading a step's lines backwards cost ~20 % on Zen 4).
                if (j & 1) __asm__ volatile("" ::: "memory");
            }
        for (; i + 8 <= k; i += 8) acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(x + i), acc[0]);
        const __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])),
                                       _mm256_add_ps(_mm256_add_ps(acc[4], acc[5]), _mm256_add_ps(acc[6], acc[7])));
        float sum = hsum8_pairwise(s);
        for (; i < k; i++) sum += wr[i] * x[i];
        out[r] = sum;
    }
}

void rwkv_matmul_f16(const uint16_t *w, const float *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1) {
        int64_t r = r0;
        // Short rows four at a time (their horizontal sums dominate otherwise); long rows one after another,
        // one sequential stream, which the prefetcher follows best.
        if (k <= 64)
            for (; r + 4 <= r1; r += 4) rows_f16(w + r * k, x, out + r, k, 4);
        for (; r < r1; r++) rows_f16(w + r * k, x, out + r, k, 1);
        return;
    }
    int64_t t = 0;
    for (; t + 4 <= tokens; t += 4) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_f16(w, x, out, k, m, r, t, 4, 4);
        for (; r < r1; r++) tile_f16(w, x, out, k, m, r, t, 1, 4);
    }
    for (; t < tokens; t++) {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_f16(w, x, out, k, m, r, t, 4, 1);
        for (; r < r1; r++) tile_f16(w, x, out, k, m, r, t, 1, 1);
    }
}


#else  // portable scalar versions: the same per-block arithmetic without SIMD

void rwkv_matmul_q8_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    const int64_t nb = k / 32;
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = r0; r < r1; r++) {
            float sum = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *wb = (const uint8_t *)w + (r * nb + b) * Q8_BYTES, *xb = (const uint8_t *)x + (t * nb + b) * Q8_BYTES;
                int32_t s = 0;
                for (int j = 0; j < 32; j++) s += (int8_t)wb[2 + j] * (int8_t)xb[2 + j];
                sum += (float)s * (f16_to_f32(wb) * f16_to_f32(xb));
            }
            out[t * m + r] = sum;
        }
}

void rwkv_matmul_q4_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    const int64_t nb = k / 32;
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = r0; r < r1; r++) {
            float sum = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *wb = (const uint8_t *)w + (r * nb + b) * Q4_BYTES, *xb = (const uint8_t *)x + (t * nb + b) * Q8_BYTES;
                int32_t s = 0;
                for (int j = 0; j < 16; j++) {
                    s += ((wb[2 + j] & 0x0F) - 8) * (int8_t)xb[2 + j];
                    s += ((wb[2 + j] >> 4) - 8) * (int8_t)xb[2 + j + 16];
                }
                sum += (float)s * (f16_to_f32(wb) * f16_to_f32(xb));
            }
            out[t * m + r] = sum;
        }
}

void rwkv_matvec_f32(const float *w, const float *x, float *out, int64_t k, int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        float sum = 0;
        for (int64_t i = 0; i < k; i++) sum += w[r * k + i] * x[i];
        out[r] = sum;
    }
}

void rwkv_matmul_f16(const uint16_t *w, const float *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = r0; r < r1; r++) {
            float sum = 0;
            for (int64_t j = 0; j < k; j++) sum += f16_to_f32((const uint8_t *)(w + r * k + j)) * x[t * k + j];
            out[t * m + r] = sum;
        }
}
#endif
