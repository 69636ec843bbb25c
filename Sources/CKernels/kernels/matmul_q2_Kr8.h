// Q2_K with 8 rows interleaved (the "q2_Kr8" layout), against Q8_K activations: Q3_K's quarters
// (matmul_q3_Kr8.h) on 2-bit quants, with Q4_K's scaled sums and minimums (matmul_q4_Kr8.h).
//
// Layout of one group of 8 rows × one super-block of 256 columns (8 × 84 bytes, as in the file):
//   [0, 16)      the 8 rows' d (f16);  [16, 32) their dmin (f16);
//   [32, 160)    their scale bytes (scale in the low nibble, minimum in the high one), byte g of row r at 32 + 8g + r;
//   [160, 672)   8 units of 64 bytes, one per column group c (0–7), in the order they are read: the rows' `qs`
//                bytes 4c … 4c + 3, then their `qs` bytes 32 + 4c … + 3 (row r's at 4r).
// Quarter i (0–7; half h = i / 4, shift s = i % 4) of unit c holds columns 32i + 4c … + 3: bits 2s, 2s + 1 of the
// half's chunk, q = 0…3, group 2i + c / 4. Per (row, token), super-block by super-block in order:
//   sums = fma(float(S), d · d_x, sums) with S = Σ_g scale_g · Σ q·x,
//   mins = fma(float(M), dmin · d_x, mins) with M = Σ_g min_g · (the activations' sum over group g),
// and at the end sums − mins, at every level, tile and thread count.

#define Q2_KR8_GROUP_BYTES (8 * (int64_t)sizeof(rwkv_block_q2_K))
#define Q2_KR8_SCALES 32
#define Q2_KR8_UNITS 160

#if RWKV_SIMD

/// Scale g (low nibbles) of the 8 rows as 16-bit lanes [s_0, s_0, s_1, s_1, …].
static inline __m256i q2_Kr8_scale(const uint8_t *wb, int g) {
    const __m128i v = _mm_and_si128(_mm_loadl_epi64((const __m128i *)(wb + Q2_KR8_SCALES + 8 * g)), _mm_set1_epi8(0x0F));
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v));
}

/// The minimums (high nibbles) of groups 2i and 2i + 1 as 16-bit lanes [m_0,2i, m_0,2i+1, m_1,2i, …].
static inline __m256i q2_Kr8_min_pair(const uint8_t *wb, int i) {
    const __m128i a = _mm_loadl_epi64((const __m128i *)(wb + Q2_KR8_SCALES + 16 * i));
    const __m128i b = _mm_loadl_epi64((const __m128i *)(wb + Q2_KR8_SCALES + 16 * i + 8));
    return _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(_mm_unpacklo_epi8(a, b), 4), _mm_set1_epi8(0x0F)));
}

/// 8 rows × TB tokens of one group.
static inline __attribute__((always_inline)) void tile_q2_Kr8(const uint8_t *wg, const rwkv_block_q8_K *x, float *out,
                                                               int64_t nb, int64_t m, const int TB) {
    const __m256i three = _mm256_set1_epi8(3);
    __m256 sums[8], mins[8];
    for (int t = 0; t < TB; t++) sums[t] = mins[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * Q2_KR8_GROUP_BYTES;
        prefetch_stream(wb, 2 * Q2_KR8_GROUP_BYTES, Q2_KR8_GROUP_BYTES);
        __m256i scale[16], isum[8];
        for (int g = 0; g < 16; g++) scale[g] = q2_Kr8_scale(wb, g);
        for (int t = 0; t < TB; t++) isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            const uint8_t *unit = wb + Q2_KR8_UNITS + 64 * c;
            for (int half = 0; half < 2; half++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(unit + 32 * half));
                for (int shift = 0; shift < 4; shift++) {
                    const int i = 4 * half + shift;
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(v, 2 * shift), three);
                    for (int t = 0; t < TB; t++) {
                        const int8_t *xq = x[t * nb + b].qs + 32 * i + 4 * c;
                        isum[t] = add_pair_products(isum[t], _mm256_maddubs_epi16(q, broadcast4(xq)), scale[2 * i + c / 4], TB >= 4);
                    }
                }
            }
        }
        __m256i pairs[8];
        for (int i = 0; i < 8; i++) pairs[i] = q2_Kr8_min_pair(wb, i);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + 16)));
        for (int t = 0; t < TB; t++) {
            const rwkv_block_q8_K *xb = x + t * nb + b;
            const __m256i im = k_r8_group_sums(pairs, xb);
            const __m256 dx = _mm256_set1_ps(xb->d);
            sums[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), sums[t]);
            mins[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(im), _mm256_mul_ps(dmin, dx), mins[t]);
        }
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, _mm256_sub_ps(sums[t], mins[t]));
}

#if RWKV_VNNI
/// Two groups (16 rows) × TB tokens in 512-bit vectors (group A's rows in the low half): the same integers per
/// lane as `tile_q2_Kr8`, and the same float steps.
static inline __attribute__((always_inline)) void tile_q2_Kr16(const uint8_t *wa, const uint8_t *wb2, const rwkv_block_q8_K *x,
                                                                float *out, int64_t nb, int64_t m, const int TB) {
    const __m512i three = _mm512_set1_epi8(3);
    __m512 sums[8], mins[8];
    for (int t = 0; t < TB; t++) sums[t] = mins[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ba = wa + b * Q2_KR8_GROUP_BYTES, *bb = wb2 + b * Q2_KR8_GROUP_BYTES;
        prefetch_group_pair(ba, bb, b * Q2_KR8_GROUP_BYTES, nb * Q2_KR8_GROUP_BYTES, 2 * Q2_KR8_GROUP_BYTES, Q2_KR8_GROUP_BYTES);
        __m512i scale[16], isum[8];
        for (int g = 0; g < 16; g++) scale[g] = join_groups(q2_Kr8_scale(ba, g), q2_Kr8_scale(bb, g));
        for (int t = 0; t < TB; t++) isum[t] = _mm512_setzero_si512();
        for (int c = 0; c < 8; c++)
            for (int half = 0; half < 2; half++) {
                const __m512i v = two_groups(ba, bb, Q2_KR8_UNITS + 64 * c + 32 * half);
                for (int shift = 0; shift < 4; shift++) {
                    const int i = 4 * half + shift;
                    const __m512i q = _mm512_and_si512(_mm512_srli_epi16(v, 2 * shift), three);
#pragma clang loop unroll(full)
                    for (int t = 0; t < TB; t++)
                        isum[t] = k_r16_scaled_dot(isum[t], q, x[t * nb + b].qs + 32 * i + 4 * c, scale[2 * i + c / 4]);
                }
            }
        __m512i pairs[8];
        for (int i = 0; i < 8; i++) pairs[i] = join_groups(q2_Kr8_min_pair(ba, i), q2_Kr8_min_pair(bb, i));
        const __m512 d = two_groups_f16(ba, bb, 0), dmin = two_groups_f16(ba, bb, 16);
        for (int t = 0; t < TB; t++) {
            const rwkv_block_q8_K *xb = x + t * nb + b;
            const __m512 dx = _mm512_set1_ps(xb->d);
            sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), sums[t]);
            mins[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(k_r16_group_sums(pairs, xb)), _mm512_mul_ps(dmin, dx), mins[t]);
        }
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_ps(out + t * m, _mm512_sub_ps(sums[t], mins[t]));
}
#endif

static void matmul_q2_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8(tile_q2_Kr8, K_R16(tile_q2_Kr16), Q2_KR8_GROUP_BYTES, weights, activations, out, k, m, tokens, r0, r1);
}

#else  // portable: the same integers and the same float operations, one row at a time

static void q2_Kr8_block_sums(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins) {
    for (int v = 0; v < RWKV_QK_K; v++) {
        const int i = v / 32, c = v % 32 / 4;
        const int q = wb[Q2_KR8_UNITS + 64 * c + 32 * (i / 4) + 4 * lane + v % 4] >> (2 * (i % 4)) & 3;
        *sums += (wb[Q2_KR8_SCALES + 8 * (v / 16) + lane] & 0x0F) * q * xb->qs[v];
    }
    for (int g = 0; g < 16; g++) *mins += (wb[Q2_KR8_SCALES + 8 * g + lane] >> 4) * xb->bsums[g];
}

static void matmul_q2_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8_rows(q2_Kr8_block_sums, Q2_KR8_GROUP_BYTES, 1, weights, activations, out, k, m, tokens, r0, r1);
}

#endif
