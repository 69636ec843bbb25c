// Q3_K with 8 rows interleaved (the "q3_Kr8" layout), against Q8_K activations: Q6_K's arithmetic
// (matmul_q6_Kr8.h) on 3-bit quants with 6-bit packed scales.
//
// Layout of one group of 8 rows × one super-block of 256 columns (8 × 110 bytes, as in the file):
//   [0, 16)      the 8 rows' d (f16);
//   [16, 112)    their 12 packed scale bytes, byte i of row r at 16 + 8i + r;
//   [112, 880)   8 units of 96 bytes, one per column group c (0–7), in the order they are read: the rows' `hmask`
//                bytes 4c … 4c + 3, their `qs` bytes 4c … + 3 and their `qs` bytes 32 + 4c … + 3 (row r's at 4r).
// Quarter i (0–7; half h = i / 4, shift s = i % 4) of unit c holds columns 32i + 4c … + 3: bits 2s, 2s + 1 of
// the `qs` chunk of half h with bit i of the `hmask` chunk on top, unsigned q = 0…7 for the value
// d · scale · (q − 4), scale 2i + c / 4 (signed, −32…31). `vpmaddubsw` multiplies them by 4 broadcast activation
// bytes, `vpmaddwd` by each row's scale; the −4 offset comes from the activations' sums of 16: per (row, token)
// and super-block the exact integer S = Σ_g scale_g · (Σ q·x − 4 · Σ x), then acc = fma(float(S), d · d_x, acc),
// super-block by super-block in order, at every level, tile and thread count.

#define Q3_KR8_GROUP_BYTES (8 * (int64_t)sizeof(rwkv_block_q3_K))
#define Q3_KR8_SCALES 16
#define Q3_KR8_UNITS 112

#if RWKV_SIMD

/// The 8 rows' 16 scales, decoded: scale s of row r at byte 8s + r.
static inline void q3_Kr8_scales(const uint8_t *wb, int8_t scales[128]) {
    const __m256i p0 = _mm256_loadu_si256((const __m256i *)(wb + Q3_KR8_SCALES));
    const __m256i p1 = _mm256_loadu_si256((const __m256i *)(wb + Q3_KR8_SCALES + 32));
    const __m256i p2 = _mm256_loadu_si256((const __m256i *)(wb + Q3_KR8_SCALES + 64));
    const __m256i four = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3 << 4), offset = _mm256_set1_epi8(32);
    // Scales 4k … 4k + 3: low bits from bytes 0–3 (k even) or 4–7 (k odd), nibble k / 2; high bits from bytes
    // 8–11, bits 2k, 2k + 1 (16-bit shifts: the nibble and the two bits come from the same byte).
    const __m256i low[4] = {_mm256_and_si256(p0, four), _mm256_and_si256(p1, four), _mm256_and_si256(_mm256_srli_epi16(p0, 4), four),
                            _mm256_and_si256(_mm256_srli_epi16(p1, 4), four)};
    const __m256i high[4] = {_mm256_and_si256(_mm256_slli_epi16(p2, 4), two), _mm256_and_si256(_mm256_slli_epi16(p2, 2), two),
                             _mm256_and_si256(p2, two), _mm256_and_si256(_mm256_srli_epi16(p2, 2), two)};
    for (int k = 0; k < 4; k++)
        _mm256_storeu_si256((__m256i *)(scales + 32 * k), _mm256_sub_epi8(_mm256_or_si256(low[k], high[k]), offset));
}

/// Decoded scale s of the 8 rows as 16-bit lanes [s_0, s_0, s_1, s_1, …] (sign-extended).
static inline __m256i q3_Kr8_scale(const int8_t *decoded, int s) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)(decoded + 8 * s));
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v));
}

/// 8 rows × TB tokens of one group.
static inline __attribute__((always_inline)) void tile_q3_Kr8(const uint8_t *wg, const rwkv_block_q8_K *x, float *out,
                                                               int64_t nb, int64_t m, const int TB) {
    const __m256i three = _mm256_set1_epi8(3), bit2 = _mm256_set1_epi8(4);
    __m256 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * Q3_KR8_GROUP_BYTES;
        prefetch_stream(wb, 2 * Q3_KR8_GROUP_BYTES, Q3_KR8_GROUP_BYTES);
        int8_t decoded[128];
        q3_Kr8_scales(wb, decoded);
        __m256i scale[16], isum[8];
        for (int s = 0; s < 16; s++) scale[s] = q3_Kr8_scale(decoded, s);
        for (int t = 0; t < TB; t++) isum[t] = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            const uint8_t *unit = wb + Q3_KR8_UNITS + 96 * c;
            const __m256i h = _mm256_loadu_si256((const __m256i *)unit);
            for (int half = 0; half < 2; half++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(unit + 32 + 32 * half));
                for (int shift = 0; shift < 4; shift++) {
                    const int i = 4 * half + shift;
                    // Bit i of `hmask` to bit 2 (16-bit shifts: left by at most 2, right by at most 5).
                    const __m256i top = i < 2 ? _mm256_slli_epi16(h, 2 - i) : _mm256_srli_epi16(h, i - 2);
                    const __m256i q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 2 * shift), three), _mm256_and_si256(top, bit2));
                    for (int t = 0; t < TB; t++) {
                        const int8_t *xq = x[t * nb + b].qs + 32 * i + 4 * c;
                        isum[t] = add_pair_products(isum[t], _mm256_maddubs_epi16(q, broadcast4(xq)), scale[2 * i + c / 4], TB >= 4);
                    }
                }
            }
        }
        // The offset: 4 · Σ_g scale_g · (the activations' sum over group g), from pairs of groups.
        __m256i pairs[8];
        k_r8_signed_pairs(decoded, pairs);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        for (int t = 0; t < TB; t++) {
            const rwkv_block_q8_K *xb = x + t * nb + b;
            const __m256i offset = k_r8_group_sums(pairs, xb);
            const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(offset, 2));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)), acc[t]);
        }
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, acc[t]);
}

#if RWKV_VNNI
/// Two groups (16 rows) × TB tokens in 512-bit vectors (group A's rows in the low half): the same integers per
/// lane as `tile_q3_Kr8`, and the same float steps.
static inline __attribute__((always_inline)) void tile_q3_Kr16(const uint8_t *wa, const uint8_t *wb2, const rwkv_block_q8_K *x,
                                                                float *out, int64_t nb, int64_t m, const int TB) {
    const __m512i three = _mm512_set1_epi8(3), bit2 = _mm512_set1_epi8(4);
    __m512 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ba = wa + b * Q3_KR8_GROUP_BYTES, *bb = wb2 + b * Q3_KR8_GROUP_BYTES;
        prefetch_group_pair(ba, bb, b * Q3_KR8_GROUP_BYTES, nb * Q3_KR8_GROUP_BYTES, 2 * Q3_KR8_GROUP_BYTES, Q3_KR8_GROUP_BYTES);
        int8_t decoded_a[128], decoded_b[128];
        q3_Kr8_scales(ba, decoded_a);
        q3_Kr8_scales(bb, decoded_b);
        __m512i scale[16], isum[8];
        for (int s = 0; s < 16; s++) scale[s] = join_groups(q3_Kr8_scale(decoded_a, s), q3_Kr8_scale(decoded_b, s));
        for (int t = 0; t < TB; t++) isum[t] = _mm512_setzero_si512();
        for (int c = 0; c < 8; c++) {
            const int64_t unit = Q3_KR8_UNITS + 96 * c;
            const __m512i h = two_groups(ba, bb, unit);
            for (int half = 0; half < 2; half++) {
                const __m512i v = two_groups(ba, bb, unit + 32 + 32 * half);
                for (int shift = 0; shift < 4; shift++) {
                    const int i = 4 * half + shift;
                    const __m512i top = i < 2 ? _mm512_slli_epi16(h, 2 - i) : _mm512_srli_epi16(h, i - 2);
                    const __m512i q = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 2 * shift), three), _mm512_and_si512(top, bit2));
#pragma clang loop unroll(full)
                    for (int t = 0; t < TB; t++)
                        isum[t] = k_r16_scaled_dot(isum[t], q, x[t * nb + b].qs + 32 * i + 4 * c, scale[2 * i + c / 4]);
                }
            }
        }
        __m512i pairs[8];
        k_r16_signed_pairs(decoded_a, decoded_b, pairs);
        k_r16_offset_step(ba, bb, pairs, isum, x + b, nb, acc, 2, TB);
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_ps(out + t * m, acc[t]);
}
#endif

static void matmul_q3_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8(tile_q3_Kr8, K_R16(tile_q3_Kr16), Q3_KR8_GROUP_BYTES, weights, activations, out, k, m, tokens, r0, r1);
}

#else  // portable: the same integers and the same float operations, one row at a time

static void q3_Kr8_block_sums(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins) {
    (void)mins;
    uint8_t packed[12];
    for (int i = 0; i < 12; i++) packed[i] = wb[Q3_KR8_SCALES + 8 * i + lane];
    int scale[16];
    q3_K_scales(packed, scale);
    int32_t total = 0, offset = 0;
    for (int v = 0; v < RWKV_QK_K; v++) {
        const int i = v / 32, c = v % 32 / 4, byte = 4 * lane + v % 4;
        const uint8_t *unit = wb + Q3_KR8_UNITS + 96 * c;
        const int q = (unit[32 + 32 * (i / 4) + byte] >> (2 * (i % 4)) & 3) | (unit[byte] >> i & 1) << 2;
        total += scale[v / 16] * q * xb->qs[v];
    }
    for (int g = 0; g < 16; g++) offset += scale[g] * xb->bsums[g];
    *sums = total - 4 * offset;
}

static void matmul_q3_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8_rows(q3_Kr8_block_sums, Q3_KR8_GROUP_BYTES, 0, weights, activations, out, k, m, tokens, r0, r1);
}

#endif
