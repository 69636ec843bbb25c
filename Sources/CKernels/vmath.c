// Vectorised exp and sigmoid for the element-wise kernels (libm's expf is scalar: about 3 ns an element).
// exp(x) = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 (Cody–Waite split of ln 2), e^r from Cephes'
// degree-7 polynomial on |r| ≤ ln2/2; 2^n is applied as two powers of two so results down to the subnormals
// and up to the overflow to +inf come out right. Within 2 ulp of the exact value (tested against double);
// sigmoid within 3.
#include "CKernels.h"

#include <math.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#if defined(__AVX2__)
static inline __m256 pow2i(__m256i n) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
}

static inline __m256 exp8(__m256 x) {
    const __m256 clamped = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-104.0f)), _mm256_set1_ps(89.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(clamped, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), clamped);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i half = _mm256_srai_epi32(ni, 1);
    const __m256 result = _mm256_mul_ps(_mm256_mul_ps(p, pow2i(half)), pow2i(_mm256_sub_epi32(ni, half)));
    // NaN stays NaN (the clamp above turned it into a number).
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static inline __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f)))));
}

/// out[i] = f(x[i]) eight at a time; a tail of count % 8 goes through f too (zero-padded), so every element
/// gets the same arithmetic wherever it sits.
static inline __attribute__((always_inline)) void map8(const float *x, float *out, int64_t count, __m256 (*f)(__m256)) {
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(out + i, f(_mm256_loadu_ps(x + i)));
    if (i < count) {
        float in[8] = {0}, res[8];
        for (int64_t j = i; j < count; j++) in[j - i] = x[j];
        _mm256_storeu_ps(res, f(_mm256_loadu_ps(in)));
        for (int64_t j = i; j < count; j++) out[j] = res[j - i];
    }
}
#endif

void rwkv_exp_f32(const float *x, float *out, int64_t count) {
#if defined(__AVX2__)
    map8(x, out, count, exp8);
#else
    for (int64_t i = 0; i < count; i++) out[i] = expf(x[i]);
#endif
}

void rwkv_sigmoid_f32(const float *x, float *out, int64_t count) {
#if defined(__AVX2__)
    map8(x, out, count, sigmoid8);
#else
    for (int64_t i = 0; i < count; i++) out[i] = 1.0f / (1.0f + expf(-x[i]));
#endif
}
