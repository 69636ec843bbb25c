// Decode with F32/F16/BF16 weights: one token, or a batched decode step's columns (one per sequence), each
// column with exactly the one-token arithmetic of matmul_float.h, each row read (and widened) once for several
// columns. A token's result is therefore the same bits alone and in any batch.
//
// From AVX-512 on, one 16-lane accumulator holds two of the one-token arithmetic's 8-lane accumulators side by
// side: lanes 0–7 and 8–15 see the same values, in the same order, as the two they stand for, so one FMA does
// the work of two with the same bits. The pairs are split before the tails and the trees, which the shared
// end helpers (`f32_dots_end`, `half_dots_end`) then finish.

#if RWKV_LEVEL >= 2
static inline v8 low8(v16 a) { return __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7); }
static inline v8 high8(v16 a) { return __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15); }

typedef _Float16 h16 __attribute__((vector_size(32)));

/// Sixteen weights widened to f32, as `widen8` does eight.
static inline v16 widen16(const uint16_t *p, int bf16) {
    if (bf16) {
        typedef uint32_t u16x32 __attribute__((vector_size(64)));
        typedef uint16_t u16x16 __attribute__((vector_size(32)));
        u16x16 raw;
        memcpy(&raw, p, sizeof raw);
        const u16x32 bits = __builtin_convertvector(raw, u16x32) << 16;
        v16 out;
        memcpy(&out, &bits, sizeof out);
        return out;
    }
    h16 h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, v16);
}

/// The 8-lane accumulators `pairs` stand for, in order: pairs[j] holds accumulators 2j and 2j + 1.
static inline __attribute__((always_inline)) void split_pairs(const v16 *pairs, int count, v8 *acc) {
    for (int j = 0; j < count; j++) {
        acc[2 * j] = low8(pairs[j]);
        acc[2 * j + 1] = high8(pairs[j]);
    }
}

// Short rows in the lanes. A batched step's short rows (a LoRA's 64-value rows) spend most of their time in
// the per-(row, column) trees and lane sums. For 3 columns or more, rows of 64 F32 values or 32 or 64 F16/BF16
// values (whole steps, no tail) are therefore taken 16 at a time with the rows in the lanes: widened and
// transposed once, then per column every accumulator lane of the one-token arithmetic is one vector of 16
// rows — the same FMAs from the same zero, the same tree, the lanes summed in `hsum8_pairwise`'s order — so
// the same bits, without a horizontal sum. A B = 8 step's 64-value LoRA rows: about a third less time (one
// thread, the rows in cache); with 2 columns, or 128-value rows, the transposes cost what they save.

#define LANE_LIST_(...) __VA_ARGS__
/// One stage of `transpose16`: for each of the 8 row pairs (the i-th row with bit B clear, and that row + B),
/// bit B of the row and of the lane exchanged; LOW and HIGH are the pair's two shuffles, as parenthesised lists.
#define TRANSPOSE_STAGE(m, B, LOW, HIGH)                                                     \
    _Pragma("clang loop unroll(full)") for (int i_ = 0; i_ < 8; i_++) {                      \
        const int lo_ = (i_ & ~((B) - 1)) * 2 + (i_ & ((B) - 1));                            \
        const v16 a_ = (m)[lo_], b_ = (m)[lo_ + (B)];                                        \
        (m)[lo_] = __builtin_shufflevector(a_, b_, LANE_LIST_ LOW);                          \
        (m)[lo_ + (B)] = __builtin_shufflevector(a_, b_, LANE_LIST_ HIGH);                   \
    }

/// The 16 × 16 transpose of m (sixteen rows of sixteen lanes) in place: row and lane bits exchanged one at a time.
static inline __attribute__((always_inline)) void transpose16(v16 m[16]) {
    TRANSPOSE_STAGE(m, 8, (0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
                    (8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31))
    TRANSPOSE_STAGE(m, 4, (0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
                    (4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31))
    TRANSPOSE_STAGE(m, 2, (0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29),
                    (2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31))
    TRANSPOSE_STAGE(m, 1, (0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30),
                    (1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31))
}
#undef TRANSPOSE_STAGE
#undef LANE_LIST_

/// Fewest columns for which they are worth their transposes.
#define LANES_MIN_COLUMNS 3

/// 16 rows of k values (a multiple of 16, ≤ 64; row r at w + r·k, widened by `widen`) transposed into t:
/// t[i] holds value i of the 16 rows.
#define TRANSPOSED_ROWS16(t, k, widen)                                              \
    for (int q_ = 0; q_ < (k) / 16; q_++) {                                         \
        v16 block_[16];                                                             \
        _Pragma("clang loop unroll(full)") for (int r_ = 0; r_ < 16; r_++) block_[r_] = widen(r_ * (k) + 16 * q_); \
        transpose16(block_);                                                        \
        _Pragma("clang loop unroll(full)") for (int i_ = 0; i_ < 16; i_++) (t)[16 * q_ + i_] = block_[i_]; \
    }

/// The pairwise tree of n (4 or 8) vectors: (0 + 1) + (2 + 3), and for 8 that plus the same of 4…7.
static inline __attribute__((always_inline)) v16 pairwise16(const v16 *a, const int n) {
    const v16 four = (a[0] + a[1]) + (a[2] + a[3]);
    return n == 4 ? four : four + ((a[4] + a[5]) + (a[6] + a[7]));
}

/// 16 transposed rows (`t`, from TRANSPOSED_ROWS16) times `columns` columns (k floats apart, out m apart), each
/// (row, column) with the one-token arithmetic of `accumulators` (8: F32, 4: F16/BF16) 8-lane accumulators from
/// zero over steps of 8 · accumulators values, their pairwise tree, then the 8 lanes' pairwise tree.
static inline __attribute__((always_inline)) void lanes_columns(const v16 *t, const float *x, float *out, int64_t k,
                                                                int64_t m, int64_t columns, const int accumulators) {
    const v16 zero = zero16();
    for (int64_t c = 0; c < columns; c++) {
        const float *xc = x + c * k;
        v16 v[8];
        for (int l = 0; l < 8; l++) {
            v16 a[8];
            for (int j = 0; j < accumulators; j++) {
                a[j] = fma16(t[8 * j + l], splat16(xc[8 * j + l]), zero);
                for (int64_t i = 8 * accumulators; i < k; i += 8 * accumulators)
                    a[j] = fma16(t[i + 8 * j + l], splat16(xc[i + 8 * j + l]), a[j]);
            }
            v[l] = pairwise16(a, accumulators);
        }
        store16(out + c * m, pairwise16(v, 8));
    }
}

/// Rows r..r + 15 of 64 F32 values times `columns` columns (64 floats apart, out m apart), each (row, column)
/// with the one-token arithmetic (`rows4_f32`: 8 accumulators over one 64-value step).
static inline __attribute__((always_inline)) void rows16_f32_lanes(const float *w, const float *x, float *out, int64_t m,
                                                                   int64_t columns) {
    v16 t[64];
#define LOAD_F32(at) load16(w + (at))
    TRANSPOSED_ROWS16(t, 64, LOAD_F32)
#undef LOAD_F32
    lanes_columns(t, x, out, 64, m, columns, 8);
}

/// Rows r..r + 15 of k = 32 or 64 F16/BF16 values times `columns` columns, each (row, column) with the one-token
/// arithmetic (`rows4_half`: 4 accumulators over 32-value steps).
static inline __attribute__((always_inline)) void rows16_half_lanes(const uint16_t *w, const float *x, float *out, int64_t k,
                                                                    int64_t m, int64_t columns, const int bf16) {
    v16 t[64];
#define WIDEN_HALF(at) widen16(w + (at), bf16)
    TRANSPOSED_ROWS16(t, k, WIDEN_HALF)
#undef WIDEN_HALF
    lanes_columns(t, x, out, k, m, columns, 4);
}
#undef TRANSPOSED_ROWS16
#endif

/// Calls CALL(c, n) for consecutive groups of n columns from 0 to `columns`: groups of `widest` (a constant
/// power of two), then the rest in halving groups (4, 2, 1), so every call's n is a constant ≤ widest.
#define COLUMN_GROUPS(columns, widest, CALL)                                                                          \
    do {                                                                                                             \
        int64_t c_ = 0;                                                                                              \
        for (; c_ + (widest) <= (columns); c_ += (widest)) CALL(c_, (widest));                                       \
        if ((widest) > 4 && c_ + 4 <= (columns)) CALL(c_, ((widest) > 4 ? 4 : 1)), c_ += 4;                         \
        if ((widest) > 2 && c_ + 2 <= (columns)) CALL(c_, ((widest) > 2 ? 2 : 1)), c_ += 2;                         \
        for (; c_ < (columns); c_++) CALL(c_, 1);                                                                    \
    } while (0)

/// Columns of one F32 row taken together: CB at a time where the vector registers hold their accumulators.
#define F32_COLUMNS (RWKV_LEVEL >= 2 ? 4 : 1)

/// Row `wr` times CB columns (k floats apart), each with the one-token arithmetic of `matmul_f32` (8
/// accumulators over 64-value steps, then `f32_dots_end`): the row's loads are shared by the columns, and
/// their lane sums taken four at a time.
static inline __attribute__((always_inline)) void row_f32_columns(const float *wr, const float *x, int64_t k, float *out,
                                                                 int64_t m, const int CB) {
    int64_t i = 0;
#if RWKV_LEVEL >= 2
    v16 pairs[F32_COLUMNS][4];
    for (int c = 0; c < CB; c++)
        for (int j = 0; j < 4; j++) pairs[c][j] = zero16();
    for (; i + 64 <= k; i += 64) {
        // The weights are streamed: asked for R8_PREFETCH bytes ahead, four lines (64 values) per step.
        prefetch_stream(wr + i, R8_PREFETCH, 256);
        for (int j = 0; j < 4; j++) {
            const v16 wv = load16(wr + i + 16 * j);
            for (int c = 0; c < CB; c++) pairs[c][j] = fma16(wv, load16(x + c * k + i + 16 * j), pairs[c][j]);
            // One token: the weight loads kept in address order (reading a step's lines backwards cost ~20 %
            // of the read bandwidth on Zen 4).
            if (CB == 1) __asm__ volatile("" ::: "memory");
        }
    }
    v8 acc[F32_COLUMNS][8];
    for (int c = 0; c < CB; c++) split_pairs(pairs[c], 4, acc[c]);
    f32_dots_end(wr, 0, x, k, out, m, k, i, acc, CB);
#else
    v8 acc[F32_COLUMNS][8];
    for (int c = 0; c < CB; c++)
        for (int j = 0; j < 8; j++) acc[c][j] = zero8();
    for (; i + 64 <= k; i += 64) {
        prefetch_stream(wr + i, R8_PREFETCH, 256);  // as above
        for (int j = 0; j < 8; j++) {
            const v8 wv = load8(wr + i + 8 * j);
            for (int c = 0; c < CB; c++) acc[c][j] = fma8(wv, load8(x + c * k + i + 8 * j), acc[c][j]);
            if (CB == 1 && (j & 1)) __asm__ volatile("" ::: "memory");  // as above, a line at a time
        }
    }
    f32_dots_end(wr, 0, x, k, out, m, k, i, acc, CB);
#endif
}

/// Each of `columns` tokens (one, or a batched decode step's sequences) times rows r0..r1 with the one-token
/// arithmetic, so the same bits whatever the number of columns. Short rows go four at a time per column (in
/// cache after the first column); long rows one at a time, read once for several columns.
static void matmul_f32_columns(const void *weights, const void *activations, float *out, int64_t k, int64_t m,
                               int64_t columns, int64_t r0, int64_t r1) {
    const float *w = (const float *)weights, *x = (const float *)activations;
#define F32_GROUP(c, n) row_f32_columns(w + r * k, x + (c) * k, k, out + (c) * m + r, m, n)
    int64_t r = r0;
#if RWKV_LEVEL >= 2
    if (columns >= LANES_MIN_COLUMNS && k == 64)
        for (; r + 16 <= r1; r += 16) {
            prefetch_stream(w + r * k, R8_PREFETCH, 16 * 64 * (int64_t)sizeof(float));
            rows16_f32_lanes(w + r * k, x, out + r, m, columns);
        }
#endif
    if (k <= 64)
        for (; r + 4 <= r1; r += 4) {
            // Short rows are a stream too: asked for R8_PREFETCH bytes ahead, a line at a time.
            prefetch_stream(w + r * k, R8_PREFETCH, 4 * k * (int64_t)sizeof(float));
            for (int64_t c = 0; c < columns; c++) rows4_f32(w + r * k, x + c * k, out + c * m + r, k);
        }
    for (; r < r1; r++) COLUMN_GROUPS(columns, F32_COLUMNS, F32_GROUP);
#undef F32_GROUP
}

/// One token is the columns kernel for one column (rows of ≤ 64 values four at a time, their sums in one
/// tree; long rows one after another: 8 accumulators over 64-value steps, from AVX-512 on paired); several
/// tokens are a BLAS GEMM per fixed block of GEMM_ROWS rows (OpenBLAS single-threaded inside), so every element
/// is summed the same way whatever the thread count.
static void matmul_f32(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                       int64_t r0, int64_t r1) {
    if (tokens == 1) {
        matmul_f32_columns(weights, activations, out, k, m, 1, r0, r1);
        return;
    }
    const float *w = (const float *)weights, *x = (const float *)activations;
    for (int64_t r = r0; r < r1; r += GEMM_ROWS) {
        const int64_t rows = r1 - r < GEMM_ROWS ? r1 - r : GEMM_ROWS;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tokens, (int)rows, (int)k, 1, x, (int)k, w + r * k,
                    (int)k, 0, out + r, (int)m);
    }
}

/// Columns of one long F16/BF16 row taken together (4 accumulators each).
#define HALF_COLUMNS (RWKV_LEVEL >= 2 ? 8 : 2)

/// One row times CB columns (k floats apart), each with the one-token arithmetic of a long F16/BF16 row (4
/// accumulators over 32-value steps, then `half_dots_end`): the row is widened once for all CB.
static inline __attribute__((always_inline)) void row_half_columns(const uint16_t *w, const float *x, int64_t k, float *out,
                                                                  int64_t m, const int CB, const int bf16) {
    int64_t i = 0;
#if RWKV_LEVEL >= 2
    v16 pairs[HALF_COLUMNS][2];
    for (int c = 0; c < CB; c++) pairs[c][0] = pairs[c][1] = zero16();
    for (; i + 32 <= k; i += 32) {
        // The weights are streamed: asked for R8_PREFETCH bytes ahead, a line (32 values) per step.
        prefetch_stream(w + i, R8_PREFETCH, 64);
        for (int j = 0; j < 2; j++) {
            const v16 wv = widen16(w + i + 16 * j, bf16);
            for (int c = 0; c < CB; c++) pairs[c][j] = fma16(wv, load16(x + c * k + i + 16 * j), pairs[c][j]);
        }
    }
    v8 acc[HALF_COLUMNS][4];
    for (int c = 0; c < CB; c++) split_pairs(pairs[c], 2, acc[c]);
    half_dots_end(w, 0, x, k, out, m, k, i, acc, CB, bf16);
#else
    v8 acc[HALF_COLUMNS][4];
    for (int c = 0; c < CB; c++)
        for (int j = 0; j < 4; j++) acc[c][j] = zero8();
    for (; i + 32 <= k; i += 32) {
        prefetch_stream(w + i, R8_PREFETCH, 64);  // as above
        for (int j = 0; j < 4; j++) {
            const v8 wv = widen8(w + i + 8 * j, bf16);
            for (int c = 0; c < CB; c++) acc[c][j] = fma8(wv, load8(x + c * k + i + 8 * j), acc[c][j]);
        }
    }
    half_dots_end(w, 0, x, k, out, m, k, i, acc, CB, bf16);
#endif
}

/// Columns of four short rows (≤ 64 values) taken together.
#define HALF_SHORT_COLUMNS (RWKV_LEVEL >= 2 ? 2 : 1)

/// Four rows of ≤ 64 values times CB columns, each column with the arithmetic of `rows4_half` (their
/// sums in one tree), the rows widened once for all CB.
static inline __attribute__((always_inline)) void rows4_half_columns(const uint16_t *w, const float *x, int64_t k, float *out,
                                                                    int64_t m, const int CB, const int bf16) {
#if RWKV_LEVEL >= 2
    v16 pairs[HALF_SHORT_COLUMNS][4][2];
    for (int c = 0; c < CB; c++)
        for (int r = 0; r < 4; r++) pairs[c][r][0] = pairs[c][r][1] = zero16();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int j = 0; j < 2; j++) {
            v16 xv[HALF_SHORT_COLUMNS];
            for (int c = 0; c < CB; c++) xv[c] = load16(x + c * k + i + 16 * j);
            for (int r = 0; r < 4; r++) {
                const v16 wv = widen16(w + r * k + i + 16 * j, bf16);
                for (int c = 0; c < CB; c++) pairs[c][r][j] = fma16(wv, xv[c], pairs[c][r][j]);
            }
        }
    for (int c = 0; c < CB; c++) {
        v8 acc[4][4];
        for (int r = 0; r < 4; r++) split_pairs(pairs[c][r], 2, acc[r]);
        half_dots_end(w, k, x + c * k, 0, out + c * m, 1, k, i, acc, 4, bf16);
    }
#else
    for (int c = 0; c < CB; c++) rows4_half(w, x + c * k, out + c * m, k, bf16);
#endif
}

/// Each of `columns` tokens (one, or a batched decode step's sequences) times rows r0..r1 with the one-token
/// arithmetic, so the same bits whatever the number of columns. Short rows go four at a time, long rows one
/// at a time; each is widened once for several columns.
static inline __attribute__((always_inline)) void matmul_half_columns(const uint16_t *w, const float *x, float *out, int64_t k,
                                                                     int64_t m, int64_t columns, int64_t r0, int64_t r1,
                                                                     const int bf16) {
#define SHORT_GROUP(c, n) rows4_half_columns(w + r * k, x + (c) * k, k, out + (c) * m + r, m, n, bf16)
#define LONG_GROUP(c, n) row_half_columns(w + r * k, x + (c) * k, k, out + (c) * m + r, m, n, bf16)
    int64_t r = r0;
#if RWKV_LEVEL >= 2
    // k a constant in each call, so that the transposes and the steps unroll into registers.
    if (columns >= LANES_MIN_COLUMNS && (k == 32 || k == 64))
        for (; r + 16 <= r1; r += 16) {
            prefetch_stream(w + r * k, R8_PREFETCH, 16 * k * (int64_t)sizeof(uint16_t));
            if (k == 64) rows16_half_lanes(w + r * k, x, out + r, 64, m, columns, bf16);
            else rows16_half_lanes(w + r * k, x, out + r, 32, m, columns, bf16);
        }
#endif
    if (k <= 64)
        for (; r + 4 <= r1; r += 4) {
            prefetch_stream(w + r * k, R8_PREFETCH, 4 * k * (int64_t)sizeof(uint16_t));  // as the F32 short rows
            COLUMN_GROUPS(columns, HALF_SHORT_COLUMNS, SHORT_GROUP);
        }
    for (; r < r1; r++) COLUMN_GROUPS(columns, HALF_COLUMNS, LONG_GROUP);
#undef SHORT_GROUP
#undef LONG_GROUP
}

static void matmul_f16_columns(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t columns, int64_t r0, int64_t r1) {
    matmul_half_columns((const uint16_t *)w, (const float *)x, out, k, m, columns, r0, r1, 0);
}

static void matmul_bf16_columns(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t columns, int64_t r0, int64_t r1) {
    matmul_half_columns((const uint16_t *)w, (const float *)x, out, k, m, columns, r0, r1, 1);
}

/// One token is the columns kernel for one column (the one-token arithmetic of matmul_float.h: rows of ≤ 64
/// values four at a time, long rows one after another, one sequential stream, which the prefetcher follows
/// best; from AVX-512 on with paired accumulators, half the instructions); several tokens are `gemm_half`'s
/// panels.
static inline __attribute__((always_inline)) void matmul_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                             int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int bf16) {
    if (tokens > 1) gemm_half(w, x, out, k, m, tokens, r0, r1, bf16);
    else matmul_half_columns(w, x, out, k, m, 1, r0, r1, bf16);
}

static void matmul_f16(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_half((const uint16_t *)w, (const float *)x, out, k, m, tokens, r0, r1, 0);
}

static void matmul_bf16(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_half((const uint16_t *)w, (const float *)x, out, k, m, tokens, r0, r1, 1);
}
