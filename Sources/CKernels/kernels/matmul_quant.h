// Q8_0 and Q4_0 weights in ggml's row layout (models repack matrices whose row count is a multiple of 8 into
// the r8 layouts; these kernels serve the rest) against Q8_0 activations.
//
// A block's integer dot product is taken as 8 int32 lanes, lane l summing bytes 4l…4l+3: AVX-512 VNNI
// vpdpbusd on (w + 128) unsigned against signed x started from −128·Σx (Q8_0), or on the nibbles (0…15)
// started from −8·Σx (Q4_0), so the offsets cancel exactly; AVX2 maddubs + madd (sign trick for Q8_0); the
// scalar level sums the same lanes. Then per lane acc = fma(float(lane), d_w·d_x, acc), block by block:
// decode alternates two accumulators (even and odd blocks), prefill tiles of 4 rows × 4 tokens keep one
// per (row, token); the lanes are summed at the end as ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)).


typedef int32_t lanes8 __attribute__((vector_size(32)));

/// An activation block prepared for dot products: its scale, its quants, and for each lane the offset
/// correction the lane starts from (−offset · Σ of the lane's 4 quants).
typedef struct {
    float d;
    int8_t q[32];
    lanes8 start;
} prepared_block;

static inline void prepare_q8_0(const uint8_t *x, int64_t nb, prepared_block *out, int offset) {
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *xb = x + b * Q8_BYTES;
        out[b].d = f16_to_f32(xb);
        memcpy(out[b].q, xb + 2, 32);
        for (int l = 0; l < 8; l++) {
            int32_t s = 0;
            for (int j = 0; j < 4; j++) s += out[b].q[4 * l + j];
            out[b].start[l] = -offset * s;
        }
    }
}

/// The offset the activations are prepared for: −8·Σx for Q4_0 nibbles; for Q8_0 weights −128·Σx where
/// they are offset to unsigned (VNNI), none elsewhere.
static inline int activation_offset(int q4) { return q4 ? 8 : (RWKV_VNNI ? 0x80 : 0); }

/// The 32 signed weight quants of a block (Q8_0 as stored, Q4_0 as nibble − 8), for the scalar level.
static inline void block_quants(const uint8_t *wb, int q4, int32_t *w) {
    for (int j = 0; j < 32; j++)
        w[j] = q4 ? (j < 16 ? (wb[2 + j] & 0x0F) : (wb[2 + j - 16] >> 4)) - 8 : (int8_t)wb[2 + j];
}

#if RWKV_SIMD
static inline __m256i as_m256i(lanes8 v) {
    __m256i out;
    memcpy(&out, &v, sizeof out);
    return out;
}

static inline __m256i dot_u8_s8(__m256i acc, __m256i u, __m256i s) {
#if RWKV_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

static inline __m256i load_q4_nibbles(const uint8_t *qs) {
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m128i mask = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(packed, 4), mask), _mm_and_si128(packed, mask));
}
#endif

/// The 8 lane sums of weight block `wb` · prepared activations `x`.
static inline v8 block_dot(const uint8_t *wb, const prepared_block *x, int q4) {
#if RWKV_SIMD
    const __m256i xq = _mm256_loadu_si256((const __m256i *)x->q);
    __m256i sum;
    if (q4) {
        sum = dot_u8_s8(as_m256i(x->start), load_q4_nibbles(wb + 2), xq);
    } else {
        const __m256i wq = _mm256_loadu_si256((const __m256i *)(wb + 2));
#if RWKV_VNNI
        sum = _mm256_dpbusd_epi32(as_m256i(x->start), _mm256_xor_si256(wq, _mm256_set1_epi8((char)0x80)), xq);
#else
        sum = dot_u8_s8(_mm256_setzero_si256(), _mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
#endif
    }
    const __m256 f = _mm256_cvtepi32_ps(sum);
    v8 out;
    memcpy(&out, &f, sizeof out);
    return out;
#else
    int32_t w[32];
    block_quants(wb, q4, w);
    v8 out;
    for (int l = 0; l < 8; l++) {
        int32_t s = 0;
        for (int j = 0; j < 4; j++) s += w[4 * l + j] * x->q[4 * l + j];
        out[l] = (float)s;
    }
    return out;
#endif
}

/// Decode: the activation row prepared once, then the weight rows one after another.
static void decode_quantized(const uint8_t *w, const uint8_t *x, float *out, int64_t k, int64_t r0, int64_t r1, const int q4) {
    const int64_t nb = k / 32, block = q4 ? Q4_BYTES : Q8_BYTES;
    prepared_block blocks[nb];
    prepare_q8_0(x, nb, blocks, activation_offset(q4));
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * nb * block;
        v8 acc[2] = {splat8(0), splat8(0)};
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *wb = wr + b * block;
            acc[b & 1] = fma8(block_dot(wb, &blocks[b], q4), splat8(f16_to_f32(wb) * blocks[b].d), acc[b & 1]);
        }
        out[r] = hsum8(acc[0] + acc[1]);
    }
}

/// Prefill: each 4-token tile's blocks prepared once and reused by every 4-row weight tile.
static inline __attribute__((always_inline)) void tile_quantized(const uint8_t *w, const prepared_block *x, float *out, int64_t nb,
                                                                 int64_t m, int64_t row, int64_t token, const int RB,
                                                                 const int TB, const int q4) {
    const int64_t block = q4 ? Q4_BYTES : Q8_BYTES, row_bytes = nb * block;
    v8 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) acc[r][t] = splat8(0);
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < RB; r++) {
            const uint8_t *wb = w + (row + r) * row_bytes + b * block;
            const float dw = f16_to_f32(wb);
            for (int t = 0; t < TB; t++)
                acc[r][t] = fma8(block_dot(wb, &x[t * nb + b], q4), splat8(dw * x[t * nb + b].d), acc[r][t]);
        }
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) out[(token + t) * m + row + r] = hsum8(acc[r][t]);
}

static void prefill_quantized(const uint8_t *w, const uint8_t *x, float *out, int64_t k, int64_t m, int64_t tokens,
                              int64_t r0, int64_t r1, const int q4) {
    const int64_t nb = k / 32;
    const int offset = activation_offset(q4);
    prepared_block prepared[4 * nb];
    int64_t t = 0;
    for (; t + 4 <= tokens; t += 4) {
        prepare_q8_0(x + t * nb * Q8_BYTES, 4 * nb, prepared, offset);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_quantized(w, prepared, out, nb, m, r, t, 4, 4, q4);
        for (; r < r1; r++) tile_quantized(w, prepared, out, nb, m, r, t, 1, 4, q4);
    }
    for (; t < tokens; t++) {
        prepare_q8_0(x + t * nb * Q8_BYTES, nb, prepared, offset);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_quantized(w, prepared, out, nb, m, r, t, 4, 1, q4);
        for (; r < r1; r++) tile_quantized(w, prepared, out, nb, m, r, t, 1, 1, q4);
    }
}

static void matmul_q8_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1) decode_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, r0, r1, 0);
    else prefill_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, m, tokens, r0, r1, 0);
}

static void matmul_q4_0(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    if (tokens == 1) decode_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, r0, r1, 1);
    else prefill_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, m, tokens, r0, r1, 1);
}
