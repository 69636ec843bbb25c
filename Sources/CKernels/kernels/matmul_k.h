// K-quant matmuls (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) and IQ4_XS on int8 dot products against Q8_K activations, as ggml
// multiplies them.
//
// A weight super-block is unpacked into 256 unsigned quants (0…3, 0…7, 0…15, 0…31 or 0…63) and 16 int16 scales, one per
// group of 16 values (a Q4_K/Q5_K sub-block of 32 gives its scale to both of its groups). Its integer dot with
// an activation block is Σ_g scale_g · Σ_{v ∈ g} q_v·x_v — AVX2 `vpmaddubsw` (unsigned quants against signed
// activations: the pair sums cannot saturate) then `vpmaddwd` by the scales; the scalar level sums the same
// integers. The minimums (Q2_K/Q4_K/Q5_K: dmin·m_s, Q3_K/Q6_K: the −4/−32 offset) come from the activation block's sums of
// 16. IQ4_XS unpacks to its table's signed values (−127…113) instead, with no minimum: `vpmaddubsw` takes their
// magnitudes against the activations given their signs (pair sums ≤ 2·127·127, no saturation either). Both stay in 8 lanes per token, scaled per super-block into f32 lane accumulators (accumulate_k) and
// reduced once per row, so every level and every tiling gives the same bits.

// MARK: - Q8_K activations

#if RWKV_SIMD
/// `largest_magnitude` of 256 values: the largest |x| by vector maxima (an x that is NaN never wins, as in the
/// scalar loop), then the first value of that magnitude, so the same value and sign.
static inline float largest_magnitude256(const float *x, float *amax) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < RWKV_QK_K; j += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m);
    *amax = max_lane8(m);
    if (*amax == 0) return 0;
    const __m256 target = _mm256_set1_ps(*amax);
    for (int j = 0; j < RWKV_QK_K; j += 8) {
        const int hits = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), target, _CMP_EQ_OQ));
        if (hits) return x[j + __builtin_ctz((unsigned)hits)];
    }
    return 0;  // not reached: some |x| equals the maximum
}
#endif

/// ggml's Q8_K: the value of largest magnitude maps to ∓127, quants rounded to nearest even.
static void f32_to_q8_K_row(const float *x, void *out, int64_t k) {
    rwkv_block_q8_K *y = (rwkv_block_q8_K *)out;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, x += RWKV_QK_K) {
        float amax;
#if RWKV_SIMD
        const float max = largest_magnitude256(x, &amax);
#else
        const float max = largest_magnitude(RWKV_QK_K, x, &amax);
#endif
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
#if RWKV_SIMD
        // 16 values (one group) at a time: rounded to nearest even (rintf's mode), clamped, packed to bytes,
        // and the group's sum from the same integers.
        const __m256 scale = _mm256_set1_ps(iscale), lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
        for (int g = 0; g < 16; g++) {
            __m256i q[2];
            for (int h = 0; h < 2; h++) {
                const __m256 v = _mm256_round_ps(_mm256_mul_ps(scale, _mm256_loadu_ps(x + 16 * g + 8 * h)),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[h] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
            }
            const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(q[0], q[1]), 0xD8);  // 16 int16 in order
            const __m128i bytes = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * g), bytes);
            const __m256i s = _mm256_add_epi32(q[0], q[1]);
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
            y[i].bsums[g] = (int16_t)_mm_cvtsi128_si32(s4);
        }
#else
        for (int j = 0; j < RWKV_QK_K; j++) {
            const float v = rintf(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = (int16_t)sum;
        }
#endif
        y[i].d = 1 / iscale;
    }
}

static void q8_K_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q8_K *b = (const rwkv_block_q8_K *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++)
        for (int j = 0; j < RWKV_QK_K; j++) y[i * RWKV_QK_K + j] = b[i].d * (float)b[i].qs[j];
}

// MARK: - Unpacked super-blocks

/// A weight super-block ready for dot products: 256 unsigned quants in value order, a scale per group of 16
/// (as the multiplier of each 32-value chunk's two halves), a minimum per group of 16 (its weight against the
/// activations' group sums), and the block's two factors (Q6_K: dmin = d, its minimum being 32·scale).
typedef struct {
#if RWKV_SIMD
    __m256i q[8];
    __m256i scales[8];
    __m256i mins;
#else
    uint8_t q[256];
    int16_t scales[16];
    int16_t mins[16];
#endif
    float d, dmin;
} unpacked_k;

static inline void set_scales(unpacked_k *u, const int16_t scales[16], const int16_t mins[16]) {
#if RWKV_SIMD
    for (int i = 0; i < 8; i++) u->scales[i] = _mm256_set_m128i(_mm_set1_epi16(scales[2 * i + 1]), _mm_set1_epi16(scales[2 * i]));
    u->mins = _mm256_loadu_si256((const __m256i *)mins);
#else
    memcpy(u->scales, scales, 32);
    memcpy(u->mins, mins, 32);
#endif
}

/// A Q4_K (`qh` NULL) or Q5_K super-block: the factors and packed scales at the same places in both, the low
/// bits in `qs`, Q5_K's fifth bits in `qh`.
static inline void unpack_q45_K(const void *d, const void *dmin, const uint8_t *packed, const uint8_t *qs,
                                const uint8_t *qh, unpacked_k *u) {
    const int five_bits = qh != 0;
    u->d = f16_to_f32(d);
    u->dmin = f16_to_f32(dmin);
    int16_t scales[16], mins[16];
    for (int s = 0; s < 8; s++) {
        int scale, min;
        k_scale_min(packed, s, &scale, &min);
        scales[2 * s] = scales[2 * s + 1] = (int16_t)scale;
        mins[2 * s] = mins[2 * s + 1] = (int16_t)min;
    }
    set_scales(u, scales, mins);
#if RWKV_SIMD
    const __m256i mask = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    const __m256i high = five_bits ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(v, mask), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
        if (five_bits) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * c), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 2 * c + 1), one), 4));
        }
        u->q[2 * c] = lo;
        u->q[2 * c + 1] = hi;
    }
#else
    for (int s = 0; s < 8; s++)
        for (int j = 0; j < 32; j++)
            u->q[32 * s + j] = (uint8_t)((qs[s / 2 * 32 + j] >> (4 * (s % 2)) & 0x0F) | (five_bits ? (qh[j] >> s & 1) << 4 : 0));
#endif
}

static inline void unpack_q6_K(const rwkv_block_q6_K *w, unpacked_k *u) {
    u->d = u->dmin = f16_to_f32(&w->d);
    int16_t scales[16], mins[16];
    for (int g = 0; g < 16; g++) {
        scales[g] = w->scales[g];
        mins[g] = (int16_t)(32 * w->scales[g]);
    }
    set_scales(u, scales, mins);
#if RWKV_SIMD
    const __m256i mask = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
    for (int half = 0; half < 2; half++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * half));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * half + 32));
        const __m256i h = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * half));
        __m256i *q = u->q + 4 * half;
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, mask), _mm256_slli_epi16(_mm256_and_si256(h, two), 4));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, mask), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), two), 4));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), mask), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), two), 4));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), mask), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), two), 4));
    }
#else
    for (int v = 0; v < RWKV_QK_K; v++) {
        const int half = v / 128, within = v % 128;
        const int low = w->ql[half * 64 + within % 64] >> (4 * (within / 64)) & 0x0F;
        const int high = w->qh[half * 32 + within % 32] >> (2 * (within / 32)) & 3;
        u->q[v] = (uint8_t)(low | high << 4);
    }
#endif
}

/// A Q2_K super-block: 2-bit quants, 4-bit scales (low nibble) and minimums (high nibble) per group of 16.
static inline void unpack_q2_K(const rwkv_block_q2_K *w, unpacked_k *u) {
    u->d = f16_to_f32(&w->d);
    u->dmin = f16_to_f32(&w->dmin);
    int16_t scales[16], mins[16];
    for (int g = 0; g < 16; g++) {
        scales[g] = w->scales[g] & 0x0F;
        mins[g] = w->scales[g] >> 4;
    }
    set_scales(u, scales, mins);
#if RWKV_SIMD
    // Values 32i … 32i + 31 (i = 4·half + shift): bits 2·shift, 2·shift + 1 of qs bytes 32·half … (16-bit shifts
    // by at most 6: bits 0–1 of each byte come from the same byte).
    const __m256i three = _mm256_set1_epi8(3);
    for (int half = 0; half < 2; half++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * half));
        for (int shift = 0; shift < 4; shift++) u->q[4 * half + shift] = _mm256_and_si256(_mm256_srli_epi16(v, 2 * shift), three);
    }
#else
    for (int v = 0; v < RWKV_QK_K; v++) u->q[v] = (uint8_t)(w->qs[v / 128 * 32 + v % 32] >> (2 * (v % 128 / 32)) & 3);
#endif
}

/// A Q3_K super-block: 3-bit quants q (2 low bits as Q2_K's, the third from `hmask`), value d·scale·(q − 4) with
/// signed 6-bit scales: the −4 offset is each group's minimum 4·scale against the activations' sums (dmin = d).
static inline void unpack_q3_K(const rwkv_block_q3_K *w, unpacked_k *u) {
    u->d = u->dmin = f16_to_f32(&w->d);
    int scale[16];
    q3_K_scales(w->scales, scale);
    int16_t scales[16], mins[16];
    for (int g = 0; g < 16; g++) {
        scales[g] = (int16_t)scale[g];
        mins[g] = (int16_t)(4 * scale[g]);
    }
    set_scales(u, scales, mins);
#if RWKV_SIMD
    // The third bit of values 32i … 32i + 31 is bit i of hmask bytes 0…31, moved to bit 2 (16-bit shifts: left by
    // at most 2, right by at most 5, so bit 2 of each byte comes from the same byte).
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    const __m256i h = _mm256_loadu_si256((const __m256i *)w->hmask);
    for (int half = 0; half < 2; half++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * half));
        for (int shift = 0; shift < 4; shift++) {
            const int i = 4 * half + shift;
            const __m256i high = i < 2 ? _mm256_slli_epi16(h, 2 - i) : _mm256_srli_epi16(h, i - 2);
            u->q[i] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 2 * shift), three), _mm256_and_si256(high, four));
        }
    }
#else
    for (int v = 0; v < RWKV_QK_K; v++) {
        const int low = w->qs[v / 128 * 32 + v % 32] >> (2 * (v % 128 / 32)) & 3;
        u->q[v] = (uint8_t)(low | (w->hmask[v % 32] >> (v / 32) & 1) << 2);
    }
#endif
}

/// An IQ4_XS super-block: the table's signed values of its nibbles (as IQ4_NL's, low nibbles first in each
/// sub-block of 32), the scale ls − 32 of each sub-block for both of its groups of 16, no minimum (dmin 0).
static inline void unpack_iq4_xs(const rwkv_block_iq4_xs *w, unpacked_k *u) {
    u->d = f16_to_f32(&w->d);
    u->dmin = 0;
    int16_t scales[16], mins[16] = {0};
    for (int s = 0; s < 8; s++) {
        const int low = w->scales_l[s / 2] >> (4 * (s % 2)) & 0x0F, high = w->scales_h >> (2 * s) & 3;
        scales[2 * s] = scales[2 * s + 1] = (int16_t)((low | high << 4) - 32);
    }
    set_scales(u, scales, mins);
#if RWKV_SIMD
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_values));
    for (int s = 0; s < 8; s++) u->q[s] = _mm256_shuffle_epi8(table, load_q4_nibbles(w->qs + 16 * s));
#else
    for (int v = 0; v < RWKV_QK_K; v++) {
        const uint8_t byte = w->qs[v / 32 * 16 + v % 16];
        u->q[v] = (uint8_t)iq4_values[v % 32 < 16 ? byte & 0x0F : byte >> 4];
    }
#endif
}

/// Adds one super-block against one activation block to a token's two lane accumulators:
/// S_l (lane l: the chunks' values 4l…4l + 3, each pair times its group's scale) and M_l (groups 2l and
/// 2l + 1: min × activation sum), exact integers, then S += (d·d_x)·S_l and M += (dmin·d_x)·M_l lane by lane.
/// The lanes are AVX2's `vpmaddubsw` / `vpmaddwd` lanes; the scalar level computes the same integers.
static inline __attribute__((always_inline)) void accumulate_k(const unpacked_k *u, const rwkv_block_q8_K *x, v8 *sums,
                                                               v8 *mins, const int signed_quants) {
#if RWKV_SIMD
    __m256i acc = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) {
        const __m256i xq = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * i));
        const __m256i pairs = signed_quants ? _mm256_maddubs_epi16(_mm256_sign_epi8(u->q[i], u->q[i]), _mm256_sign_epi8(xq, u->q[i]))
                                            : _mm256_maddubs_epi16(u->q[i], xq);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, u->scales[i]));
    }
    const __m256i m = _mm256_madd_epi16(u->mins, _mm256_loadu_si256((const __m256i *)x->bsums));
    const v8 s_lanes = (v8)_mm256_cvtepi32_ps(acc), m_lanes = (v8)_mm256_cvtepi32_ps(m);
#else
    v8 s_lanes, m_lanes;
    for (int l = 0; l < 8; l++) {
        int32_t s = 0;
        for (int i = 0; i < 8; i++)
            for (int b = 0; b < 4; b++) {
                const int v = 32 * i + 4 * l + b;
                s += (signed_quants ? (int8_t)u->q[v] : u->q[v]) * x->qs[v] * u->scales[v / 16];
            }
        s_lanes[l] = (float)s;
        m_lanes[l] = (float)(u->mins[2 * l] * x->bsums[2 * l] + u->mins[2 * l + 1] * x->bsums[2 * l + 1]);
    }
#endif
    *sums = fma8(s_lanes, splat8(u->d * x->d), *sums);
    if (!signed_quants) *mins = fma8(m_lanes, splat8(u->dmin * x->d), *mins);
}

/// Tokens sharing one unpacked super-block.
#define K_TOKENS 8

/// The IQ4_XS `kind` of `matmul_k`.
#define K_IQ4_XS 7

/// The K-quant matmul of `kind` (2, 3, 4, 5 or 6 bits, or K_IQ4_XS): each weight super-block unpacked once per 8 tokens, each
/// token's lane sums accumulated over the row's super-blocks in order and reduced once at its end.
static inline __attribute__((always_inline)) void matmul_k(const uint8_t *w, const rwkv_block_q8_K *x, float *out, int64_t k, int64_t m,
                                                           int64_t tokens, int64_t r0, int64_t r1, const int kind) {
    const int64_t nb = k / RWKV_QK_K;
    const int64_t block = kind == 2   ? (int64_t)sizeof(rwkv_block_q2_K)
                          : kind == 3 ? (int64_t)sizeof(rwkv_block_q3_K)
                          : kind == 4 ? (int64_t)sizeof(rwkv_block_q4_K)
                          : kind == 5 ? (int64_t)sizeof(rwkv_block_q5_K)
                          : kind == 6 ? (int64_t)sizeof(rwkv_block_q6_K)
                                      : (int64_t)sizeof(rwkv_block_iq4_xs);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * nb * block;
        for (int64_t t0 = 0; t0 < tokens; t0 += K_TOKENS) {
            const int64_t nt = tokens - t0 < K_TOKENS ? tokens - t0 : K_TOKENS;
            v8 sums[K_TOKENS], mins[K_TOKENS];
            for (int64_t t = 0; t < nt; t++) sums[t] = mins[t] = splat8(0);
            for (int64_t b = 0; b < nb; b++) {
                unpacked_k u;
                const uint8_t *wb = wr + b * block;
                if (kind == K_IQ4_XS) {
                    unpack_iq4_xs((const rwkv_block_iq4_xs *)wb, &u);
                } else if (kind == 2) {
                    unpack_q2_K((const rwkv_block_q2_K *)wb, &u);
                } else if (kind == 3) {
                    unpack_q3_K((const rwkv_block_q3_K *)wb, &u);
                } else if (kind == 6) {
                    unpack_q6_K((const rwkv_block_q6_K *)wb, &u);
                } else if (kind == 5) {
                    const rwkv_block_q5_K *q5 = (const rwkv_block_q5_K *)wb;
                    unpack_q45_K(&q5->d, &q5->dmin, q5->scales, q5->qs, q5->qh, &u);
                } else {
                    const rwkv_block_q4_K *q4 = (const rwkv_block_q4_K *)wb;
                    unpack_q45_K(&q4->d, &q4->dmin, q4->scales, q4->qs, 0, &u);
                }
                for (int64_t t = 0; t < nt; t++) accumulate_k(&u, x + (t0 + t) * nb + b, &sums[t], &mins[t], kind == K_IQ4_XS);
            }
            for (int64_t t = 0; t < nt; t++) out[(t0 + t) * m + r] = hsum8_pairwise(sums[t]) - hsum8_pairwise(mins[t]);
        }
    }
}

static void matmul_q2_K_int8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_k((const uint8_t *)w, (const rwkv_block_q8_K *)x, out, k, m, tokens, r0, r1, 2);
}

static void matmul_q3_K_int8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_k((const uint8_t *)w, (const rwkv_block_q8_K *)x, out, k, m, tokens, r0, r1, 3);
}

static void matmul_q4_K_int8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_k((const uint8_t *)w, (const rwkv_block_q8_K *)x, out, k, m, tokens, r0, r1, 4);
}

static void matmul_q5_K_int8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_k((const uint8_t *)w, (const rwkv_block_q8_K *)x, out, k, m, tokens, r0, r1, 5);
}

static void matmul_q6_K_int8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_k((const uint8_t *)w, (const rwkv_block_q8_K *)x, out, k, m, tokens, r0, r1, 6);
}

static void matmul_iq4_xs_int8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_k((const uint8_t *)w, (const rwkv_block_q8_K *)x, out, k, m, tokens, r0, r1, K_IQ4_XS);
}
