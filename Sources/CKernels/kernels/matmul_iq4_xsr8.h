// IQ4_XS with 8 rows interleaved (the "iq4_xsr8" layout), against Q8_K activations.
//
// Layout of one group of 8 rows × one super-block of 256 columns (8 × 136 bytes, as in the file):
//   [0, 16)      the 8 rows' d (f16);  [16, 32) their scales_h (u16: bits 2s, 2s + 1 are the top of sub-block s's);
//   [32, 64)     their 4 scales_l bytes (the low 4 bits of sub-blocks 2i, 2i + 1), byte i of row r at 32 + 8i + r;
//   [64, 1088)   32 chunks of 32 bytes: chunk 4s + c holds, for row r at 4r, the row's quant bytes 16s + 4c … + 3,
//                whose low nibbles are columns 32s + 4c … + 3 and high nibbles columns 32s + 16 + 4c … + 3, all
//                of sub-block s.
// The nibbles index IQ4_NL's table of 16 signed values (−127…113); sub-block s has the scale ls_s − 32 (−32…31).
// Per (row, token) and super-block the exact integer S = Σ_s (ls_s − 32) · Σ_{v ∈ s} value_v · x_v, then
// acc = fma(float(S), d · d_x, acc), super-block by super-block in order, whatever the level, tile or thread
// count. VNNI sums each sub-block with vpdpbusd on value + 128 against the activations, started from
// −128 · (their sum over the sub-block), and multiplies it by the scale; AVX2 takes the values' magnitudes
// against the activations given the values' signs (vpmaddubsw: pair sums ≤ 2 · 127 · 127) and vpmaddwd by the
// scales.

#define IQ4_XSR8_GROUP_BYTES (8 * (int64_t)sizeof(rwkv_block_iq4_xs))
#define IQ4_XSR8_QUANTS 64

#if RWKV_SIMD

/// Sub-block s's scale ls − 32 of the 8 rows, as int32 lanes.
static inline __m256i iq4_xsr8_scale(const uint8_t *wb, const int s) {
    const __m256i low = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(wb + 32 + 8 * (s / 2))));
    const __m256i high = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(wb + 16)));
    const __m256i ls = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(low, 4 * (s % 2)), _mm256_set1_epi32(0x0F)),
                                       _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(high, 2 * s), _mm256_set1_epi32(3)), 4));
    return _mm256_sub_epi32(ls, _mm256_set1_epi32(32));
}

/// The activations' sum over sub-block s of 32.
static inline int32_t q8_K_sub_sum(const rwkv_block_q8_K *xb, const int s) { return xb->bsums[2 * s] + xb->bsums[2 * s + 1]; }

/// 8 rows × TB tokens of one group.
static inline __attribute__((always_inline)) void tile_iq4_xsr8(const uint8_t *wg, const rwkv_block_q8_K *x, float *out,
                                                                 int64_t nb, int64_t m, const int TB) {
    const __m256i low = _mm256_set1_epi8(0x0F);
#if RWKV_VNNI
    const __m256i table = iq4_table_offset();
#else
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_values));
#endif
    __m256 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *wb = wg + b * IQ4_XSR8_GROUP_BYTES;
        prefetch_stream(wb, 2 * IQ4_XSR8_GROUP_BYTES, IQ4_XSR8_GROUP_BYTES);
        __m256i isum[8];
        for (int t = 0; t < TB; t++) isum[t] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            const __m256i scale = iq4_xsr8_scale(wb, s);
#if RWKV_VNNI
            __m256i sub[8];
            for (int t = 0; t < TB; t++) sub[t] = _mm256_set1_epi32(-128 * q8_K_sub_sum(x + t * nb + b, s));
            for (int c = 0; c < 4; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(wb + IQ4_XSR8_QUANTS + 32 * (4 * s + c)));
                const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
                const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
                for (int t = 0; t < TB; t++) {
                    const int8_t *xq = x[t * nb + b].qs + 32 * s + 4 * c;
                    sub[t] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(sub[t], lo, broadcast4(xq)), hi, broadcast4(xq + 16));
                }
            }
            for (int t = 0; t < TB; t++) isum[t] = _mm256_add_epi32(isum[t], _mm256_mullo_epi32(sub[t], scale));
#else
            // The scale beside both of each row's pair sums, as 16-bit lanes.
            const __m256i pairs = _mm256_or_si256(_mm256_and_si256(scale, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(scale, 16));
            for (int c = 0; c < 4; c++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(wb + IQ4_XSR8_QUANTS + 32 * (4 * s + c)));
                const __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, low));
                const __m256i hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
                const __m256i lo_magnitude = _mm256_sign_epi8(lo, lo), hi_magnitude = _mm256_sign_epi8(hi, hi);
                for (int t = 0; t < TB; t++) {
                    const int8_t *xq = x[t * nb + b].qs + 32 * s + 4 * c;
                    const __m256i plo = _mm256_maddubs_epi16(lo_magnitude, _mm256_sign_epi8(broadcast4(xq), lo));
                    const __m256i phi = _mm256_maddubs_epi16(hi_magnitude, _mm256_sign_epi8(broadcast4(xq + 16), hi));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(plo, pairs), _mm256_madd_epi16(phi, pairs)));
                }
            }
#endif
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb));
        for (int t = 0; t < TB; t++)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, _mm256_set1_ps(x[t * nb + b].d)), acc[t]);
    }
    for (int t = 0; t < TB; t++) _mm256_storeu_ps(out + t * m, acc[t]);
}

#if RWKV_VNNI
/// Two groups (16 rows; group A's super-blocks at `wa`, B's at `wb2`) × TB tokens in 512-bit vectors: the same
/// integers per lane as `tile_iq4_xsr8`, and the same float steps.
static inline __attribute__((always_inline)) void tile_iq4_xsr16(const uint8_t *wa, const uint8_t *wb2, const rwkv_block_q8_K *x,
                                                                  float *out, int64_t nb, int64_t m, const int TB) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    const __m512i table = _mm512_broadcast_i32x4(_mm256_castsi256_si128(iq4_table_offset()));
    __m512 acc[8];
    for (int t = 0; t < TB; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *ba = wa + b * IQ4_XSR8_GROUP_BYTES, *bb = wb2 + b * IQ4_XSR8_GROUP_BYTES;
        prefetch_group_pair(ba, bb, b * IQ4_XSR8_GROUP_BYTES, nb * IQ4_XSR8_GROUP_BYTES, 2 * IQ4_XSR8_GROUP_BYTES, IQ4_XSR8_GROUP_BYTES);
        __m512i isum[8];
        for (int t = 0; t < TB; t++) isum[t] = _mm512_setzero_si512();
        for (int s = 0; s < 8; s++) {
            const __m512i scale = join_groups(iq4_xsr8_scale(ba, s), iq4_xsr8_scale(bb, s));
            __m512i sub[8];
            for (int t = 0; t < TB; t++) sub[t] = _mm512_set1_epi32(-128 * q8_K_sub_sum(x + t * nb + b, s));
            for (int c = 0; c < 4; c++) {
                const __m512i v = two_groups(ba, bb, IQ4_XSR8_QUANTS + 32 * (4 * s + c));
                const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(v, low));
                const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(v, 4), low));
#pragma clang loop unroll(full)
                for (int t = 0; t < TB; t++) {
                    const int8_t *xq = x[t * nb + b].qs + 32 * s + 4 * c;
                    sub[t] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(sub[t], lo, broadcast4x16(xq)), hi, broadcast4x16(xq + 16));
                }
            }
            for (int t = 0; t < TB; t++) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sub[t], scale));
        }
        const __m512 d = two_groups_f16(ba, bb, 0);
        for (int t = 0; t < TB; t++)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, _mm512_set1_ps(x[t * nb + b].d)), acc[t]);
    }
    for (int t = 0; t < TB; t++) _mm512_storeu_ps(out + t * m, acc[t]);
}
#endif

static void matmul_iq4_xsr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                            int64_t r0, int64_t r1) {
    matmul_k_r8(tile_iq4_xsr8, K_R16(tile_iq4_xsr16), IQ4_XSR8_GROUP_BYTES, weights, activations, out, k, m, tokens, r0, r1);
}

#else  // portable: the same integers and the same float operations, one row at a time

static void iq4_xsr8_block_sums(const uint8_t *wb, int lane, const rwkv_block_q8_K *xb, int32_t *sums, int32_t *mins) {
    (void)mins;
    const int high = wb[16 + 2 * lane] | wb[17 + 2 * lane] << 8;
    int32_t total = 0;
    for (int s = 0; s < 8; s++) {
        const int ls = (wb[32 + 8 * (s / 2) + lane] >> 4 * (s % 2) & 0x0F) | (high >> 2 * s & 3) << 4;
        int32_t dot = 0;
        for (int l = 0; l < 32; l++) {
            const uint8_t byte = wb[IQ4_XSR8_QUANTS + 32 * (4 * s + l % 16 / 4) + 4 * lane + l % 4];
            dot += iq4_values[l < 16 ? byte & 0x0F : byte >> 4] * xb->qs[32 * s + l];
        }
        total += (ls - 32) * dot;
    }
    *sums = total;
}

static void matmul_iq4_xsr8(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                            int64_t r0, int64_t r1) {
    matmul_k_r8_rows(iq4_xsr8_block_sums, IQ4_XSR8_GROUP_BYTES, 0, weights, activations, out, k, m, tokens, r0, r1);
}

#endif
