// Q8_0 (and Q8_0s) activation quantizer: ggml's reference rounding (roundf, ties away from zero), vectorised.
#include "CKernels.h"

#include <math.h>
#include <string.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

static inline uint16_t f32_to_f16(float f) {
    _Float16 h = (_Float16)f;
    uint16_t bits;
    memcpy(&bits, &h, 2);
    return bits;
}

/// Quantizes one block of 32 values as ggml's quantize_row_q8_0 does: the f16 scale bits and 32 quants.
/// Returns the quants' sum (free where the caller ignores it: the function is inlined).
static inline int32_t quantize_block(const float *x, uint16_t *scale_bits, int8_t *q) {
#if defined(__AVX2__)
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float max_abs = _mm_cvtss_f32(m4);
    const float d = max_abs / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *scale_bits = f32_to_f16(d);
    const __m256 scale = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256i qi[4];
    for (int i = 0; i < 4; i++) {
        // round half away from zero, exactly: trunc(|v|) + (frac ≥ 0.5), with the sign put back.
        const __m256 p = _mm256_mul_ps(v[i], scale);
        const __m256 a = _mm256_andnot_ps(sign, p);
        const __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 r = _mm256_add_ps(t, _mm256_and_ps(one, _mm256_cmp_ps(_mm256_sub_ps(a, t), half, _CMP_GE_OQ)));
        qi[i] = _mm256_cvttps_epi32(_mm256_or_ps(r, _mm256_and_ps(sign, p)));
    }
    const __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]);
    const __m256i p23 = _mm256_packs_epi32(qi[2], qi[3]);
    __m256i bytes = _mm256_packs_epi16(p01, p23);
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, bytes);
    // Σq: the byte sums of q + 128 (psadbw against zero), less 32 · 128.
    const __m256i sums = _mm256_sad_epu8(_mm256_xor_si256(bytes, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    return (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
#else
    float max_abs = 0;
    for (int j = 0; j < 32; j++) max_abs = fmaxf(max_abs, fabsf(x[j]));
    const float d = max_abs / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *scale_bits = f32_to_f16(d);
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)roundf(x[j] * id);
        sum += q[j];
    }
    return sum;
#endif
}

void rwkv_quantize_row_q8_0(const float *x, void *out, int64_t k) {
    uint8_t *dst = (uint8_t *)out;
    for (int64_t b = 0; b < k / 32; b++, x += 32, dst += 34) {
        uint16_t scale_bits;
        quantize_block(x, &scale_bits, (int8_t *)(dst + 2));
        memcpy(dst, &scale_bits, 2);
    }
}

// Q8_0s block: f32 scale (the f16 value), int32 sum of the quants, 32 quants.
void rwkv_quantize_row_q8_0s(const float *x, void *out, int64_t k) {
    uint8_t *dst = (uint8_t *)out;
    for (int64_t b = 0; b < k / 32; b++, x += 32, dst += 40) {
        uint16_t scale_bits;
        const int32_t sum = quantize_block(x, &scale_bits, (int8_t *)(dst + 8));
        _Float16 h;
        memcpy(&h, &scale_bits, 2);
        const float d = (float)h;
        memcpy(dst, &d, 4);
        memcpy(dst + 4, &sum, 4);
    }
}
