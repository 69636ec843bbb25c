// Q5_K with 8 rows interleaved (the "q5_Kr8" layout), against Q8_K activations: Q4_K's arithmetic
// (matmul_q4_Kr8.h) on 5-bit quants.
//
// Layout of one group of 8 rows × one super-block of 256 columns (8 × 176 bytes, as in the file):
//   [0, 32), [32, 128)  d, dmin and the transposed packed scale bytes, as q4_Kr8;
//   [128, 1408)         8 units of 160 bytes, one per column group c (0–7), in the order they are read: first
//                       the rows' `qh` bytes 4c … 4c + 3 (row r's at 4r), then for j = 0…3 the rows' `qs` bytes
//                       32j + 4c … + 3 (row r's at 4r).
// Quant chunk j of unit c gives columns 64j + 4c … + 3 (sub-block 2j, low nibbles, fifth bit = bit 2j of the
// `qh` byte) and 64j + 32 + 4c … + 3 (sub-block 2j + 1, high nibbles, bit 2j + 1), unsigned 0…31.
// Per (row, token), super-block by super-block in order, as Q4_K:
//   sums = fma(float(S), d · d_x, sums);  mins = fma(float(M), dmin · d_x, mins);  and at the end sums − mins.

#define Q5_KR8_GROUP_BYTES (8 * (int64_t)sizeof(rwkv_block_q5_K))
#define Q5_KR8_UNITS 128
#define Q5_KR8_UNIT_BYTES 160

#if RWKV_SIMD

/// Quant chunk j of unit c (8 rows × 4 columns of sub-blocks 2j and 2j + 1) as unsigned 5-bit values.
static inline __attribute__((always_inline)) void q5_Kr8_unpack(const uint8_t *units, const int j, const int c, __m256i *lo, __m256i *hi) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    const uint8_t *unit = units + Q5_KR8_UNIT_BYTES * c;
    // Bits 2j and 2j + 1 of `qh` are the fifth bits of sub-blocks 2j and 2j + 1.
    const __m256i h = _mm256_loadu_si256((const __m256i *)unit);
    const __m256i v = _mm256_loadu_si256((const __m256i *)(unit + 32 + 32 * j));
    *lo = _mm256_or_si256(_mm256_and_si256(v, low), fifth_bit(h, 2 * j));
    *hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), fifth_bit(h, 2 * j + 1));
}

/// Adds quant chunk j of unit c (8 rows × 4 columns of sub-blocks 2j and 2j + 1) times TB tokens to `isum`.
static inline __attribute__((always_inline)) void q5_Kr8_chunk(const uint8_t *units, const int j, const int c,
                                                                const __m256i scale[8], const rwkv_block_q8_K *x,
                                                                int64_t nb, __m256i *isum, const int TB) {
    __m256i lo, hi;
    q5_Kr8_unpack(units, j, c, &lo, &hi);
    for (int t = 0; t < TB; t++) {
        const int8_t *xq = x[t * nb].qs + 64 * j + 4 * c;
        const __m256i mlo = _mm256_maddubs_epi16(lo, broadcast4(xq)), mhi = _mm256_maddubs_epi16(hi, broadcast4(xq + 32));
        if (TB >= 4 && RWKV_VNNI) {
            isum[t] = add_pair_products(add_pair_products(isum[t], mlo, scale[2 * j], 1), mhi, scale[2 * j + 1], 1);
        } else {
            const __m256i plo = _mm256_madd_epi16(mlo, scale[2 * j]), phi = _mm256_madd_epi16(mhi, scale[2 * j + 1]);
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(plo, phi));
        }
    }
}

/// 8 rows × TB tokens of one group.
static inline __attribute__((always_inline)) void tile_q5_Kr8(const uint8_t *wg, const rwkv_block_q8_K *x, float *out,
                                                               int64_t nb, int64_t m, const int TB) {
    __m256 sums[8], mins[8];
    for (int t = 0; t < TB; t++) sums[t] = mins[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * Q5_KR8_GROUP_BYTES;
        prefetch_stream(wb, 2 * Q5_KR8_GROUP_BYTES, Q5_KR8_GROUP_BYTES);
        __m256i sc03, sc47, mn03, mn47;
        q4_Kr8_scales(wb, &sc03, &sc47, &mn03, &mn47);
        const __m256i scale[8] = {q4_Kr8_pairs(sc03, 0), q4_Kr8_pairs(sc03, 1), q4_Kr8_pairs(sc03, 2), q4_Kr8_pairs(sc03, 3),
                                  q4_Kr8_pairs(sc47, 0), q4_Kr8_pairs(sc47, 1), q4_Kr8_pairs(sc47, 2), q4_Kr8_pairs(sc47, 3)};
        __m256i isum[8];
        for (int t = 0; t < TB; t++) isum[t] = _mm256_setzero_si256();
        const uint8_t *units = wb + Q5_KR8_UNITS;
#if RWKV_VNNI
        if (TB <= 2) {
            // One or two tokens: unit by unit (each fifth-bit load shared by the unit's 8 sub-block chunks), every
            // sub-block's sum per token in its own `vpdpbusd` accumulator, then times the rows' scale once
            // (`vpmulld`): the same integer S with 88 instead of 192 instructions per super-block and token.
            __m256i sb[2][8];
            for (int t = 0; t < TB; t++)
                for (int s = 0; s < 8; s++) sb[t][s] = _mm256_setzero_si256();
            for (int c = 0; c < 8; c++)
                for (int j = 0; j < 4; j++) {
                    __m256i lo, hi;
                    q5_Kr8_unpack(units, j, c, &lo, &hi);
                    for (int t = 0; t < TB; t++) {
                        const int8_t *xq = x[t * nb + b].qs + 64 * j + 4 * c;
                        sb[t][2 * j] = _mm256_dpbusd_epi32(sb[t][2 * j], lo, broadcast4(xq));
                        sb[t][2 * j + 1] = _mm256_dpbusd_epi32(sb[t][2 * j + 1], hi, broadcast4(xq + 32));
                    }
                }
            for (int s = 0; s < 8; s++) {
                const __m256i row_scale = q4_Kr8_row_values(scale[s]);
                for (int t = 0; t < TB; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(sb[t][s], row_scale));
            }
            k_r8_scale_min_step(wb, mn03, mn47, isum, x + b, nb, sums, mins, TB);
            continue;
        }
#endif
        // The same integer sums in either order: unit by unit for up to 4 tokens, sub-block pair by pair for 8
        // (the faster order for each, measured).
        if (TB < 8) {
            for (int c = 0; c < 8; c++)
                for (int j = 0; j < 4; j++) q5_Kr8_chunk(units, j, c, scale, x + b, nb, isum, TB);
        } else {
            for (int j = 0; j < 4; j++)
                for (int c = 0; c < 8; c++) q5_Kr8_chunk(units, j, c, scale, x + b, nb, isum, TB);
        }
        k_r8_scale_min_step(wb, mn03, mn47, isum, x + b, nb, sums, mins, TB);
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, _mm256_sub_ps(sums[t], mins[t]));
}

#if RWKV_VNNI
/// Quant chunk j of column group c of two groups' super-blocks with their fifth bits (`k_r16_chunk`).
static inline __attribute__((always_inline)) void q5_Kr16_chunk(const uint8_t *ba, const uint8_t *bb, const int j, const int c,
                                                                 __m512i *lo, __m512i *hi) {
    const int64_t unit = Q5_KR8_UNITS + Q5_KR8_UNIT_BYTES * c;
    const __m512i low = _mm512_set1_epi8(0x0F), h = two_groups(ba, bb, unit), v = two_groups(ba, bb, unit + 32 + 32 * j);
    *lo = _mm512_or_si512(_mm512_and_si512(v, low), fifth_bit16(h, 2 * j));
    *hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v, 4), low), fifth_bit16(h, 2 * j + 1));
}

/// Two groups (16 rows) × TB tokens: Q4_K's 16-row tile on 5-bit quants (the same integers per lane as
/// `tile_q5_Kr8`).
static inline __attribute__((always_inline)) void tile_q5_Kr16(const uint8_t *wa, const uint8_t *wb2, const rwkv_block_q8_K *x,
                                                                float *out, int64_t nb, int64_t m, const int TB) {
    tile_k_scale_min_r16(q5_Kr16_chunk, 1, Q5_KR8_GROUP_BYTES, wa, wb2, x, out, nb, m, TB);
}
#endif

static void matmul_q5_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8(tile_q5_Kr8, K_R16(tile_q5_Kr16), Q5_KR8_GROUP_BYTES, weights, activations, out, k, m, tokens, r0, r1);
}

#else  // portable: the same integers and the same float operations, one row at a time

static int q5_Kr8_quant(const uint8_t *wb, int lane, int s, int l) {
    const uint8_t *unit = wb + Q5_KR8_UNITS + Q5_KR8_UNIT_BYTES * (l / 4);
    const uint8_t byte = unit[32 + 32 * (s / 2) + 4 * lane + l % 4], qh = unit[4 * lane + l % 4];
    return (s % 2 ? byte >> 4 : byte & 0x0F) | (qh >> s & 1) << 4;
}

static void q5_Kr8_block_sums(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins) {
    k_r8_scale_min_sums(q5_Kr8_quant, wb, lane, xb, sums, mins);
}

static void matmul_q5_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8_rows(q5_Kr8_block_sums, Q5_KR8_GROUP_BYTES, 1, weights, activations, out, k, m, tokens, r0, r1);
}

#endif
