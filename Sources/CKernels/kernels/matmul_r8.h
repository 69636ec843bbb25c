// Matrix products of blocks of 32 (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) on weights interleaved by 8 rows (the "r8"
// layouts), against Q8_0s activations.
//
// Layout of one group of 8 rows × one block of 32 columns (groups one after another, blocks in order), the same
// bytes as the 8 rows' blocks:
//   16 bytes: the 8 rows' f16 scales d;
//   Q4_1, Q5_1: 16 bytes, the 8 rows' f16 minimums m;
//   Q5_0, Q5_1: 32 bytes, row r's 32 fifth bits at 4r, rearranged: bit 2c of its byte i is the fifth bit of
//         column 4c + i and bit 2c + 1 that of column 16 + 4c + i (c = 0…3), so chunk c's bits are two shifts away;
//   Q8_0: 8 chunks of 32 bytes; chunk g holds, for row r = 0…7, the 4 quants of columns 4g…4g+3, each stored
//         as (q XOR 0x80), i.e. q + 128 as an unsigned byte;
//   the others: 4 chunks of 32 bytes; chunk c holds, for row r, bytes 4c…4c+3 of the row's 16 quant bytes (low
//         nibbles: columns 4c…4c+3, high nibbles: columns 16+4c…16+4c+3). IQ4_NL's nibbles index its table of
//         16 signed values (−127…113), looked up with a byte shuffle.
//
// One vpdpbusd multiplies a chunk (8 rows × 4 unsigned bytes) by 4 activation bytes broadcast to every lane,
// so each int32 lane is one row's partial sum and 8 chunks finish 8 rows' block sums at once: no horizontal
// sums, one int→float conversion and one FMA per 8 rows. The unsigned offset is removed by starting from
// −128·Σx (Q8_0, and IQ4_NL whose table is looked up as value + 128), −8·Σx (Q4_0) or −16·Σx (Q5_0), with Σx
// stored in each activation block; AVX2, whose maddubs would saturate on those sums, multiplies Q8_0 and
// IQ4_NL's signed values by the sign trick instead (the same exact integers). Per (row, token)
// the arithmetic is acc = fma(float(Σ_block), d_w·d_x, acc) in block order, and for the types with a minimum
// then acc = fma(float(Σx), m_w·d_x, acc), whatever the tile, the level or the thread count. At the VNNI level
// the several-token tiles put two groups' chunks side by side in a 512-bit vector, so that one vpdpbusd takes
// 16 rows; each lane's sums and steps are the same.
typedef rwkv_block_q8_0s q8s_block;

/// What a layout of blocks of 32 holds (`kind` is its rwkv_r8_layout; constants wherever inlined).
static inline int r8_has_min(const int kind) { return kind == RWKV_R8_Q4_1 || kind == RWKV_R8_Q5_1; }
static inline int r8_has_fifth_bits(const int kind) { return kind == RWKV_R8_Q5_0 || kind == RWKV_R8_Q5_1; }
/// Whether the quants are signed values (stored as q + 128, or looked up from IQ4_NL's table).
static inline int r8_signed(const int kind) { return kind == RWKV_R8_Q8_0 || kind == RWKV_R8_IQ4_NL; }
/// Bytes of one row's block, and where a group block's quant chunks start.
static inline int64_t r8_block_bytes(const int kind) {
    return kind == RWKV_R8_Q8_0   ? (int64_t)sizeof(rwkv_block_q8_0)
           : kind == RWKV_R8_Q4_0 ? (int64_t)sizeof(rwkv_block_q4_0)
           : kind == RWKV_R8_Q4_1 ? (int64_t)sizeof(rwkv_block_q4_1)
           : kind == RWKV_R8_Q5_0 ? (int64_t)sizeof(rwkv_block_q5_0)
           : kind == RWKV_R8_Q5_1 ? (int64_t)sizeof(rwkv_block_q5_1)
                                  : (int64_t)sizeof(rwkv_block_iq4_nl);
}
static inline int r8_quants_at(const int kind) { return 16 + 16 * r8_has_min(kind) + 32 * r8_has_fifth_bits(kind); }

#if RWKV_SIMD

#define Q8_OFFSET (RWKV_VNNI ? 128 : 0)  // AVX2: the Q8_0 quants are made signed again and multiplied by the sign trick

static inline __m256i broadcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// acc + Σ over 4-byte groups of w (unsigned, per lane) · x (signed, the same 4 bytes in every lane).
static inline __m256i dot_unsigned(__m256i acc, __m256i w, __m256i x) {
#if RWKV_VNNI
    return _mm256_dpbusd_epi32(acc, w, x);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
#endif
}

/// The same for signed chunks (Q8_0, IQ4_NL) held as q + 128: VNNI multiplies them as they are (the offset
/// is in `acc`), AVX2 makes them signed again and takes the sign trick.
static inline __m256i dot_signed_chunk(__m256i acc, __m256i w, __m256i x) {
#if RWKV_VNNI
    return _mm256_dpbusd_epi32(acc, w, x);
#else
    const __m256i s = _mm256_xor_si256(w, _mm256_set1_epi8((char)0x80));
    return dot_unsigned(acc, _mm256_sign_epi8(s, s), _mm256_sign_epi8(x, s));
#endif
}

/// IQ4_NL's table as value + 128, in each 128-bit lane, for byte shuffles.
static inline __m256i iq4_table_offset(void) {
    return _mm256_xor_si256(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_values)), _mm256_set1_epi8((char)0x80));
}

#if !RWKV_VNNI
/// AVX2 Q8_0: 8 rows × TB tokens of one group, chunk by chunk: each chunk's signed weights and their
/// magnitudes are made once for all TB tokens (maddubs multiplies unsigned by signed bytes, so a token's
/// bytes take the weights' signs), leaving four operations per chunk and token. The block sums are the same
/// exact integers as `tile_r8`'s, so the results are bit for bit the same.
static inline __attribute__((always_inline)) void tile_r8_q8_avx2(const uint8_t *wg, const q8s_block *x, float *out,
                                                                   int64_t nb, int64_t m, const int TB) {
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * 8 * Q8_BYTES;
        prefetch_stream(wb, R8_PREFETCH, 8 * Q8_BYTES);
        __m256i sums[8];
        for (int t = 0; t < TB; t++) sums[t] = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            const __m256i signed_w = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(wb + 16 + 32 * g)), flip);
            const __m256i magnitude = _mm256_sign_epi8(signed_w, signed_w);
            for (int t = 0; t < TB; t++) {
                const __m256i xs = _mm256_sign_epi8(broadcast4(x[t * nb + b].qs + 4 * g), signed_w);
                sums[t] = _mm256_add_epi32(sums[t], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, xs), ones));
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        for (int t = 0; t < TB; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]), _mm256_mul_ps(dw, _mm256_set1_ps(x[t * nb + b].d)), acc[t]);
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, acc[t]);
}
#endif

/// What a layout's unsigned quants exceed its values by (removed through the activations' sums).
static inline int r8_unsigned_offset(const int kind) {
    return r8_signed(kind) ? Q8_OFFSET : kind == RWKV_R8_Q4_0 ? 8 : kind == RWKV_R8_Q5_0 ? 16 : 0;
}

/// Moves bit s (0–7) of each byte of `h` to bit 4 (16-bit shifts by at most 4: bit 4 of each byte comes from the
/// same byte); the other bits are cleared.
static inline __m256i fifth_bit(const __m256i h, const int s) {
    const __m256i moved = s < 4 ? _mm256_slli_epi16(h, 4 - s) : _mm256_srli_epi16(h, s - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
}

/// 8 rows × TB tokens of one group: each block's chunks loaded (and unpacked) once for all TB tokens.
static inline __attribute__((always_inline)) void tile_r8(const uint8_t *wg, const q8s_block *x, float *out, int64_t nb,
                                                           int64_t m, const int TB, const int kind) {
#if !RWKV_VNNI
    if (kind == RWKV_R8_Q8_0) {
        tile_r8_q8_avx2(wg, x, out, nb, m, TB);
        return;
    }
#endif
    const int64_t group_block = 8 * r8_block_bytes(kind);
    const int quants = r8_quants_at(kind);
    const int offset = r8_unsigned_offset(kind);
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * group_block;
        prefetch_stream(wb, R8_PREFETCH, group_block);
        __m256i w[8];
        if (kind == RWKV_R8_Q8_0) {
            for (int g = 0; g < 8; g++) w[g] = _mm256_loadu_si256((const __m256i *)(wb + quants + 32 * g));
        } else {
            const __m256i h = r8_has_fifth_bits(kind) ? _mm256_loadu_si256((const __m256i *)(wb + quants - 32)) : _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(wb + quants + 32 * c));
                w[c] = _mm256_and_si256(v, mask);
                w[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask);
                if (r8_has_fifth_bits(kind)) {
                    w[c] = _mm256_or_si256(w[c], fifth_bit(h, 2 * c));
                    w[c + 4] = _mm256_or_si256(w[c + 4], fifth_bit(h, 2 * c + 1));
                }
                if (kind == RWKV_R8_IQ4_NL) {
                    w[c] = _mm256_shuffle_epi8(iq4_table_offset(), w[c]);
                    w[c + 4] = _mm256_shuffle_epi8(iq4_table_offset(), w[c + 4]);
                }
            }
        }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        const __m256 mw = r8_has_min(kind) ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(wb + 16))) : _mm256_setzero_ps();
        for (int t = 0; t < TB; t++) {
            const q8s_block *xb = x + t * nb + b;
            __m256i s0 = _mm256_set1_epi32(-offset * xb->sum), s1 = _mm256_setzero_si256();
            for (int g = 0; g < 8; g += 2) {
                if (r8_signed(kind)) {
                    s0 = dot_signed_chunk(s0, w[g], broadcast4(xb->qs + 4 * g));
                    s1 = dot_signed_chunk(s1, w[g + 1], broadcast4(xb->qs + 4 * g + 4));
                } else {
                    s0 = dot_unsigned(s0, w[g], broadcast4(xb->qs + 4 * g));
                    s1 = dot_unsigned(s1, w[g + 1], broadcast4(xb->qs + 4 * g + 4));
                }
            }
            const __m256 sum = _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1));
            const __m256 dx = _mm256_set1_ps(xb->d);
            acc[t] = _mm256_fmadd_ps(sum, _mm256_mul_ps(dw, dx), acc[t]);
            if (r8_has_min(kind)) acc[t] = _mm256_fmadd_ps(_mm256_set1_ps((float)xb->sum), _mm256_mul_ps(mw, dx), acc[t]);
        }
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, acc[t]);
}

#if RWKV_VNNI
/// 32 bytes at `offset` of group block A in the low half and of group block B in the high half.
static inline __m512i two_groups(const uint8_t *a, const uint8_t *b, const int64_t offset) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + offset))),
                              _mm256_loadu_si256((const __m256i *)(b + offset)), 1);
}

/// Group A's vector in the low half and group B's in the high half.
static inline __m512i join_groups(const __m256i a, const __m256i b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/// The 8 f16 values at `offset` of group blocks A and B, widened: 16 rows' scales.
static inline __m512 two_groups_f16(const uint8_t *a, const uint8_t *b, const int64_t offset) {
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(a + offset))),
                                                   _mm_loadu_si128((const __m128i *)(b + offset)), 1));
}

/// The same as `fifth_bit`, 64 bytes at a time.
static inline __m512i fifth_bit16(const __m512i h, const int s) {
    const __m512i moved = s < 4 ? _mm512_slli_epi16(h, 4 - s) : _mm512_srli_epi16(h, s - 4);
    return _mm512_and_si512(moved, _mm512_set1_epi8(0x10));
}

/// Two groups (16 rows) × TB tokens in 16-lane vectors: the groups' chunks side by side, so one 512-bit
/// vpdpbusd takes 16 rows' bytes against a token's 4 bytes (broadcast from memory). Each lane's block sum is
/// the same exact integer as in `tile_r8`, and its float steps are the same, so the results are bit for bit
/// `tile_r8`'s. Two groups' chunks are put side by side once per block for all TB tokens.
static inline __attribute__((always_inline)) void tile_r16(const uint8_t *wa, const uint8_t *wb2, const q8s_block *x, float *out,
                                                            int64_t nb, int64_t m, const int TB, const int kind) {
    const int64_t group_block = 8 * r8_block_bytes(kind);
    const int quants = r8_quants_at(kind);
    const int offset = r8_unsigned_offset(kind);
    const __m512i mask = _mm512_set1_epi8(0x0F);
    __m512 acc[8];
#pragma clang loop unroll(full)
    for (int t = 0; t < TB; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ba = wa + b * group_block, *bb = wb2 + b * group_block;
        prefetch_group_pair(ba, bb, b * group_block, nb * group_block, R8_PREFETCH, group_block);
        __m512i w[8];
        if (kind == RWKV_R8_Q8_0) {
            for (int g = 0; g < 8; g++) w[g] = two_groups(ba, bb, quants + 32 * g);
        } else {
            const __m512i h = r8_has_fifth_bits(kind) ? two_groups(ba, bb, quants - 32) : _mm512_setzero_si512();
            for (int c = 0; c < 4; c++) {
                const __m512i v = two_groups(ba, bb, quants + 32 * c);
                w[c] = _mm512_and_si512(v, mask);
                w[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), mask);
                if (r8_has_fifth_bits(kind)) {
                    w[c] = _mm512_or_si512(w[c], fifth_bit16(h, 2 * c));
                    w[c + 4] = _mm512_or_si512(w[c + 4], fifth_bit16(h, 2 * c + 1));
                }
                if (kind == RWKV_R8_IQ4_NL) {
                    const __m512i table = _mm512_broadcast_i32x4(_mm256_castsi256_si128(iq4_table_offset()));
                    w[c] = _mm512_shuffle_epi8(table, w[c]);
                    w[c + 4] = _mm512_shuffle_epi8(table, w[c + 4]);
                }
            }
        }
        const __m512 dw = two_groups_f16(ba, bb, 0);
        const __m512 mw = r8_has_min(kind) ? two_groups_f16(ba, bb, 16) : _mm512_setzero_ps();
#pragma clang loop unroll(full)
        for (int t = 0; t < TB; t++) {
            const q8s_block *xb = x + t * nb + b;
            // Two chains of four (as tile_r8's): half the latency per token; the same exact integer sum.
            __m512i s0 = _mm512_set1_epi32(-offset * xb->sum), s1 = _mm512_setzero_si512();
            for (int g = 0; g < 8; g += 2) {
                int32_t even, odd;
                memcpy(&even, xb->qs + 4 * g, 4);
                memcpy(&odd, xb->qs + 4 * g + 4, 4);
                s0 = _mm512_dpbusd_epi32(s0, w[g], _mm512_set1_epi32(even));
                s1 = _mm512_dpbusd_epi32(s1, w[g + 1], _mm512_set1_epi32(odd));
            }
            const __m512 dx = _mm512_set1_ps(xb->d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), _mm512_mul_ps(dw, dx), acc[t]);
            if (r8_has_min(kind)) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps((float)xb->sum), _mm512_mul_ps(mw, dx), acc[t]);
        }
    }
#pragma clang loop unroll(full)
    for (int t = 0; t < TB; t++) _mm512_storeu_ps(out + t * m, acc[t]);
}
#endif

#define TOKEN_TILE 4
/// Most tokens for which a matmul takes each row group once for all its token tiles (a batched decode step:
/// the group's blocks stay in L1 between the tiles); beyond, each token tile takes every row (prefill: the
/// tile's activations stay in L1). The same tiles, so the same bits, either way.
#define ROWS_FIRST_TOKENS 16
#define R16_TOKENS 8  // tokens per 16-row tile at the VNNI level (then TOKEN_TILE)

#if RWKV_VNNI
/// Rows [r0, r1) × TB tokens: 16 rows at a time, and a last group of 8 on its own.
static inline __attribute__((always_inline)) void r16_tiles(const uint8_t *w, const q8s_block *x, float *out, int64_t nb, int64_t m,
                                                             int64_t group_bytes, int64_t r0, int64_t r1, const int TB, const int kind) {
    int64_t r = r0;
    for (; r + 16 <= r1; r += 16) tile_r16(w + r / 8 * group_bytes, w + (r / 8 + 1) * group_bytes, x, out + r, nb, m, TB, kind);
    for (; r < r1; r += 8) tile_r8(w + r / 8 * group_bytes, x, out + r, nb, m, TB, kind);
}
#endif

/// Rows [r0, r1) × every token: token tiles of R16_TOKENS (VNNI) or 8 (the AVX2 Q8_0 tile), then TOKEN_TILE,
/// then the last 2 or 3 tokens together or a last one alone, each over all the rows.
static inline __attribute__((always_inline)) void r8_token_tiles(const uint8_t *w, const q8s_block *x, float *out, int64_t nb,
                                                                  int64_t m, int64_t group_bytes, int64_t tokens, int64_t r0,
                                                                  int64_t r1, const int kind) {
    int64_t t = 0;
#if !RWKV_VNNI
    if (kind == RWKV_R8_Q8_0)  // the AVX2 Q8_0 tile makes each chunk's magnitudes once per tile: the wider, the fewer
        for (; t + 8 <= tokens; t += 8)
            for (int64_t r = r0; r < r1; r += 8) tile_r8_q8_avx2(w + r / 8 * group_bytes, x + t * nb, out + t * m + r, nb, m, 8);
#endif
#if RWKV_VNNI
    for (; t + R16_TOKENS <= tokens; t += R16_TOKENS) r16_tiles(w, x + t * nb, out + t * m, nb, m, group_bytes, r0, r1, R16_TOKENS, kind);
    for (; t + TOKEN_TILE <= tokens; t += TOKEN_TILE) r16_tiles(w, x + t * nb, out + t * m, nb, m, group_bytes, r0, r1, TOKEN_TILE, kind);
#endif
    for (; t + TOKEN_TILE <= tokens; t += TOKEN_TILE)
        for (int64_t r = r0; r < r1; r += 8) tile_r8(w + r / 8 * group_bytes, x + t * nb, out + t * m + r, nb, m, TOKEN_TILE, kind);
    // The last 2 or 3 tokens in one tile, so the weights are unpacked once for them.
    const int64_t rest = tokens - t;
    if (rest == 2 || rest == 3) {
#if RWKV_VNNI
        if (rest == 2) r16_tiles(w, x + t * nb, out + t * m, nb, m, group_bytes, r0, r1, 2, kind);
        else r16_tiles(w, x + t * nb, out + t * m, nb, m, group_bytes, r0, r1, 3, kind);
#else
        for (int64_t r = r0; r < r1; r += 8)
            if (rest == 2) tile_r8(w + r / 8 * group_bytes, x + t * nb, out + t * m + r, nb, m, 2, kind);
            else tile_r8(w + r / 8 * group_bytes, x + t * nb, out + t * m + r, nb, m, 3, kind);
#endif
        return;
    }
    for (; t < tokens; t++)
        for (int64_t r = r0; r < r1; r += 8) tile_r8(w + r / 8 * group_bytes, x + t * nb, out + t * m + r, nb, m, 1, kind);
}

static inline __attribute__((always_inline)) void matmul_r8(const uint8_t *w, const q8s_block *x, float *out, int64_t k,
                                                             int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int kind) {
    const int64_t nb = k / 32, group_bytes = nb * 8 * r8_block_bytes(kind);
    if (tokens == 1 || tokens > ROWS_FIRST_TOKENS) {
        r8_token_tiles(w, x, out, nb, m, group_bytes, tokens, r0, r1, kind);
        return;
    }
    // A batched decode step: row group by row group (the groups r8_token_tiles would make), all token tiles
    // each, so a group's weights come from memory once however many tiles the tokens make.
    for (int64_t r = r0; r < r1;) {
        const int64_t rows = RWKV_VNNI && r + 16 <= r1 ? 16 : 8;
        r8_token_tiles(w, x, out, nb, m, group_bytes, tokens, r, r + rows, kind);
        r += rows;
    }
}

#else  // portable: the same per-(row, token) arithmetic, one row at a time

static void matmul_r8(const uint8_t *w, const q8s_block *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0,
                      int64_t r1, const int kind) {
    const int64_t nb = k / 32, group_block = 8 * r8_block_bytes(kind);
    const int quants = r8_quants_at(kind);
    const int offset = kind == RWKV_R8_Q4_0 ? 8 : kind == RWKV_R8_Q5_0 ? 16 : 0;  // IQ4_NL: the table's values
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = r0; r < r1; r++) {
            float acc = 0;
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *wb = w + (r / 8 * nb + b) * group_block;
                const q8s_block *xb = x + t * nb + b;
                const int lane = (int)(r % 8);
                int32_t s = 0;
                for (int j = 0; j < 32; j++) {
                    const int g = j / 4;
                    int q;
                    if (kind == RWKV_R8_Q8_0) {
                        q = (int8_t)(wb[quants + 32 * g + 4 * lane + j % 4] ^ 0x80);
                    } else {
                        const uint8_t byte = wb[quants + 32 * (g % 4) + 4 * lane + j % 4];
                        q = g < 4 ? byte & 0x0F : byte >> 4;
                        if (r8_has_fifth_bits(kind)) q |= (wb[quants - 32 + 4 * lane + j % 4] >> (2 * (g % 4) + g / 4) & 1) << 4;
                        q = kind == RWKV_R8_IQ4_NL ? iq4_values[q] : q - offset;
                    }
                    s += q * xb->qs[j];
                }
                const float dx = xb->d;
                acc = __builtin_fmaf((float)s, f16_to_f32(wb + 2 * lane) * dx, acc);
                if (r8_has_min(kind)) acc = __builtin_fmaf((float)xb->sum, f16_to_f32(wb + 16 + 2 * lane) * dx, acc);
            }
            out[t * m + r] = acc;
        }
}
#endif

static void matmul_q8_0r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_r8((const uint8_t *)w, (const q8s_block *)x, out, k, m, tokens, r0, r1, RWKV_R8_Q8_0);
}

static void matmul_q4_0r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_r8((const uint8_t *)w, (const q8s_block *)x, out, k, m, tokens, r0, r1, RWKV_R8_Q4_0);
}

static void matmul_q4_1r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_r8((const uint8_t *)w, (const q8s_block *)x, out, k, m, tokens, r0, r1, RWKV_R8_Q4_1);
}

static void matmul_q5_0r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_r8((const uint8_t *)w, (const q8s_block *)x, out, k, m, tokens, r0, r1, RWKV_R8_Q5_0);
}

static void matmul_q5_1r8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_r8((const uint8_t *)w, (const q8s_block *)x, out, k, m, tokens, r0, r1, RWKV_R8_Q5_1);
}

static void matmul_iq4_nlr8(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_r8((const uint8_t *)w, (const q8s_block *)x, out, k, m, tokens, r0, r1, RWKV_R8_IQ4_NL);
}
