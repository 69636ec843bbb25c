// Q4_K with 8 rows interleaved (the "q4_Kr8" layout), against Q8_K activations.
//
// Layout of one group of 8 rows × one super-block of 256 columns (8 × 144 bytes, as in the file):
//   [0, 16)      the 8 rows' d (f16);  [16, 32) their dmin (f16);
//   [32, 128)    the rows' 12 packed scale bytes, byte i of row r at 32 + 8i + r;
//   [128, 1152)  32 chunks of 32 bytes: chunk 8j + c holds, for row r at 4r, the row's quant bytes
//                32j + 4c … 32j + 4c + 3, whose low nibbles are columns 64j + 4c … + 3 (sub-block 2j) and whose
//                high nibbles are columns 64j + 32 + 4c … + 3 (sub-block 2j + 1).
// One `vpmaddubsw` multiplies a chunk's nibbles (8 rows × 4, unsigned) by 4 activation bytes broadcast to every
// lane and one `vpmaddwd` applies each row's sub-block scale, so each int32 lane is one row's exact sum
// S = Σ_s scale_s · Σ q·x; the minimums give M = Σ_s min_s · (the activations' sum over sub-block s). Per (row,
// token) the arithmetic is, super-block by super-block in order,
//   sums = fma(float(S), d · d_x, sums);  mins = fma(float(M), dmin · d_x, mins);  and at the end sums − mins,
// whatever the tile, the level or the thread count.

#define Q4_KR8_GROUP_BYTES (8 * (int64_t)sizeof(rwkv_block_q4_K))
#define Q4_KR8_QUANTS 128

#if RWKV_SIMD

/// The 8 rows' 6-bit scales and minimums, a byte per row, sub-blocks 0–3 and 4–7 (byte 8s + r).
static inline void q4_Kr8_scales(const uint8_t *wb, __m256i *sc03, __m256i *sc47, __m256i *mn03, __m256i *mn47) {
    const __m256i lo = _mm256_loadu_si256((const __m256i *)(wb + 32));
    const __m256i mid = _mm256_loadu_si256((const __m256i *)(wb + 64));
    const __m256i hi = _mm256_loadu_si256((const __m256i *)(wb + 96));
    const __m256i six = _mm256_set1_epi8(0x3F), four = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8((char)0xC0);
    *sc03 = _mm256_and_si256(lo, six);
    *mn03 = _mm256_and_si256(mid, six);
    *sc47 = _mm256_or_si256(_mm256_and_si256(hi, four), _mm256_srli_epi16(_mm256_and_si256(lo, top), 2));
    *mn47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(hi, 4), four), _mm256_srli_epi16(_mm256_and_si256(mid, top), 2));
}

/// Sub-block g (0–3) of `v` as 16-bit lanes [v_0, v_0, v_1, v_1, …, v_7, v_7]: each row's value beside both
/// of its `vpmaddubsw` pair sums.
static inline __m256i q4_Kr8_pairs(__m256i v, const int g) {
    const __m128i half = g < 2 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1);
    const __m256i both = _mm256_set_m128i(half, half);
    const char o = (char)(8 * (g & 1)), z = -1;
    const __m256i control = _mm256_setr_epi8(o, z, o, z, o + 1, z, o + 1, z, o + 2, z, o + 2, z, o + 3, z, o + 3, z,
                                             o + 4, z, o + 4, z, o + 5, z, o + 5, z, o + 6, z, o + 6, z, o + 7, z, o + 7, z);
    return _mm256_shuffle_epi8(both, control);
}

/// The rows' values of `q4_Kr8_pairs` as 32-bit lanes, for `vpmulld` (each lane holds its row's value twice).
static inline __m256i q4_Kr8_row_values(__m256i pairs) { return _mm256_and_si256(pairs, _mm256_set1_epi32(0xFFFF)); }

/// Sub-blocks 2p and 2p + 1 (p = 0, 1 of `v`) as 16-bit lanes [v_0,2p, v_0,2p+1, v_1,2p, …].
static inline __m256i q4_Kr8_min_pairs(__m256i v, const int p) {
    const __m128i half = p == 0 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(half, _mm_srli_si128(half, 8)));
}

/// The 8 rows' M = Σ_s min_s · (the activations' sum over sub-block s) for one token, from `q4_Kr8_min_pairs`.
static inline __m256i q4_Kr8_min_sums(const __m256i min_pairs[4], const rwkv_block_q8_K *xb) {
    // The activations' sums over each sub-block of 32 (two sums of 16 each; at most 32 · 127).
    const __m128i sub = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums), _mm_loadu_si128((const __m128i *)(xb->bsums + 8)));
    __m256i im = _mm256_madd_epi16(min_pairs[0], _mm256_broadcastd_epi32(sub));
    im = _mm256_add_epi32(im, _mm256_madd_epi16(min_pairs[1], _mm256_broadcastd_epi32(_mm_shuffle_epi32(sub, 0x55))));
    im = _mm256_add_epi32(im, _mm256_madd_epi16(min_pairs[2], _mm256_broadcastd_epi32(_mm_shuffle_epi32(sub, 0xAA))));
    return _mm256_add_epi32(im, _mm256_madd_epi16(min_pairs[3], _mm256_broadcastd_epi32(_mm_shuffle_epi32(sub, 0xFF))));
}

/// The float steps of a super-block whose sums end as Q4_K's (Q4_K, Q5_K) for 8 rows × TB tokens: each token's
/// sums = fma(float(S), d · d_x, sums) from `isum`, and mins = fma(float(M), dmin · d_x, mins) with M from the
/// rows' minimums (`q4_Kr8_scales`'s mn03, mn47).
static inline __attribute__((always_inline)) void k_r8_scale_min_step(const uint8_t *wb, const __m256i mn03, const __m256i mn47,
                                                                     const __m256i isum[8], const rwkv_block_q8_K *xb0, int64_t nb,
                                                                     __m256 sums[8], __m256 mins[8], const int TB) {
    const __m256i min_pairs[4] = {q4_Kr8_min_pairs(mn03, 0), q4_Kr8_min_pairs(mn03, 1), q4_Kr8_min_pairs(mn47, 0),
                                  q4_Kr8_min_pairs(mn47, 1)};
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + 16)));
    for (int t = 0; t < TB; t++) {
        const rwkv_block_q8_K *xb = xb0 + t * nb;
        const __m256i im = q4_Kr8_min_sums(min_pairs, xb);
        const __m256 dx = _mm256_set1_ps(xb->d);
        sums[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), sums[t]);
        mins[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(im), _mm256_mul_ps(dmin, dx), mins[t]);
    }
}

#if RWKV_VNNI
/// Adds sub-blocks 2j and 2j + 1 of 8 rows (`lo`, `hi`: their 8 chunks of unsigned quants, 8 rows × 4 columns
/// each) times TB tokens (activation blocks `x`, nb apart) to each token's S: each sub-block summed by
/// `vpdpbusd` in two chains of four, then times the rows' scale once (`vpmulld`; `scale_lo`, `scale_hi` as
/// `q4_Kr8_pairs` gives them). The same integer as `vpmaddubsw` + `vpmaddwd` per chunk, with 20 multiplier
/// µops per pair of sub-blocks and token instead of 32: Q4_K's few-token tiles. (Q5_K's keep their unit-by-unit
/// order, which shares each fifth-bit load by four chunks: one accumulator per sub-block, `tile_q5_Kr8`.)
static inline __attribute__((always_inline)) void k_r8_sub_block_pair(const __m256i lo[8], const __m256i hi[8], const __m256i scale_lo,
                                                                     const __m256i scale_hi, const rwkv_block_q8_K *x, int64_t nb,
                                                                     const int j, __m256i *isum, const int TB) {
    const __m256i row_lo = q4_Kr8_row_values(scale_lo), row_hi = q4_Kr8_row_values(scale_hi);
    for (int t = 0; t < TB; t++) {
        const int8_t *xq = x[t * nb].qs + 64 * j;
        __m256i lo0 = _mm256_setzero_si256(), lo1 = lo0, hi0 = lo0, hi1 = lo0;
        for (int c = 0; c < 8; c += 2) {
            lo0 = _mm256_dpbusd_epi32(lo0, lo[c], broadcast4(xq + 4 * c));
            lo1 = _mm256_dpbusd_epi32(lo1, lo[c + 1], broadcast4(xq + 4 * c + 4));
            hi0 = _mm256_dpbusd_epi32(hi0, hi[c], broadcast4(xq + 32 + 4 * c));
            hi1 = _mm256_dpbusd_epi32(hi1, hi[c + 1], broadcast4(xq + 36 + 4 * c));
        }
        isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_mullo_epi32(_mm256_add_epi32(lo0, lo1), row_lo),
                                                             _mm256_mullo_epi32(_mm256_add_epi32(hi0, hi1), row_hi)));
    }
}
#endif

/// 8 rows × TB tokens of one group.
static inline __attribute__((always_inline)) void tile_q4_Kr8(const uint8_t *wg, const rwkv_block_q8_K *x, float *out,
                                                               int64_t nb, int64_t m, const int TB) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    __m256 sums[8], mins[8];
    for (int t = 0; t < TB; t++) sums[t] = mins[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * Q4_KR8_GROUP_BYTES;
        prefetch_stream(wb, 2 * Q4_KR8_GROUP_BYTES, Q4_KR8_GROUP_BYTES);
        __m256i sc03, sc47, mn03, mn47;
        q4_Kr8_scales(wb, &sc03, &sc47, &mn03, &mn47);
        const __m256i scale[8] = {q4_Kr8_pairs(sc03, 0), q4_Kr8_pairs(sc03, 1), q4_Kr8_pairs(sc03, 2), q4_Kr8_pairs(sc03, 3),
                                  q4_Kr8_pairs(sc47, 0), q4_Kr8_pairs(sc47, 1), q4_Kr8_pairs(sc47, 2), q4_Kr8_pairs(sc47, 3)};
        __m256i isum[8];
        for (int t = 0; t < TB; t++) isum[t] = _mm256_setzero_si256();
#if RWKV_VNNI
        if (TB < 4) {  // the few-token tiles (more tokens go to the 16-row tiles)
            for (int j = 0; j < 4; j++) {
                __m256i lo[8], hi[8];
                for (int c = 0; c < 8; c++) {
                    const __m256i v = _mm256_loadu_si256((const __m256i *)(wb + Q4_KR8_QUANTS + 32 * (8 * j + c)));
                    lo[c] = _mm256_and_si256(v, low);
                    hi[c] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                }
                k_r8_sub_block_pair(lo, hi, scale[2 * j], scale[2 * j + 1], x + b, nb, j, isum, TB);
            }
            k_r8_scale_min_step(wb, mn03, mn47, isum, x + b, nb, sums, mins, TB);
            continue;
        }
#endif
        for (int j = 0; j < 4; j++)
            for (int c = 0; c < 8; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(wb + Q4_KR8_QUANTS + 32 * (8 * j + c)));
                const __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                for (int t = 0; t < TB; t++) {
                    const int8_t *xq = x[t * nb + b].qs + 64 * j + 4 * c;
                    const __m256i mlo = _mm256_maddubs_epi16(lo, broadcast4(xq)), mhi = _mm256_maddubs_epi16(hi, broadcast4(xq + 32));
                    if (TB >= 4 && RWKV_VNNI) {
                        isum[t] = add_pair_products(add_pair_products(isum[t], mlo, scale[2 * j], 1), mhi, scale[2 * j + 1], 1);
                    } else {
                        const __m256i plo = _mm256_madd_epi16(mlo, scale[2 * j]), phi = _mm256_madd_epi16(mhi, scale[2 * j + 1]);
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(plo, phi));
                    }
                }
            }
        k_r8_scale_min_step(wb, mn03, mn47, isum, x + b, nb, sums, mins, TB);
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, _mm256_sub_ps(sums[t], mins[t]));
}

#if RWKV_VNNI
// 16-row tiles at the VNNI level: two groups side by side in 512-bit vectors (group A's rows in the low
// half), so one vpmaddubsw and one vpdpwssd take 16 rows. Each lane's integers and float steps are those of
// the 8-row tile, so the results are the same bits.

/// Both groups' scale pairs (`q4_Kr8_pairs`) and minimum pairs (`q4_Kr8_min_pairs`) of a super-block.
static inline void q4_Kr16_scales(const uint8_t *ba, const uint8_t *bb, __m512i scale[8], __m512i min_pairs[4]) {
    __m256i sc03[2], sc47[2], mn03[2], mn47[2];
    q4_Kr8_scales(ba, &sc03[0], &sc47[0], &mn03[0], &mn47[0]);
    q4_Kr8_scales(bb, &sc03[1], &sc47[1], &mn03[1], &mn47[1]);
    for (int g = 0; g < 4; g++) {
        scale[g] = join_groups(q4_Kr8_pairs(sc03[0], g), q4_Kr8_pairs(sc03[1], g));
        scale[g + 4] = join_groups(q4_Kr8_pairs(sc47[0], g), q4_Kr8_pairs(sc47[1], g));
    }
    for (int p = 0; p < 2; p++) {
        min_pairs[p] = join_groups(q4_Kr8_min_pairs(mn03[0], p), q4_Kr8_min_pairs(mn03[1], p));
        min_pairs[p + 2] = join_groups(q4_Kr8_min_pairs(mn47[0], p), q4_Kr8_min_pairs(mn47[1], p));
    }
}

/// `q4_Kr8_min_sums` for 16 rows.
static inline __m512i q4_Kr16_min_sums(const __m512i min_pairs[4], const rwkv_block_q8_K *xb) {
    const __m128i sub = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)xb->bsums), _mm_loadu_si128((const __m128i *)(xb->bsums + 8)));
    __m512i im = _mm512_madd_epi16(min_pairs[0], _mm512_broadcastd_epi32(sub));
    im = _mm512_add_epi32(im, _mm512_madd_epi16(min_pairs[1], _mm512_broadcastd_epi32(_mm_shuffle_epi32(sub, 0x55))));
    im = _mm512_add_epi32(im, _mm512_madd_epi16(min_pairs[2], _mm512_broadcastd_epi32(_mm_shuffle_epi32(sub, 0xAA))));
    return _mm512_add_epi32(im, _mm512_madd_epi16(min_pairs[3], _mm512_broadcastd_epi32(_mm_shuffle_epi32(sub, 0xFF))));
}

/// For super-blocks whose sums end as Q4_K's (S with d, M with dmin): the float steps of `tile_q4_Kr8` for 16
/// rows × TB tokens, from each token's S (`isum`) and M.
static inline __attribute__((always_inline)) void k_r16_scale_min_step(const uint8_t *ba, const uint8_t *bb, const __m512i isum[8],
                                                                      const __m512i min_pairs[4], const rwkv_block_q8_K *xb0,
                                                                      int64_t nb, __m512 sums[8], __m512 mins[8], const int TB) {
    const __m512 d = two_groups_f16(ba, bb, 0), dmin = two_groups_f16(ba, bb, 16);
    for (int t = 0; t < TB; t++) {
        const rwkv_block_q8_K *xb = xb0 + t * nb;
        const __m512 dx = _mm512_set1_ps(xb->d);
        sums[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), sums[t]);
        mins[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(q4_Kr16_min_sums(min_pairs, xb)), _mm512_mul_ps(dmin, dx), mins[t]);
    }
}

/// Quant chunk j (0–3) of column group c (0–7) of two groups' super-blocks (A's at `ba`, B's at `bb`) as unsigned
/// values: `lo` columns 64j + 4c … + 3 of sub-block 2j, `hi` the same columns of sub-block 2j + 1.
typedef void (*k_r16_chunk)(const uint8_t *ba, const uint8_t *bb, const int j, const int c, __m512i *lo, __m512i *hi);

/// Sub-blocks 2j and 2j + 1 of two groups' super-blocks (A's at `ba`, B's at `bb`) × TB tokens, added to `isum`:
/// each token's sum over a sub-block's 32 values by `vpdpbusd` (unsigned quants against signed activations, exact),
/// then times the rows' scale once (`vpmulld`): the same integer S as `vpmaddubsw` + `vpdpwssd` per chunk, in 11
/// instructions per sub-block and token instead of 16.
static inline __attribute__((always_inline)) void k_r16_sub_block_pair(const k_r16_chunk chunk, const uint8_t *ba,
                                                                      const uint8_t *bb, const int j, const __m512i scale[8],
                                                                      const rwkv_block_q8_K *xb, int64_t nb, __m512i isum[8],
                                                                      const int TB) {
    const __m512i low16 = _mm512_set1_epi32(0xFFFF);
    __m512i lo[8], hi[8];
    for (int c = 0; c < 8; c++) chunk(ba, bb, j, c, &lo[c], &hi[c]);
    const __m512i scale_lo = _mm512_and_si512(scale[2 * j], low16), scale_hi = _mm512_and_si512(scale[2 * j + 1], low16);
#pragma clang loop unroll(full)
    for (int t = 0; t < TB; t++) {
        const int8_t *xq = xb[t * nb].qs + 64 * j;
        __m512i s_lo = _mm512_setzero_si512(), s_hi = _mm512_setzero_si512();
        for (int c = 0; c < 8; c++) {
            s_lo = _mm512_dpbusd_epi32(s_lo, lo[c], broadcast4x16(xq + 4 * c));
            s_hi = _mm512_dpbusd_epi32(s_hi, hi[c], broadcast4x16(xq + 32 + 4 * c));
        }
        isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s_lo, scale_lo), _mm512_mullo_epi32(s_hi, scale_hi)));
    }
}

/// The 16-row tile of the types whose sums end as Q4_K's (Q4_K, Q5_K; `chunk` unpacks their quants): two groups
/// (group A's super-blocks at `wa`, B's at `wb2`) × TB tokens. With `unroll_pairs`, the four sub-block pairs are
/// unrolled, so a `chunk` that shifts by j shifts by constants (Q5_K's fifth bits: a variable word shift is three
/// µops on Cascade Lake; unrolled, Q5_K's tile is 1.28× faster and Q4_K's 0.94×, measured).
static inline __attribute__((always_inline)) void tile_k_scale_min_r16(const k_r16_chunk chunk, const int unroll_pairs,
                                                                        const int64_t group_bytes, const uint8_t *wa,
                                                                        const uint8_t *wb2, const rwkv_block_q8_K *x, float *out,
                                                                        int64_t nb, int64_t m, const int TB) {
    __m512 sums[8], mins[8];
    for (int t = 0; t < TB; t++) sums[t] = mins[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ba = wa + b * group_bytes, *bb = wb2 + b * group_bytes;
        prefetch_group_pair(ba, bb, b * group_bytes, nb * group_bytes, 2 * group_bytes, group_bytes);
        __m512i scale[8], min_pairs[4], isum[8];
        q4_Kr16_scales(ba, bb, scale, min_pairs);
        for (int t = 0; t < TB; t++) isum[t] = _mm512_setzero_si512();
        if (unroll_pairs) {
#pragma clang loop unroll(full)
            for (int j = 0; j < 4; j++) k_r16_sub_block_pair(chunk, ba, bb, j, scale, x + b, nb, isum, TB);
        } else {
#pragma clang loop unroll(disable)
            for (int j = 0; j < 4; j++) k_r16_sub_block_pair(chunk, ba, bb, j, scale, x + b, nb, isum, TB);
        }
        k_r16_scale_min_step(ba, bb, isum, min_pairs, x + b, nb, sums, mins, TB);
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_ps(out + t * m, _mm512_sub_ps(sums[t], mins[t]));
}

static inline __attribute__((always_inline)) void q4_Kr16_chunk(const uint8_t *ba, const uint8_t *bb, const int j, const int c,
                                                                 __m512i *lo, __m512i *hi) {
    const __m512i low = _mm512_set1_epi8(0x0F), v = two_groups(ba, bb, Q4_KR8_QUANTS + 32 * (8 * j + c));
    *lo = _mm512_and_si512(v, low);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
}

static inline __attribute__((always_inline)) void tile_q4_Kr16(const uint8_t *wa, const uint8_t *wb2, const rwkv_block_q8_K *x,
                                                                float *out, int64_t nb, int64_t m, const int TB) {
    tile_k_scale_min_r16(q4_Kr16_chunk, 0, Q4_KR8_GROUP_BYTES, wa, wb2, x, out, nb, m, TB);
}

#endif

static void matmul_q4_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8(tile_q4_Kr8, K_R16(tile_q4_Kr16), Q4_KR8_GROUP_BYTES, weights, activations, out, k, m, tokens, r0, r1);
}

#else  // portable: the same integers and the same float operations, one row at a time

/// S and M of a super-block whose 8 sub-blocks of 32 have 6-bit scales and minimums packed as Q4_K's (stored
/// transposed: byte i of row `lane` at 32 + 8i + lane), for Q4_K and Q5_K, whose values `quant` reads.
static inline void k_r8_scale_min_sums(const k_r8_quant quant, const uint8_t *wb, int lane, const rwkv_block_q8_K *xb,
                                       int32_t *sums, int32_t *mins) {
    uint8_t packed[12];
    for (int i = 0; i < 12; i++) packed[i] = wb[32 + 8 * i + lane];
    for (int s = 0; s < 8; s++) {
        int scale, min;
        k_scale_min(packed, s, &scale, &min);
        int32_t dot = 0;
        for (int l = 0; l < 32; l++) dot += quant(wb, lane, s, l) * xb->qs[32 * s + l];
        *sums += scale * dot;
        *mins += min * (xb->bsums[2 * s] + xb->bsums[2 * s + 1]);
    }
}

static int q4_Kr8_quant(const uint8_t *wb, int lane, int s, int l) {
    const uint8_t byte = wb[Q4_KR8_QUANTS + 32 * (8 * (s / 2) + l / 4) + 4 * lane + l % 4];
    return s % 2 ? byte >> 4 : byte & 0x0F;
}

static void q4_Kr8_block_sums(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins) {
    k_r8_scale_min_sums(q4_Kr8_quant, wb, lane, xb, sums, mins);
}

static void matmul_q4_Kr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                          int64_t r0, int64_t r1) {
    matmul_k_r8_rows(q4_Kr8_block_sums, Q4_KR8_GROUP_BYTES, 1, weights, activations, out, k, m, tokens, r0, r1);
}

#endif
