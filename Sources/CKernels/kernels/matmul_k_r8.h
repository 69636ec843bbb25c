// The K-quants' interleaved matmuls (the "r8" layouts: 8 rows' super-blocks side by side, matmul_q*_Kr8.h): the
// parts every type shares. Each type's tile gives per (row, token) and super-block an exact integer and the
// float steps after it; here are the offsets from the activations' group sums, the 16-row helpers of the VNNI
// level, and the loops over rows and token tiles, so a type's file holds only its layout and arithmetic.

#if RWKV_SIMD

/// Groups 2i and 2i + 1 of 8 rows' per-group bytes (group g of row r at 8g + r: 16 consecutive bytes) with
/// their rows interleaved by one byte shuffle: [v_0,2i, v_0,2i+1, v_1,2i, …].
static inline __m128i k_r8_pair_bytes(const int8_t *bytes, int i) {
    const __m128i interleave = _mm_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    return _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bytes + 16 * i)), interleave);
}

/// Signed per-group bytes of 8 rows (16 groups) as pairs of groups for `k_r8_group_sums`: `k_r8_pair_bytes`
/// as 16-bit lanes in pairs[i].
static inline void k_r8_signed_pairs(const int8_t *bytes, __m256i pairs[8]) {
    for (int i = 0; i < 8; i++) pairs[i] = _mm256_cvtepi8_epi16(k_r8_pair_bytes(bytes, i));
}

/// The 8 rows' Σ_g v_g · (the activations' sum over group g of 16) for one token, from pairs of groups.
static inline __m256i k_r8_group_sums(const __m256i pairs[8], const rwkv_block_q8_K *xb) {
    __m256i sum = _mm256_setzero_si256();
    for (int i = 0; i < 8; i++) {
        int32_t group_sums;
        memcpy(&group_sums, xb->bsums + 2 * i, 4);
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs[i], _mm256_set1_epi32(group_sums)));
    }
    return sum;
}

#if RWKV_VNNI
/// `k_r8_signed_pairs` of two groups (A's bytes at `a`, B's at `b`), joined.
static inline void k_r16_signed_pairs(const int8_t *a, const int8_t *b, __m512i pairs[8]) {
    for (int i = 0; i < 8; i++)
        pairs[i] = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(k_r8_pair_bytes(a, i)), k_r8_pair_bytes(b, i), 1));
}

/// `k_r8_group_sums` for 16 rows, each pair's products added by `vpdpwssd` (the same exact integer).
static inline __m512i k_r16_group_sums(const __m512i pairs[8], const rwkv_block_q8_K *xb) {
    __m512i sum = _mm512_setzero_si512();
    for (int i = 0; i < 8; i++) {
        int32_t group_sums;
        memcpy(&group_sums, xb->bsums + 2 * i, 4);
        sum = _mm512_dpwssd_epi32(sum, pairs[i], _mm512_set1_epi32(group_sums));
    }
    return sum;
}

/// Four activation bytes broadcast to 16 lanes.
static inline __m512i broadcast4x16(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/// acc + (unsigned quants `q` · 4 broadcast activation bytes, pair sums) · the rows' 16-bit scale pairs.
static inline __m512i k_r16_scaled_dot(const __m512i acc, const __m512i q, const int8_t *xq, const __m512i scale) {
    return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q, broadcast4x16(xq)), scale);
}

/// `k_r8_group_sums` done for 16 rows, then each token's acc = fma(float(S − Σ_g v_g · (sum over g) << shift),
/// d · d_x, acc): the last steps of Q3_K's and Q6_K's 16-row tiles (offsets 4 and 32), from `pairs` of their scales.
static inline __attribute__((always_inline)) void k_r16_offset_step(const uint8_t *ba, const uint8_t *bb, const __m512i pairs[8],
                                                                   const __m512i isum[8], const rwkv_block_q8_K *xb0, int64_t nb,
                                                                   __m512 acc[8], const int shift, const int TB) {
    const __m512 d = two_groups_f16(ba, bb, 0);
    for (int t = 0; t < TB; t++) {
        const rwkv_block_q8_K *xb = xb0 + t * nb;
        const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(k_r16_group_sums(pairs, xb), shift));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(xb->d)), acc[t]);
    }
}
#endif

/// A K-quant r8 tile: one group of 8 rows (its first super-block at `wg`) × TB tokens; and one of two groups
/// (16 rows) at the VNNI level.
typedef void (*k_r8_tile)(const uint8_t *wg, const rwkv_block_q8_K *x, float *out, int64_t nb, int64_t m, const int TB);
typedef void (*k_r16_tile)(const uint8_t *wa, const uint8_t *wb, const rwkv_block_q8_K *x, float *out, int64_t nb, int64_t m,
                           const int TB);

/// Rows [r0, r1) × TB tokens: by `tile16` 16 rows at a time where there is one (VNNI), the rest by `tile`.
static inline __attribute__((always_inline)) void k_r8_tiles(const k_r8_tile tile, const k_r16_tile tile16, const uint8_t *w,
                                                             const rwkv_block_q8_K *x, float *out, int64_t nb, int64_t m,
                                                             int64_t group_bytes, int64_t r0, int64_t r1, const int TB) {
    int64_t r = r0;
#if RWKV_VNNI
    if (tile16 && TB >= 4)
        for (; r + 16 <= r1; r += 16) tile16(w + r / 8 * group_bytes, w + (r / 8 + 1) * group_bytes, x, out + r, nb, m, TB);
#else
    (void)tile16;
#endif
    for (; r < r1; r += 8) tile(w + r / 8 * group_bytes, x, out + r, nb, m, TB);
}

/// Rows [r0, r1) of a K-quant r8 matmul, tokens 8, then 4 at a time, then the last 1, 2 or 3 together (inlined
/// with constant tiles, so each call's TB is a constant the tile is compiled for).
static inline __attribute__((always_inline)) void matmul_k_r8(const k_r8_tile tile, const k_r16_tile tile16, int64_t group_block,
                                                              const void *weights, const void *activations, float *out, int64_t k,
                                                              int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    const uint8_t *w = (const uint8_t *)weights;
    const rwkv_block_q8_K *x = (const rwkv_block_q8_K *)activations;
    const int64_t nb = k / RWKV_QK_K, group_bytes = nb * group_block;
    // A batched decode step goes row group by row group (16 rows where k_r8_tiles makes them), all token
    // tiles each, so a group's weights come from memory once (ROWS_FIRST_TOKENS).
    const int rows_first = tokens > 1 && tokens <= ROWS_FIRST_TOKENS;
    for (int64_t g0 = r0; g0 < r1;) {
        const int64_t g1 = !rows_first ? r1 : RWKV_VNNI && tile16 && g0 + 16 <= r1 ? g0 + 16 : g0 + 8;
        int64_t t = 0;
        for (; t + 8 <= tokens; t += 8) k_r8_tiles(tile, tile16, w, x + t * nb, out + t * m, nb, m, group_bytes, g0, g1, 8);
        for (; t + 4 <= tokens; t += 4) k_r8_tiles(tile, tile16, w, x + t * nb, out + t * m, nb, m, group_bytes, g0, g1, 4);
        // The last 2 or 3 tokens in one tile, so the weights are unpacked once for them.
        if (tokens - t == 2) k_r8_tiles(tile, tile16, w, x + t * nb, out + t * m, nb, m, group_bytes, g0, g1, 2);
        else if (tokens - t == 3) k_r8_tiles(tile, tile16, w, x + t * nb, out + t * m, nb, m, group_bytes, g0, g1, 3);
        else if (tokens - t == 1) k_r8_tiles(tile, tile16, w, x + t * nb, out + t * m, nb, m, group_bytes, g0, g1, 1);
        g0 = g1;
    }
}

/// The 16-row tile of a type at the VNNI level (NULL elsewhere).
#if RWKV_VNNI
#define K_R16(tile) tile
#else
#define K_R16(tile) NULL
#endif

#else  // portable

/// One super-block of one row (`lane` of its group) against one token: the exact integers S and, for the types
/// with minimums, M (the block adds d · d_x · S and subtracts dmin · d_x · M).
typedef void (*k_r8_block_sums)(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins);

/// Per (row, token), block by block in order: sums = fma(S, d · d_x, sums), with minimums also
/// mins = fma(M, dmin · d_x, mins), and the row's value sums − mins (d at 2 · lane, dmin at 16 + 2 · lane).
static void matmul_k_r8_rows(const k_r8_block_sums block, int64_t group_block, int has_min, const void *weights,
                             const void *activations, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0,
                             int64_t r1) {
    const uint8_t *w = (const uint8_t *)weights;
    const rwkv_block_q8_K *x = (const rwkv_block_q8_K *)activations;
    const int64_t nb = k / RWKV_QK_K;
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = r0; r < r1; r++) {
            const int lane = (int)(r % 8);
            float sums = 0, mins = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *wb = w + (r / 8 * nb + b) * group_block;
                const rwkv_block_q8_K *xb = x + t * nb + b;
                int32_t s_total = 0, m_total = 0;
                block(wb, lane, xb, &s_total, &m_total);
                sums = __builtin_fmaf((float)s_total, f16_to_f32(wb + 2 * lane) * xb->d, sums);
                if (has_min) mins = __builtin_fmaf((float)m_total, f16_to_f32(wb + 16 + 2 * lane) * xb->d, mins);
            }
            out[t * m + r] = has_min ? sums - mins : sums;
        }
}

/// Value l (0–31) of sub-block s of row `lane` in a group's super-block.
typedef int (*k_r8_quant)(const uint8_t *wb, int lane, int s, int l);

#endif
