// Q6_K with 8 rows interleaved (the "q6_Kr8" layout), against Q8_K activations.
//
// Layout of one group of 8 rows × one super-block of 256 columns (8 × 210 bytes, as in the file):
//   [0, 16)       the 8 rows' d (f16);
//   [16, 144)     their int8 scales, scale s (one per 16 columns) of row r at 16 + 8s + r;
//   [144, 1680)   16 units of 96 bytes, in the order they are read: for half h (0, 1) and column group c
//                 (0–7), unit 8h + c holds three chunks of 32 bytes, row r's 4 bytes at 4r in each: `ql` bytes
//                 64h + 4c … + 3, `ql` bytes 64h + 32 + 4c … + 3 and `qh` bytes 32h + 4c … + 3.
// A unit gives the four quarters q (0–3) of columns 128h + 32q + 4c … + 3: the low nibbles of the first chunk (q = 0) and
// of the second (q = 1), then their high nibbles (q = 2, 3), each with two bits of the `qh` bytes on top
// (bits 2q, 2q + 1), unsigned 0…63 with scale 8h + 2q + c/4. `vpmaddubsw` multiplies them by 4 broadcast
// activation bytes, `vpmaddwd` by each row's scale; the −32 offset comes from the activations' sums of 16:
// per (row, token) and super-block the exact integer S = Σ_s scale_s · (Σ q·x − 32 · Σ x), then
// acc = fma(float(S), d · d_x, acc), super-block by super-block in order, at every level, tile and thread count.

#define Q6_KR8_GROUP_BYTES (8 * (int64_t)sizeof(rwkv_block_q6_K))
#define Q6_KR8_SCALES 16
#define Q6_KR8_UNITS 144

#if RWKV_SIMD

/// Scale s of the 8 rows as 16-bit lanes [s_0, s_0, s_1, s_1, …] (sign-extended).
static inline __m256i q6_Kr8_scale(const uint8_t *wb, int s) {
    const __m128i v = _mm_loadl_epi64((const __m128i *)(wb + Q6_KR8_SCALES + 8 * s));
    return _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(v, v));
}

/// Scale s of the 8 rows as 32-bit lanes (sign-extended), for `vpmulld`.
static inline __m256i q6_Kr8_scale32(const uint8_t *wb, int s) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(wb + Q6_KR8_SCALES + 8 * s)));
}

/// A unit's four quarters (8 rows × 4 columns each, unsigned 0…63): the low and high nibbles of its two `ql`
/// chunks with two bits of its `qh` chunk on top.
static inline void q6_Kr8_unpack(const uint8_t *unit, __m256i q[4]) {
    const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(0x30);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)unit);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(unit + 32));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)(unit + 64));
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_and_si256(_mm256_slli_epi16(hb, 4), two));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_and_si256(_mm256_slli_epi16(hb, 2), two));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_and_si256(hb, two));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_and_si256(_mm256_srli_epi16(hb, 2), two));
}

/// 8 rows × TB tokens of one group.
static inline __attribute__((always_inline)) void tile_q6_Kr8(const uint8_t *wg, const rwkv_block_q8_K *x, float *out,
                                                               int64_t nb, int64_t m, const int TB) {
    __m256 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * Q6_KR8_GROUP_BYTES;
        prefetch_stream(wb, 2 * Q6_KR8_GROUP_BYTES, Q6_KR8_GROUP_BYTES);
        __m256i isum[8];
        for (int t = 0; t < TB; t++) isum[t] = _mm256_setzero_si256();
#if RWKV_VNNI
        if (TB < 4) {
            // Few tokens: the four units that share a scale (c / 4 fixed) summed per quarter by vpdpbusd, then
            // multiplied by the row's scale once (vpmulld): the same integer S as the pairs path below, in about
            // two thirds of the operations.
            for (int h = 0; h < 2; h++)
                for (int part = 0; part < 2; part++) {
                    __m256i dot[3][4];
                    for (int t = 0; t < TB; t++)
                        for (int quarter = 0; quarter < 4; quarter++) dot[t][quarter] = _mm256_setzero_si256();
                    for (int c = 4 * part; c < 4 * part + 4; c++) {
                        const uint8_t *unit = wb + Q6_KR8_UNITS + 96 * (8 * h + c);
                        __m256i q[4];
                        q6_Kr8_unpack(unit, q);
                        for (int t = 0; t < TB; t++) {
                            const int8_t *xq = x[t * nb + b].qs + 128 * h + 4 * c;
                            for (int quarter = 0; quarter < 4; quarter++)
                                dot[t][quarter] = _mm256_dpbusd_epi32(dot[t][quarter], q[quarter], broadcast4(xq + 32 * quarter));
                        }
                    }
                    for (int quarter = 0; quarter < 4; quarter++) {
                        const __m256i scale = q6_Kr8_scale32(wb, 8 * h + 2 * quarter + part);
                        for (int t = 0; t < TB; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(dot[t][quarter], scale));
                    }
                }
        } else
#endif
        {
            __m256i scale[16];
            for (int s = 0; s < 16; s++) scale[s] = q6_Kr8_scale(wb, s);
            for (int h = 0; h < 2; h++)
                for (int c = 0; c < 8; c++) {
                    __m256i q[4];
                    q6_Kr8_unpack(wb + Q6_KR8_UNITS + 96 * (8 * h + c), q);
#pragma clang loop unroll(full)
                    for (int t = 0; t < TB; t++) {
                        const int8_t *xq = x[t * nb + b].qs + 128 * h + 4 * c;
                        if (TB >= 4 && RWKV_VNNI) {
                            for (int quarter = 0; quarter < 4; quarter++)
                                isum[t] = add_pair_products(isum[t], _mm256_maddubs_epi16(q[quarter], broadcast4(xq + 32 * quarter)),
                                                            scale[8 * h + 2 * quarter + c / 4], 1);
                            continue;
                        }
                        __m256i sum = _mm256_setzero_si256();
                        for (int quarter = 0; quarter < 4; quarter++)
                            sum = add_pair_products(sum, _mm256_maddubs_epi16(q[quarter], broadcast4(xq + 32 * quarter)),
                                                    scale[8 * h + 2 * quarter + c / 4], 0);
                        isum[t] = _mm256_add_epi32(isum[t], sum);
                    }
                }
        }
        // The offset: 32 · Σ_s scale_s · (the activations' sum over group s), from pairs of groups.
        __m256i pairs[8];
        k_r8_signed_pairs((const int8_t *)(wb + Q6_KR8_SCALES), pairs);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        for (int t = 0; t < TB; t++) {
            const rwkv_block_q8_K *xb = x + t * nb + b;
            const __m256i offset = k_r8_group_sums(pairs, xb);
            const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(offset, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(xb->d)), acc[t]);
        }
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, acc[t]);
}

#if RWKV_VNNI
/// Scale s of two groups' 16 rows as 32-bit lanes (sign-extended), group A's rows in the low half.
static inline __m512i q6_Kr16_scale32(const uint8_t *ba, const uint8_t *bb, int s) {
    const __m128i a = _mm_loadl_epi64((const __m128i *)(ba + Q6_KR8_SCALES + 8 * s));
    return _mm512_cvtepi8_epi32(_mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(a), (const double *)(bb + Q6_KR8_SCALES + 8 * s))));
}

/// Two groups (16 rows) × TB tokens in 512-bit vectors (group A's rows in the low half): the same integers per
/// lane as `tile_q6_Kr8`, and the same float steps.
static inline __attribute__((always_inline)) void tile_q6_Kr16(const uint8_t *wa, const uint8_t *wb2, const rwkv_block_q8_K *x,
                                                                float *out, int64_t nb, int64_t m, const int TB) {
    const __m512i low = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x30);
    __m512 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ba = wa + b * Q6_KR8_GROUP_BYTES, *bb = wb2 + b * Q6_KR8_GROUP_BYTES;
        prefetch_group_pair(ba, bb, b * Q6_KR8_GROUP_BYTES, nb * Q6_KR8_GROUP_BYTES, 2 * Q6_KR8_GROUP_BYTES, Q6_KR8_GROUP_BYTES);
        __m512i isum[8];
        for (int t = 0; t < TB; t++) isum[t] = _mm512_setzero_si512();
        // Per half h and part (the four column groups c = 4·part … + 3, which share a scale per quarter): each
        // token's sum over a quarter's 16 columns by `vpdpbusd` (exact), then times the rows' scale once
        // (`vpmulld`): the same integer S as `vpmaddubsw` + `vpdpwssd` per chunk, in 6 instead of 8 instructions
        // per quarter and token (1.09–1.15× in cache, measured).
        for (int h = 0; h < 2; h++)
            for (int part = 0; part < 2; part++) {
                // The rows' scales of the four quarters as 32-bit lanes, loaded as such (widening all 16 scales
                // up front kept 16 vectors live through the super-block; without them, and with the offsets'
                // group sums on `vpdpwssd`, 1.06× at 512 tokens, measured).
                __m512i row_scale[4], q[4][4];
                for (int quarter = 0; quarter < 4; quarter++) row_scale[quarter] = q6_Kr16_scale32(ba, bb, 8 * h + 2 * quarter + part);
                for (int i = 0; i < 4; i++) {
                    const int64_t unit = Q6_KR8_UNITS + 96 * (8 * h + 4 * part + i);
                    const __m512i l0 = two_groups(ba, bb, unit), l1 = two_groups(ba, bb, unit + 32), hb = two_groups(ba, bb, unit + 64);
                    q[0][i] = _mm512_or_si512(_mm512_and_si512(l0, low), _mm512_and_si512(_mm512_slli_epi16(hb, 4), two));
                    q[1][i] = _mm512_or_si512(_mm512_and_si512(l1, low), _mm512_and_si512(_mm512_slli_epi16(hb, 2), two));
                    q[2][i] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), low), _mm512_and_si512(hb, two));
                    q[3][i] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), low), _mm512_and_si512(_mm512_srli_epi16(hb, 2), two));
                }
#pragma clang loop unroll(full)
                for (int t = 0; t < TB; t++) {
                    const int8_t *xq = x[t * nb + b].qs + 128 * h + 16 * part;
                    for (int quarter = 0; quarter < 4; quarter++) {
                        __m512i dot = _mm512_setzero_si512();
                        for (int i = 0; i < 4; i++) dot = _mm512_dpbusd_epi32(dot, q[quarter][i], broadcast4x16(xq + 32 * quarter + 4 * i));
                        isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(dot, row_scale[quarter]));
                    }
                }
            }
        // The offset, as in `tile_q6_Kr8`, from both groups' pairs of scales.
        __m512i pairs[8];
        k_r16_signed_pairs((const int8_t *)(ba + Q6_KR8_SCALES), (const int8_t *)(bb + Q6_KR8_SCALES), pairs);
        k_r16_offset_step(ba, bb, pairs, isum, x + b, nb, acc, 5, TB);
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_ps(out + t * m, acc[t]);
}
#endif

static void matmul_q6_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8(tile_q6_Kr8, K_R16(tile_q6_Kr16), Q6_KR8_GROUP_BYTES, weights, activations, out, k, m, tokens, r0, r1);
}

#else  // portable: the same integers and the same float operations, one row at a time

static void q6_Kr8_block_sums(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins) {
    (void)mins;
    int32_t total = 0, offset = 0;
    for (int v = 0; v < RWKV_QK_K; v++) {
        const int h = v / 128, quarter = v % 128 / 32, l = v % 32;
        const uint8_t *unit = wb + Q6_KR8_UNITS + 96 * (8 * h + l / 4) + 4 * lane + l % 4;
        const uint8_t lowbyte = unit[32 * (quarter % 2)], highbyte = unit[64];
        const int q = (quarter < 2 ? lowbyte & 0x0F : lowbyte >> 4) | (highbyte >> (2 * quarter) & 3) << 4;
        total += (int8_t)wb[Q6_KR8_SCALES + 8 * (8 * h + 2 * quarter + l / 16) + lane] * q * xb->qs[v];
    }
    for (int s = 0; s < 16; s++) offset += (int8_t)wb[Q6_KR8_SCALES + 8 * s + lane] * xb->bsums[s];
    *sums = total - offset * 32;
}

static void matmul_q6_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8_rows(q6_Kr8_block_sums, Q6_KR8_GROUP_BYTES, 0, weights, activations, out, k, m, tokens, r0, r1);
}

#endif
