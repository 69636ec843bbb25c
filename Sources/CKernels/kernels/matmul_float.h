// F32, F16 and BF16 weights against f32 activations.
//
// F32: one token is a matvec (8 accumulators of 8 lanes over 64-value steps, loads kept in address order:
// 5–15 % more read bandwidth on Zen 4 than other orders), several tokens a BLAS GEMM per fixed block of 64
// rows (OpenBLAS single-threaded inside), so every element is summed the same way whatever the thread count.
// F16/BF16: decode streams rows one after another (rows of ≤ 64 values four at a time, their sums in one tree);
// prefill widens panels of 16 rows × 256 columns to f32 and multiplies them 6 tokens at a time (below).
// The vector code is portable (GCC vector extensions, explicit FMA): the same arithmetic at every level.

#include <cblas.h>

/// Rows per BLAS call of a several-token F32 matmul.
#define GEMM_ROWS 64

static void matmul_f32(const void *weights, const void *activations, float *out, int64_t k, int64_t m, int64_t tokens,
                       int64_t r0, int64_t r1) {
    const float *w = (const float *)weights, *x = (const float *)activations;
    if (tokens > 1) {
        for (int64_t r = r0; r < r1; r += GEMM_ROWS) {
            const int64_t rows = r1 - r < GEMM_ROWS ? r1 - r : GEMM_ROWS;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tokens, (int)rows, (int)k, 1, x, (int)k,
                        w + r * k, (int)k, 0, out + r, (int)m);
        }
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const float *wr = w + r * k;
        v8 acc[8];
        for (int j = 0; j < 8; j++) acc[j] = splat8(0);
        int64_t i = 0;
        for (; i + 64 <= k; i += 64)
            for (int j = 0; j < 8; j++) {
                acc[j] = fma8(load8(wr + i + 8 * j), load8(x + i + 8 * j), acc[j]);
                // Keeps the weight loads in address order (reading a step's lines backwards cost ~20 % on Zen 4).
                if (j & 1) __asm__ volatile("" ::: "memory");
            }
        for (; i + 8 <= k; i += 8) acc[0] = fma8(load8(wr + i), load8(x + i), acc[0]);
        const v8 s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        float sum = hsum8_pairwise(s);
        for (; i < k; i++) sum += wr[i] * x[i];
        out[r] = sum;
    }
}

/// Columns of one F32 row taken together in a batched decode: CB at a time where the vector registers hold
/// their 8 accumulators each.
#define F32_COLUMNS (RWKV_LEVEL >= 2 ? 2 : 1)

/// Row `wr` times CB columns (k floats apart), each with the one-token arithmetic of `matmul_f32` (8
/// accumulators over 64-value steps, the same tree and tail), the row's loads shared by the columns.
static inline __attribute__((always_inline)) void row_f32_columns(const float *wr, const float *x, int64_t k, float *out,
                                                                 int64_t m, const int CB) {
    v8 acc[F32_COLUMNS][8];
    for (int c = 0; c < CB; c++)
        for (int j = 0; j < 8; j++) acc[c][j] = splat8(0);
    int64_t i = 0;
    for (; i + 64 <= k; i += 64)
        for (int j = 0; j < 8; j++) {
            const v8 wv = load8(wr + i + 8 * j);
            for (int c = 0; c < CB; c++) acc[c][j] = fma8(wv, load8(x + c * k + i + 8 * j), acc[c][j]);
        }
    for (; i + 8 <= k; i += 8) {
        const v8 wv = load8(wr + i);
        for (int c = 0; c < CB; c++) acc[c][0] = fma8(wv, load8(x + c * k + i), acc[c][0]);
    }
    for (int c = 0; c < CB; c++) {
        const v8 *a = acc[c];
        const v8 s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        float sum = hsum8_pairwise(s);
        for (int64_t j = i; j < k; j++) sum += wr[j] * x[c * k + j];
        out[c * m] = sum;
    }
}

/// Each of `columns` tokens (a batched decode step's sequences) times rows r0..r1 as its own one-token
/// product: the bits `matmul_f32` gives that token alone, each row read once for all of them.
static void matmul_f32_columns(const void *weights, const void *activations, float *out, int64_t k, int64_t m,
                               int64_t columns, int64_t r0, int64_t r1) {
    const float *w = (const float *)weights, *x = (const float *)activations;
    for (int64_t r = r0; r < r1; r++) {
        int64_t c = 0;
        for (; c + F32_COLUMNS <= columns; c += F32_COLUMNS) row_f32_columns(w + r * k, x + c * k, k, out + c * m + r, m, F32_COLUMNS);
        for (; c < columns; c++) row_f32_columns(w + r * k, x + c * k, k, out + c * m + r, m, 1);
    }
}

typedef _Float16 h8 __attribute__((vector_size(16)));

/// Eight weights widened to f32: F16 (F16C where present) or BF16 (a shift).
static inline v8 widen8(const uint16_t *p, int bf16) {
    if (bf16) {
        typedef uint32_t u8v __attribute__((vector_size(32)));
        typedef uint16_t u16v __attribute__((vector_size(16)));
        u16v raw;
        memcpy(&raw, p, sizeof raw);
        const u8v bits = __builtin_convertvector(raw, u8v) << 16;
        v8 out;
        memcpy(&out, &bits, sizeof out);
        return out;
    }
    h8 h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, v8);
}

static inline float widen1(const uint16_t *p, int bf16) {
    if (bf16) {
        const uint32_t bits = (uint32_t)*p << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    return f16_to_f32(p);
}

/// RB (1 or 4) consecutive rows against one f32 column: per row four accumulators over 32-value steps,
/// combined as (0 + 1) + (2 + 3), lanes summed pairwise, a tail of k % 8 in order. The same arithmetic per
/// row whether a row is alone or one of four.
static inline __attribute__((always_inline)) void rows_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                           const int RB, const int bf16) {
    v8 acc[4][4];
    for (int r = 0; r < RB; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = splat8(0);
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int j = 0; j < 4; j++) {
            const v8 xv = load8(x + i + 8 * j);
            for (int r = 0; r < RB; r++) acc[r][j] = fma8(widen8(w + r * k + i + 8 * j, bf16), xv, acc[r][j]);
        }
    for (; i + 8 <= k; i += 8) {
        const v8 xv = load8(x + i);
        for (int r = 0; r < RB; r++) acc[r][0] = fma8(widen8(w + r * k + i, bf16), xv, acc[r][0]);
    }
    v8 v[4];
    for (int r = 0; r < RB; r++) v[r] = (acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3]);
    v4 sums = {0};
    if (RB == 4) sums = hsum4x8_pairwise(v[0], v[1], v[2], v[3]);
    else sums[0] = hsum8_pairwise(v[0]);
    for (int r = 0; r < RB; r++) {
        float sum = sums[r];
        for (int64_t j = i; j < k; j++) sum += widen1(w + r * k + j, bf16) * x[j];
        out[r] = sum;
    }
}

/// A several-token F16/BF16 matmul works on panels of PANEL_ROWS rows × PANEL_COLUMNS columns, widened to f32
/// and stored column by column, and multiplies each by PANEL_TOKENS tokens at a time: 2 × 6 accumulators of 8
/// lanes, one FMA per (row, token) and column, with no horizontal sums.
#define PANEL_ROWS 16
#define PANEL_COLUMNS 256
#define PANEL_TOKENS 6
_Static_assert(PANEL_ROWS == 16 && PANEL_TOKENS == 6, "the tile holds two 8-lane vectors of rows, and gemm_half names each tile width");

/// The 8 × 8 transpose of r (eight rows of eight lanes) in place.
static inline void transpose8x8(v8 r[8]) {
    v8 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4)
        for (int j = 0; j < 2; j++) {
            u[i + 2 * j] = __builtin_shufflevector(t[i + j], t[i + j + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * j + 1] = __builtin_shufflevector(t[i + j], t[i + j + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    for (int j = 0; j < 4; j++) {
        r[j] = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        r[j + 4] = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
    }
}

/// panel[c · PANEL_ROWS + i] = row i's column c0 + c widened, for `rows` rows (the rest of the panel zero).
static inline __attribute__((always_inline)) void pack_half_panel(const uint16_t *w, int64_t k, int64_t rows, int64_t c0,
                                                                 int64_t width, float *panel, const int bf16) {
    int64_t c = 0;
    if (rows == PANEL_ROWS)
        for (; c + 8 <= width; c += 8)
            for (int g = 0; g < PANEL_ROWS; g += 8) {
                v8 r[8];
                for (int i = 0; i < 8; i++) r[i] = widen8(w + (g + i) * k + c0 + c, bf16);
                transpose8x8(r);
                for (int j = 0; j < 8; j++) store8(panel + (c + j) * PANEL_ROWS + g, r[j]);
            }
    for (; c < width; c++)
        for (int i = 0; i < PANEL_ROWS; i++) panel[c * PANEL_ROWS + i] = i < rows ? widen1(w + i * k + c0 + c, bf16) : 0;
}

/// out[t · m + i] (i < rows, t < TT) += the panel's rows times TT tokens' columns, given column by column in
/// `xs` (xs[c · PANEL_TOKENS + t]): per element one FMA per column in column order, continuing from the value in
/// `out` (zero before the first panel).
static inline __attribute__((always_inline)) void panel_times_tokens(const float *panel, int64_t width, const float *xs,
                                                                    float *out, int64_t m, int64_t rows, const int first,
                                                                    const int TT) {
#if RWKV_LEVEL >= 2
    // AVX-512: a panel column is one 16-lane vector, so a column costs one load and TT broadcast FMAs (half
    // the FMAs of two 8-lane halves). The same FMA per (row, token) and column, in the same order.
    if (rows == PANEL_ROWS) {
        v16 wide[PANEL_TOKENS];
        for (int t = 0; t < TT; t++) wide[t] = first ? (v16){0} : load16(out + t * m);
        for (int64_t c = 0; c < width; c++) {
            const v16 a = load16(panel + c * PANEL_ROWS);
            for (int t = 0; t < TT; t++) {
                const float x = xs[c * PANEL_TOKENS + t];
                wide[t] = fma16(a, (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}, wide[t]);
            }
        }
        for (int t = 0; t < TT; t++) store16(out + t * m, wide[t]);
        return;
    }
#endif
    v8 acc[2][PANEL_TOKENS];
    for (int t = 0; t < TT; t++) {
        if (rows == PANEL_ROWS) {
            acc[0][t] = first ? splat8(0) : load8(out + t * m);
            acc[1][t] = first ? splat8(0) : load8(out + t * m + 8);
            continue;
        }
        float start[PANEL_ROWS] = {0};
        if (!first)
            for (int i = 0; i < rows; i++) start[i] = out[t * m + i];
        acc[0][t] = load8(start);
        acc[1][t] = load8(start + 8);
    }
    for (int64_t c = 0; c < width; c++) {
        const v8 a0 = load8(panel + c * PANEL_ROWS), a1 = load8(panel + c * PANEL_ROWS + 8);
        for (int t = 0; t < TT; t++) {
            const v8 xv = splat8(xs[c * PANEL_TOKENS + t]);
            acc[0][t] = fma8(a0, xv, acc[0][t]);
            acc[1][t] = fma8(a1, xv, acc[1][t]);
        }
    }
    for (int t = 0; t < TT; t++) {
        if (rows == PANEL_ROWS) {
            store8(out + t * m, acc[0][t]);
            store8(out + t * m + 8, acc[1][t]);
            continue;
        }
        float sums[PANEL_ROWS];
        store8(sums, acc[0][t]);
        store8(sums + 8, acc[1][t]);
        for (int i = 0; i < rows; i++) out[t * m + i] = sums[i];
    }
}

/// tile[c · PANEL_TOKENS + t] = x[t · k + c] for `tokens` (≤ PANEL_TOKENS) tokens and `width` columns, eight
/// columns at a time through the 8 × 8 transpose (each column's store spills 8 − PANEL_TOKENS lanes past its
/// slot, overwritten by the next or left in the buffer's spare lanes); the tokens past `tokens` are zero.
static inline void gather_tokens(const float *x, int64_t k, int64_t tokens, int64_t width, float *tile) {
    int64_t c = 0;
    for (; c + 8 <= width; c += 8) {
        v8 r[8];
        for (int t = 0; t < 8; t++) r[t] = t < tokens ? load8(x + t * k + c) : splat8(0);
        transpose8x8(r);
        for (int j = 0; j < 8; j++) store8(tile + (c + j) * PANEL_TOKENS, r[j]);
    }
    for (; c < width; c++)
        for (int t = 0; t < PANEL_TOKENS; t++) tile[c * PANEL_TOKENS + t] = t < tokens ? x[t * k + c] : 0;
}

/// Tokens whose columns are gathered at a time (PANEL_TILES tiles of PANEL_TOKENS).
#define PANEL_TILES 16

/// Several tokens: for each group of up to PANEL_TILES · PANEL_TOKENS tokens and each block of PANEL_COLUMNS
/// columns, the tokens' columns are gathered tile by tile (so the tile reads one stream, whatever k), then
/// every panel of rows is widened and multiplied by each tile. Each output is one chain of FMAs over the
/// columns in order, whatever the panel, tile or thread count.
static inline __attribute__((always_inline)) void gemm_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                           int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int bf16) {
    float panel[PANEL_ROWS * PANEL_COLUMNS];
    float xs[PANEL_TILES * PANEL_COLUMNS * PANEL_TOKENS + 8 - PANEL_TOKENS];  // + the last gather's spare lanes
    for (int64_t t0 = 0; t0 < tokens; t0 += PANEL_TILES * PANEL_TOKENS) {
        const int64_t group = tokens - t0 < PANEL_TILES * PANEL_TOKENS ? tokens - t0 : PANEL_TILES * PANEL_TOKENS;
        for (int64_t c0 = 0; c0 < k; c0 += PANEL_COLUMNS) {
            const int64_t width = k - c0 < PANEL_COLUMNS ? k - c0 : PANEL_COLUMNS;
            for (int64_t t = 0; t < group; t += PANEL_TOKENS)
                gather_tokens(x + (t0 + t) * k + c0, k, group - t < PANEL_TOKENS ? group - t : PANEL_TOKENS, width,
                              xs + t / PANEL_TOKENS * PANEL_COLUMNS * PANEL_TOKENS);
            for (int64_t r = r0; r < r1; r += PANEL_ROWS) {
                const int64_t rows = r1 - r < PANEL_ROWS ? r1 - r : PANEL_ROWS;
                pack_half_panel(w + r * k, k, rows, c0, width, panel, bf16);
                // The next panel's rows, spread over this panel's tiles: 16 short rows far apart are loads the
                // hardware prefetcher does not foresee.
                const int64_t tiles = (group + PANEL_TOKENS - 1) / PANEL_TOKENS, next_rows = r1 - r - rows;
                for (int64_t t = 0; t < group; t += PANEL_TOKENS) {
                    const float *tile = xs + t / PANEL_TOKENS * PANEL_COLUMNS * PANEL_TOKENS;
                    float *o = out + (t0 + t) * m + r;
                    for (int64_t i = t / PANEL_TOKENS; i < PANEL_ROWS && i < next_rows; i += tiles)
                        prefetch_stream(w + (r + rows + i) * k + c0, 0, width * 2);
                    // The next tile's outputs, which an earlier column block left far out of the L1 cache.
                    if (c0 > 0)
                        for (int64_t u = PANEL_TOKENS; u < 2 * PANEL_TOKENS && t + u < group; u++) {
                            __builtin_prefetch(o + u * m, 1, 3);
                            __builtin_prefetch(o + u * m + PANEL_ROWS - 1, 1, 3);
                        }
                    switch (group - t < PANEL_TOKENS ? group - t : PANEL_TOKENS) {
                    case 6: panel_times_tokens(panel, width, tile, o, m, rows, c0 == 0, 6); break;
                    case 5: panel_times_tokens(panel, width, tile, o, m, rows, c0 == 0, 5); break;
                    case 4: panel_times_tokens(panel, width, tile, o, m, rows, c0 == 0, 4); break;
                    case 3: panel_times_tokens(panel, width, tile, o, m, rows, c0 == 0, 3); break;
                    case 2: panel_times_tokens(panel, width, tile, o, m, rows, c0 == 0, 2); break;
                    default: panel_times_tokens(panel, width, tile, o, m, rows, c0 == 0, 1); break;
                    }
                }
            }
        }
    }
}

static inline __attribute__((always_inline)) void matmul_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                             int64_t m, int64_t tokens, int64_t r0, int64_t r1, const int bf16) {
    if (tokens > 1) {
        gemm_half(w, x, out, k, m, tokens, r0, r1, bf16);
        return;
    }
    int64_t r = r0;
    // Short rows four at a time (their horizontal sums dominate otherwise); long rows one after another,
    // one sequential stream, which the prefetcher follows best.
    if (k <= 64)
        for (; r + 4 <= r1; r += 4) rows_half(w + r * k, x, out + r, k, 4, bf16);
    for (; r < r1; r++) rows_half(w + r * k, x, out + r, k, 1, bf16);
}

/// Columns of one F16/BF16 row taken together in a batched decode (4 accumulators each).
#define HALF_COLUMNS (RWKV_LEVEL >= 2 ? 4 : 2)

/// One row times CB columns (k floats apart), each with the arithmetic of `rows_half` for one row (4
/// accumulators over 32-value steps, the same tree and tail): the row is widened once for all CB.
static inline __attribute__((always_inline)) void row_half_columns(const uint16_t *w, const float *x, int64_t k, float *out,
                                                                  int64_t m, const int CB, const int bf16) {
    v8 acc[HALF_COLUMNS][4];
    for (int c = 0; c < CB; c++)
        for (int j = 0; j < 4; j++) acc[c][j] = splat8(0);
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int j = 0; j < 4; j++) {
            const v8 wv = widen8(w + i + 8 * j, bf16);
            for (int c = 0; c < CB; c++) acc[c][j] = fma8(wv, load8(x + c * k + i + 8 * j), acc[c][j]);
        }
    for (; i + 8 <= k; i += 8) {
        const v8 wv = widen8(w + i, bf16);
        for (int c = 0; c < CB; c++) acc[c][0] = fma8(wv, load8(x + c * k + i), acc[c][0]);
    }
    for (int c = 0; c < CB; c++) {
        float sum = hsum8_pairwise((acc[c][0] + acc[c][1]) + (acc[c][2] + acc[c][3]));
        for (int64_t j = i; j < k; j++) sum += widen1(w + j, bf16) * x[c * k + j];
        out[c * m] = sum;
    }
}

/// Each of `columns` tokens (a batched decode step's sequences) times rows r0..r1 as its own one-token
/// product: the bits `matmul_half` gives that token alone. Short rows go four at a time per column as
/// there; long rows one at a time, widened once for HALF_COLUMNS columns.
static inline __attribute__((always_inline)) void matmul_half_columns(const uint16_t *w, const float *x, float *out, int64_t k,
                                                                     int64_t m, int64_t columns, int64_t r0, int64_t r1,
                                                                     const int bf16) {
    int64_t r = r0;
    if (k <= 64)
        for (; r + 4 <= r1; r += 4)
            for (int64_t c = 0; c < columns; c++) rows_half(w + r * k, x + c * k, out + c * m + r, k, 4, bf16);
    for (; r < r1; r++) {
        int64_t c = 0;
        for (; c + HALF_COLUMNS <= columns; c += HALF_COLUMNS)
            row_half_columns(w + r * k, x + c * k, k, out + c * m + r, m, HALF_COLUMNS, bf16);
        for (; c < columns; c++) row_half_columns(w + r * k, x + c * k, k, out + c * m + r, m, 1, bf16);
    }
}

static void matmul_f16_columns(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t columns, int64_t r0, int64_t r1) {
    matmul_half_columns((const uint16_t *)w, (const float *)x, out, k, m, columns, r0, r1, 0);
}

static void matmul_bf16_columns(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t columns, int64_t r0, int64_t r1) {
    matmul_half_columns((const uint16_t *)w, (const float *)x, out, k, m, columns, r0, r1, 1);
}

static void matmul_f16(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_half((const uint16_t *)w, (const float *)x, out, k, m, tokens, r0, r1, 0);
}

static void matmul_bf16(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens, int64_t r0, int64_t r1) {
    matmul_half((const uint16_t *)w, (const float *)x, out, k, m, tokens, r0, r1, 1);
}
