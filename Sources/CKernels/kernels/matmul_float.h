// F32, F16 and BF16 weights against f32 activations: the arithmetic of a one-token product and the
// several-token kernels.
//
// One token (decode; its kernels are in matmul_float_columns.h, shared with a batched decode step): per row,
// F32 sums 8 accumulators of 8 lanes over 64-value steps (loads kept in address order: 5–15 % more read
// bandwidth on Zen 4 than other orders), F16/BF16 4 accumulators over 32-value steps; then a tree, the lanes
// summed pairwise (rows of ≤ 64 values four at a time, their sums in one tree) and a tail in order.
// Several tokens: F32 a BLAS GEMM per fixed block of 64 rows (OpenBLAS single-threaded inside), so every
// element is summed the same way whatever the thread count; F16/BF16 widen panels of 64 rows × 64 columns
// (16 × 256 below AVX-512) to f32 and multiply them 6 tokens at a time (below).
// The vector code is portable (GCC vector extensions, explicit FMA): the same arithmetic at every level.

#include <cblas.h>

/// Rows per BLAS call of a several-token F32 matmul.
#define GEMM_ROWS 64

/// Most dot products one end helper finishes at once (a row against the columns of a batched decode step).
#define DOTS_MAX 8

/// Lane sums of n vectors, each in the order of `hsum8_pairwise`, four at a time in one tree.
static inline __attribute__((always_inline)) void lane_sums_pairwise(const v8 *v, const int n, float *sums) {
    int c = 0;
    for (; c + 4 <= n; c += 4) {
        const v4 s = hsum4x8_pairwise(v[c], v[c + 1], v[c + 2], v[c + 3]);
        for (int j = 0; j < 4; j++) sums[c + j] = s[j];
    }
    for (; c < n; c++) sums[c] = hsum8_pairwise(v[c]);
}

/// The end of N (≤ DOTS_MAX) F32 one-token dot products from their 8 accumulators each after the 64-value steps
/// (i: where those ended). Product n is row w + n · w_step times column x + n · x_step into out[n · out_step]:
/// rows against one column (x_step 0) or one row against several columns (w_step 0). Each: 8-value steps on
/// accumulator 0, the tree, the lanes summed pairwise, then the last k % 8 in order.
static inline __attribute__((always_inline)) void f32_dots_end(const float *w, int64_t w_step, const float *x, int64_t x_step,
                                                              float *out, int64_t out_step, int64_t k, int64_t i,
                                                              v8 acc[][8], const int N) {
    for (; i + 8 <= k; i += 8)
        for (int n = 0; n < N; n++) acc[n][0] = fma8(load8(w + n * w_step + i), load8(x + n * x_step + i), acc[n][0]);
    v8 v[DOTS_MAX];
    for (int n = 0; n < N; n++) {
        const v8 *a = acc[n];
        v[n] = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    }
    float sums[DOTS_MAX];
    lane_sums_pairwise(v, N, sums);
    for (int n = 0; n < N; n++) {
        float sum = sums[n];
        for (int64_t j = i; j < k; j++) sum += w[n * w_step + j] * x[n * x_step + j];
        out[n * out_step] = sum;
    }
}

/// Four F32 rows of ≤ 64 values against one column, each with the arithmetic of a row alone (8 accumulators
/// over 64-value steps, then `f32_dots_end`), their lane sums in one tree.
static inline __attribute__((always_inline)) void rows4_f32(const float *w, const float *x, float *out, int64_t k) {
    v8 acc[4][8];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 8; j++) acc[r][j] = zero8();
    int64_t i = 0;
    for (; i + 64 <= k; i += 64)
        for (int j = 0; j < 8; j++) {
            const v8 xv = load8(x + i + 8 * j);
            for (int r = 0; r < 4; r++) acc[r][j] = fma8(load8(w + r * k + i + 8 * j), xv, acc[r][j]);
        }
    f32_dots_end(w, k, x, 0, out, 1, k, i, acc, 4);
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

/// `f32_dots_end` for F16/BF16 rows with four accumulators each after the 32-value steps: 8-value steps on
/// accumulator 0, (0 + 1) + (2 + 3), the lanes summed pairwise, then the last k % 8 in order.
static inline __attribute__((always_inline)) void half_dots_end(const uint16_t *w, int64_t w_step, const float *x,
                                                               int64_t x_step, float *out, int64_t out_step, int64_t k,
                                                               int64_t i, v8 acc[][4], const int N, const int bf16) {
    for (; i + 8 <= k; i += 8)
        for (int n = 0; n < N; n++) acc[n][0] = fma8(widen8(w + n * w_step + i, bf16), load8(x + n * x_step + i), acc[n][0]);
    v8 v[DOTS_MAX];
    for (int n = 0; n < N; n++) v[n] = (acc[n][0] + acc[n][1]) + (acc[n][2] + acc[n][3]);
    float sums[DOTS_MAX];
    lane_sums_pairwise(v, N, sums);
    for (int n = 0; n < N; n++) {
        float sum = sums[n];
        for (int64_t j = i; j < k; j++) sum += widen1(w + n * w_step + j, bf16) * x[n * x_step + j];
        out[n * out_step] = sum;
    }
}

/// Four F16/BF16 rows of ≤ 64 values against one f32 column, each with the arithmetic of a row alone (four
/// accumulators over 32-value steps, then `half_dots_end`), their lane sums in one tree.
static inline __attribute__((always_inline)) void rows4_half(const uint16_t *w, const float *x, float *out, int64_t k,
                                                            const int bf16) {
    v8 acc[4][4];
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < 4; j++) acc[r][j] = zero8();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32)
        for (int j = 0; j < 4; j++) {
            const v8 xv = load8(x + i + 8 * j);
            for (int r = 0; r < 4; r++) acc[r][j] = fma8(widen8(w + r * k + i + 8 * j, bf16), xv, acc[r][j]);
        }
    half_dots_end(w, k, x, 0, out, 1, k, i, acc, 4, bf16);
}

/// A several-token F16/BF16 matmul works on panels of PANEL_ROWS rows × PANEL_COLUMNS columns, widened to f32
/// and stored column by column (16 KB, kept in the L1 cache), and multiplies each by PANEL_TOKENS tokens at a
/// time: one FMA per (row, token) and column, with no horizontal sums. From AVX-512 on a panel is 64 rows (four
/// 16-lane vectors × 6 tokens: 24 accumulators, a column's 4 loads and 6 broadcasts shared by 24 FMAs);
/// below, 16 rows (2 × 6 accumulators of 8 lanes).
#if RWKV_LEVEL >= 2
#define PANEL_ROWS 64
#define PANEL_COLUMNS 64
#else
#define PANEL_ROWS 16
#define PANEL_COLUMNS 256
#endif
#define PANEL_TOKENS 6
_Static_assert(PANEL_ROWS % 16 == 0 && PANEL_ROWS * PANEL_COLUMNS == 4096 && PANEL_TOKENS == 6,
               "a panel is whole 16-row vectors and 16 KB, and gemm_half names each tile width");

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

/// panel[c · PANEL_ROWS + i] = row i's column c0 + c widened, for `rows` rows (the rest of the panel zero):
/// eight whole rows at a time through the 8 × 8 transpose.
static inline __attribute__((always_inline)) void pack_half_panel(const uint16_t *w, int64_t k, int64_t rows, int64_t c0,
                                                                 int64_t width, float *panel, const int bf16) {
    int64_t c = 0;
    for (; c + 8 <= width; c += 8)
        for (int g = 0; g < PANEL_ROWS; g += 8) {
            v8 r[8];
            if (g + 8 <= rows)
                for (int i = 0; i < 8; i++) r[i] = widen8(w + (g + i) * k + c0 + c, bf16);
            else
                for (int i = 0; i < 8; i++) {
                    float column[8] = {0};
                    if (g + i < rows)
                        for (int j = 0; j < 8; j++) column[j] = widen1(w + (g + i) * k + c0 + c + j, bf16);
                    r[i] = load8(column);
                }
            transpose8x8(r);
            for (int j = 0; j < 8; j++) store8(panel + (c + j) * PANEL_ROWS + g, r[j]);
        }
    for (; c < width; c++)
        for (int i = 0; i < PANEL_ROWS; i++) panel[c * PANEL_ROWS + i] = i < rows ? widen1(w + i * k + c0 + c, bf16) : 0;
}

#if RWKV_LEVEL >= 2
/// The first n (any count) of 16 floats at p, the rest zero.
static inline v16 load_rows16(const float *p, int64_t n) {
    if (n >= 16) return load16(p);
    float part[16] = {0};
    for (int64_t i = 0; i < n; i++) part[i] = p[i];
    return load16(part);
}

/// Stores the first n (any count) of v's 16 lanes at p.
static inline void store_rows16(float *p, v16 v, int64_t n) {
    if (n >= 16) {
        store16(p, v);
        return;
    }
    float part[16];
    store16(part, v);
    for (int64_t i = 0; i < n; i++) p[i] = part[i];
}
#endif

/// out[t · m + i] (i < rows, t < TT) += the panel's rows times TT tokens' columns, given column by column in
/// `xs` (xs[c · PANEL_TOKENS + t]): per element one FMA per column in column order, continuing from the value in
/// `out` (zero before the first panel).
static inline __attribute__((always_inline)) void panel_times_tokens(const float *panel, int64_t width, const float *xs,
                                                                    float *out, int64_t m, int64_t rows, const int first,
                                                                    const int TT) {
#if RWKV_LEVEL >= 2
    // AVX-512: a panel column is four 16-lane vectors, each multiplied by TT broadcast token values. Rows past
    // `rows` (zero in the panel) are computed and not stored.
    v16 acc[4][PANEL_TOKENS];
    for (int t = 0; t < TT; t++)
        for (int v = 0; v < 4; v++) acc[v][t] = first ? zero16() : load_rows16(out + t * m + 16 * v, rows - 16 * v);
    for (int64_t c = 0; c < width; c++) {
        v16 a[4];
        for (int v = 0; v < 4; v++) a[v] = load16(panel + c * PANEL_ROWS + 16 * v);
        for (int t = 0; t < TT; t++) {
            const v16 x = splat16(xs[c * PANEL_TOKENS + t]);
            for (int v = 0; v < 4; v++) acc[v][t] = fma16(a[v], x, acc[v][t]);
        }
    }
    for (int t = 0; t < TT; t++)
        for (int v = 0; v < 4; v++) store_rows16(out + t * m + 16 * v, acc[v][t], rows - 16 * v);
#else
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
#endif
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

/// Tokens whose columns are gathered at a time (PANEL_TILES tiles of PANEL_TOKENS): each panel is widened
/// once per group, so a larger group widens less and reads the weights fewer times. From AVX-512 on, 192
/// tokens (their gathered 64-column block: 48 KB of stack): 1.10× over 96 in a C microbenchmark of 512 tokens
/// on the three 0.1B shapes (median of six alternating runs; 48 and 86 tiles were no better); below, 96 (their
/// 256-column block: 96 KB).
#if RWKV_LEVEL >= 2
#define PANEL_TILES 32
#else
#define PANEL_TILES 16
#endif

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
                            for (int l = 0; l < PANEL_ROWS; l += 16) __builtin_prefetch(o + u * m + l, 1, 3);
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
