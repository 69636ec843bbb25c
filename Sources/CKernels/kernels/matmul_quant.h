// The blocks of 32 in ggml's row layout against Q8_0 activations: Q8_0 and Q4_0 (models repack matrices whose
// row count is a multiple of 8 into the r8 layouts; these kernels serve the rest), Q4_1, Q5_0, Q5_1, IQ4_NL.
//
// A block's integer dot product is taken as 8 int32 lanes, lane l summing bytes 4l…4l+3: AVX-512 VNNI
// vpdpbusd on (w + 128) unsigned against signed x started from −128·Σx (Q8_0), or on unsigned quants (nibbles
// 0…15, five-bit 0…31) started from −offset·Σx (Q4_0: 8, Q5_0: 16, Q4_1/Q5_1: 0), so the offsets cancel
// exactly; AVX2 maddubs + madd (sign trick for the signed Q8_0 and IQ4_NL values); the scalar level sums the
// same lanes. Then per lane acc = fma(float(lane), d_w·d_x, acc), block by block, and for Q4_1/Q5_1
// acc = fma(Σx lanes, m·d_x, acc): decode alternates two accumulators (even and odd blocks), prefill tiles of
// 4 rows × 4 tokens keep one per (row, token); the lanes are summed at the end as
// ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)).

/// The block types, as the `kind` argument of these kernels.
enum { B32_Q8_0, B32_Q4_0, B32_Q4_1, B32_Q5_0, B32_Q5_1, B32_IQ4_NL };

/// Bytes of a block of `kind`.
static inline int64_t b32_bytes(int kind) {
    static const int64_t bytes[] = {34, 18, 20, 22, 24, 18};
    return bytes[kind];
}

/// Where a block's 16 bytes of nibbles start (Q8_0: its 32 quants).
static inline int b32_quants_at(int kind) {
    static const int at[] = {2, 2, 4, 6, 8, 2};
    return at[kind];
}


typedef int32_t lanes8 __attribute__((vector_size(32)));

/// An activation block prepared for dot products: its scale, its quants, for each lane the offset correction
/// the lane starts from (−offset · Σ of the lane's 4 quants), and (for the types with a minimum) each lane's
/// Σ of quants as floats.
typedef struct {
    float d;
    int8_t q[32];
    lanes8 start;
    v8 sums;
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
            out[b].sums[l] = (float)s;
        }
    }
}

/// The offset the activations are prepared for: −8·Σx for Q4_0 nibbles, −16·Σx for Q5_0; for Q8_0 weights
/// −128·Σx where they are offset to unsigned (VNNI); none elsewhere.
static inline int activation_offset(int kind) {
    return kind == B32_Q4_0 ? 8 : kind == B32_Q5_0 ? 16 : kind == B32_Q8_0 && RWKV_VNNI ? 0x80 : 0;
}

/// Whether a block of `kind` has a minimum (an f16 `m` after its scale: value = d·q + m).
static inline int b32_has_min(int kind) { return kind == B32_Q4_1 || kind == B32_Q5_1; }

/// The 32 weight values of a block in integer units of d (Q8_0 as stored, Q4_0 nibble − 8, Q5_0 five-bit − 16,
/// Q4_1/Q5_1 the unsigned quants, IQ4_NL the table's values), for the scalar level.
static inline void block_quants(const uint8_t *wb, int kind, int32_t *w) {
    const uint8_t *qs = wb + b32_quants_at(kind);
    uint32_t high = 0;
    if (kind == B32_Q5_0 || kind == B32_Q5_1) memcpy(&high, wb + b32_quants_at(kind) - 4, 4);
    for (int j = 0; j < 32; j++) {
        if (kind == B32_Q8_0) {
            w[j] = (int8_t)qs[j];
            continue;
        }
        const int nibble = j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
        const int five = nibble | (int)(high >> j & 1) << 4;
        w[j] = kind == B32_Q4_0 ? nibble - 8 : kind == B32_Q4_1 ? nibble : kind == B32_Q5_0 ? five - 16
             : kind == B32_Q5_1 ? five : iq4_values[nibble];
    }
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

/// 0x10 in byte j where bit j of the 32 bits at `qh` is set (the fifth bits of a Q5 block).
static inline __m256i load_fifth_bits(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}
#endif

/// The 8 lane sums of weight block `wb` · prepared activations `x`.
static inline v8 block_dot(const uint8_t *wb, const prepared_block *x, int kind) {
#if RWKV_SIMD
    const __m256i xq = _mm256_loadu_si256((const __m256i *)x->q);
    const uint8_t *qs = wb + b32_quants_at(kind);
    __m256i sum;
    if (kind == B32_Q8_0) {
        const __m256i wq = _mm256_loadu_si256((const __m256i *)qs);
#if RWKV_VNNI
        sum = _mm256_dpbusd_epi32(as_m256i(x->start), _mm256_xor_si256(wq, _mm256_set1_epi8((char)0x80)), xq);
#else
        sum = dot_u8_s8(_mm256_setzero_si256(), _mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
#endif
    } else if (kind == B32_IQ4_NL) {
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_values));
        const __m256i v = _mm256_shuffle_epi8(table, load_q4_nibbles(qs));
        sum = dot_u8_s8(_mm256_setzero_si256(), _mm256_sign_epi8(v, v), _mm256_sign_epi8(xq, v));
    } else {
        __m256i u = load_q4_nibbles(qs);
        if (kind == B32_Q5_0 || kind == B32_Q5_1) u = _mm256_or_si256(u, load_fifth_bits(qs - 4));
        sum = dot_u8_s8(as_m256i(x->start), u, xq);
    }
    const __m256 f = _mm256_cvtepi32_ps(sum);
    v8 out;
    memcpy(&out, &f, sizeof out);
    return out;
#else
    int32_t w[32];
    block_quants(wb, kind, w);
    v8 out;
    for (int l = 0; l < 8; l++) {
        int32_t s = 0;
        for (int j = 0; j < 4; j++) s += w[4 * l + j] * x->q[4 * l + j];
        out[l] = (float)s;
    }
    return out;
#endif
}

/// acc plus block `wb` · `x`: the lanes times d_w·d_x, and for a block with a minimum the activation lane
/// sums times m·d_x.
static inline v8 block_accumulate(v8 acc, const uint8_t *wb, const prepared_block *x, int kind) {
    acc = fma8(block_dot(wb, x, kind), splat8(f16_to_f32(wb) * x->d), acc);
    if (b32_has_min(kind)) acc = fma8(x->sums, splat8(f16_to_f32(wb + 2) * x->d), acc);
    return acc;
}

/// Decode: the activation row prepared once, then the weight rows one after another.
static inline __attribute__((always_inline)) void decode_quantized(const uint8_t *w, const uint8_t *x, float *out, int64_t k,
                                                                   int64_t r0, int64_t r1, const int kind) {
    const int64_t nb = k / 32, block = b32_bytes(kind);
    prepared_block blocks[nb];
    prepare_q8_0(x, nb, blocks, activation_offset(kind));
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *wr = w + r * nb * block;
        v8 acc[2] = {splat8(0), splat8(0)};
        for (int64_t b = 0; b < nb; b++) acc[b & 1] = block_accumulate(acc[b & 1], wr + b * block, &blocks[b], kind);
        out[r] = hsum8(acc[0] + acc[1]);
    }
}

/// Prefill: each 4-token tile's blocks prepared once and reused by every 4-row weight tile.
static inline __attribute__((always_inline)) void tile_quantized(const uint8_t *w, const prepared_block *x, float *out, int64_t nb,
                                                                 int64_t m, int64_t row, int64_t token, const int RB,
                                                                 const int TB, const int kind) {
    const int64_t block = b32_bytes(kind), row_bytes = nb * block;
    v8 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) acc[r][t] = splat8(0);
    for (int64_t b = 0; b < nb; b++)
        for (int r = 0; r < RB; r++) {
            const uint8_t *wb = w + (row + r) * row_bytes + b * block;
            for (int t = 0; t < TB; t++) acc[r][t] = block_accumulate(acc[r][t], wb, &x[t * nb + b], kind);
        }
    for (int r = 0; r < RB; r++)
        for (int t = 0; t < TB; t++) out[(token + t) * m + row + r] = hsum8(acc[r][t]);
}

static inline __attribute__((always_inline)) void prefill_quantized(const uint8_t *w, const uint8_t *x, float *out, int64_t k,
                                                                    int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int kind) {
    const int64_t nb = k / 32;
    const int offset = activation_offset(kind);
    prepared_block prepared[4 * nb];
    int64_t t = 0;
    for (; t + 4 <= tokens; t += 4) {
        prepare_q8_0(x + t * nb * Q8_BYTES, 4 * nb, prepared, offset);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_quantized(w, prepared, out, nb, m, r, t, 4, 4, kind);
        for (; r < r1; r++) tile_quantized(w, prepared, out, nb, m, r, t, 1, 4, kind);
    }
    for (; t < tokens; t++) {
        prepare_q8_0(x + t * nb * Q8_BYTES, nb, prepared, offset);
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) tile_quantized(w, prepared, out, nb, m, r, t, 4, 1, kind);
        for (; r < r1; r++) tile_quantized(w, prepared, out, nb, m, r, t, 1, 1, kind);
    }
}

#define BLOCK32_MATMUL(name, kind)                                                                                     \
    static void name(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) { \
        if (tokens == 1) decode_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, r0, r1, kind);                    \
        else prefill_quantized((const uint8_t *)w, (const uint8_t *)x, out, k, m, tokens, r0, r1, kind);                   \
    }

BLOCK32_MATMUL(matmul_q8_0, B32_Q8_0)
BLOCK32_MATMUL(matmul_q4_0, B32_Q4_0)
BLOCK32_MATMUL(matmul_q4_1, B32_Q4_1)
BLOCK32_MATMUL(matmul_q5_0, B32_Q5_0)
BLOCK32_MATMUL(matmul_q5_1, B32_Q5_1)
BLOCK32_MATMUL(matmul_iq4_nl, B32_IQ4_NL)
