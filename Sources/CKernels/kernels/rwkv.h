// The RWKV-specific ops: the WKV-7 recurrence, the bonus (Σ a·b·c)·v per head, and DeepEmbed's vector
// times a per-token matrix.
//
// WKV-7, head size 64 (every released model). Decode (one token per sequence): four value rows at a time,
// read and written in place 16 lanes at a time, the four rows' dependency chains (dot → sum → update → dot)
// interleaved. A few tokens: each row's state kept locally across the tokens. Prefill of a whole
// head: the state transposed into a local block (`head_transposed`). Per row and token, in this order:
//   sa = Σ_j S[j]·a[j];  S[j] = (S[j]·w[j] + sa·b[j]) + v[i]·k[j];  y[i] = Σ_j S[j]·r[j]

/// `hsum16` of n (1 or 4) vectors, each summed in hsum16's order; four at once share their shuffles (halves
/// of pairs of vectors, then quarters of all four, then within each group of four lanes).
static inline __attribute__((always_inline)) void hsum16_each(const v16 *v, const int n, float *sums) {
    if (n != 4) {
        for (int q = 0; q < n; q++) sums[q] = hsum16(v[q]);
        return;
    }
    const v16 ab = __builtin_shufflevector(v[0], v[1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                   __builtin_shufflevector(v[0], v[1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    const v16 cd = __builtin_shufflevector(v[2], v[3], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                   __builtin_shufflevector(v[2], v[3], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    // Lanes 4q … 4q + 3: vector q's 8 + 8 halves, then 4 + 4.
    const v16 quarters = __builtin_shufflevector(ab, cd, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
                         __builtin_shufflevector(ab, cd, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    // (0 + 2) and (1 + 3) of each group, then their sum.
    const v16 pairs = quarters + __builtin_shufflevector(quarters, quarters, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    const v16 total = pairs + __builtin_shufflevector(pairs, pairs, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    for (int q = 0; q < 4; q++) sums[q] = total[4 * q];
}

/// Rows [i, i + ROWS) of one head over all tokens (ROWS is a compile-time constant at each call).
static inline __attribute__((always_inline)) void wkv_rows(const int ROWS, const float *r, const float *w, const float *k,
                                                      const float *v, const float *a, const float *b, float *state, float *y,
                                                      int64_t stride, int64_t tokens, int64_t i) {
    v16 s[4][4];
    for (int q = 0; q < ROWS; q++)
        for (int c = 0; c < 4; c++) s[q][c] = load16(state + (i + q) * 64 + 16 * c);
    for (int64_t t = 0; t < tokens; t++) {
        const int64_t base = t * stride;
        v16 wv[4], kv[4], av[4], bv[4], rv[4];
        for (int c = 0; c < 4; c++) {
            wv[c] = load16(w + base + 16 * c);
            kv[c] = load16(k + base + 16 * c);
            av[c] = load16(a + base + 16 * c);
            bv[c] = load16(b + base + 16 * c);
            rv[c] = load16(r + base + 16 * c);
        }
        v16 dots[4];
        float sa[4], ys[4];
        for (int q = 0; q < ROWS; q++) dots[q] = (s[q][0] * av[0] + s[q][1] * av[1]) + (s[q][2] * av[2] + s[q][3] * av[3]);
        hsum16_each(dots, ROWS, sa);
        for (int q = 0; q < ROWS; q++) {
            const float vi = v[base + i + q];
            for (int c = 0; c < 4; c++) s[q][c] = (s[q][c] * wv[c] + sa[q] * bv[c]) + vi * kv[c];
            dots[q] = (s[q][0] * rv[0] + s[q][1] * rv[1]) + (s[q][2] * rv[2] + s[q][3] * rv[3]);
        }
        hsum16_each(dots, ROWS, ys);
        for (int q = 0; q < ROWS; q++) y[base + i + q] = ys[q];
    }
    for (int q = 0; q < ROWS; q++)
        for (int c = 0; c < 4; c++) store16(state + (i + q) * 64 + 16 * c, s[q][c]);
}

/// One token (decode), rows [i, i + ROWS): the same arithmetic as `wkv_rows`, read from and written to the
/// state in place, 16 lanes at a time (a local copy of the rows would be a 1 KiB memcpy in and out per unit).
static inline __attribute__((always_inline)) void wkv_rows_one_token(const int ROWS, const float *r, const float *w,
                                                                const float *k, const float *v, const float *a,
                                                                const float *b, float *state, float *y, int64_t i) {
    v16 dots[4];
    float sa[4], ys[4];
    for (int q = 0; q < ROWS; q++) {
        const float *s = state + (i + q) * 64;
        dots[q] = (load16(s) * load16(a) + load16(s + 16) * load16(a + 16)) +
                  (load16(s + 32) * load16(a + 32) + load16(s + 48) * load16(a + 48));
    }
    hsum16_each(dots, ROWS, sa);
    for (int q = 0; q < ROWS; q++) {
        float *s = state + (i + q) * 64;
        const float vi = v[i + q];
        v16 product[4];
        for (int c = 0; c < 4; c++) {
            const v16 updated = (load16(s + 16 * c) * load16(w + 16 * c) + sa[q] * load16(b + 16 * c)) + vi * load16(k + 16 * c);
            store16(s + 16 * c, updated);
            product[c] = updated * load16(r + 16 * c);
        }
        dots[q] = (product[0] + product[1]) + (product[2] + product[3]);
    }
    hsum16_each(dots, ROWS, ys);
    for (int q = 0; q < ROWS; q++) y[i + q] = ys[q];
}

/// A whole head (64 rows) over several tokens, with the state transposed into a local [64 key][64 value]
/// block: every step is a vertical operation on 16 rows at a time with the token's per-key value broadcast,
/// so no horizontal sum sits on the token-to-token dependency chain and each broadcast serves all 64 rows.
/// Per element the update is the same expression as `rows`; sa and y are summed in four partial sums over
/// j (mod 4), then (0 + 1) + (2 + 3).
static void head_transposed(const float *r, const float *w, const float *k, const float *v, const float *a,
                            const float *b, float *state, float *y, int64_t stride, int64_t tokens) {
    enum { G = 4 };  // groups of 16 rows
    v16 st[64][G];
    for (int j = 0; j < 64; j++)
        for (int g = 0; g < G; g++)
            for (int q = 0; q < 16; q++) st[j][g][q] = state[(16 * g + q) * 64 + j];
    for (int64_t t = 0; t < tokens; t++) {
        const int64_t base = t * stride;
        const float *at = a + base, *bt = b + base, *wt = w + base, *kt = k + base, *rt = r + base;
        v16 partial[4][G];
        for (int u = 0; u < 4; u++)
            for (int g = 0; g < G; g++) partial[u][g] = (v16){0};
        for (int j = 0; j < 64; j += 4)
            for (int u = 0; u < 4; u++) {
                const float aj = at[j + u];
                for (int g = 0; g < G; g++) partial[u][g] += st[j + u][g] * aj;
            }
        v16 sa[G], vi[G];
        for (int g = 0; g < G; g++) {
            sa[g] = (partial[0][g] + partial[1][g]) + (partial[2][g] + partial[3][g]);
            vi[g] = load16(v + base + 16 * g);
        }
        for (int u = 0; u < 4; u++)
            for (int g = 0; g < G; g++) partial[u][g] = (v16){0};
        for (int j = 0; j < 64; j += 4)
            for (int u = 0; u < 4; u++) {
                const float wj = wt[j + u], bj = bt[j + u], kj = kt[j + u], rj = rt[j + u];
                for (int g = 0; g < G; g++) {
                    st[j + u][g] = (st[j + u][g] * wj + sa[g] * bj) + vi[g] * kj;
                    partial[u][g] += st[j + u][g] * rj;
                }
            }
        for (int g = 0; g < G; g++) store16(y + base + 16 * g, (partial[0][g] + partial[1][g]) + (partial[2][g] + partial[3][g]));
    }
    for (int j = 0; j < 64; j++)
        for (int g = 0; g < G; g++)
            for (int q = 0; q < 16; q++) state[(16 * g + q) * 64 + j] = st[j][g][q];
}

static void wkv7_head64(const float *r, const float *w, const float *k, const float *v, const float *a, const float *b,
                        float *state, float *y, int64_t stride, int64_t tokens, int64_t row0, int64_t row1) {
    // Prefill of a whole head: transposed (the transposes cost about one token's work, so not for decode).
    if (tokens >= 4 && row0 == 0 && row1 == 64) {
        head_transposed(r, w, k, v, a, b, state, y, stride, tokens);
        return;
    }
    int64_t i = row0;
    if (tokens == 1) {
        for (; i + 4 <= row1; i += 4) wkv_rows_one_token(4, r, w, k, v, a, b, state, y, i);
        for (; i < row1; i++) wkv_rows_one_token(1, r, w, k, v, a, b, state, y, i);
        return;
    }
    for (; i + 4 <= row1; i += 4) wkv_rows(4, r, w, k, v, a, b, state, y, stride, tokens, i);
    for (; i < row1; i++) wkv_rows(1, r, w, k, v, a, b, state, y, stride, tokens, i);
}

/// Any other head size: one value row at a time over `tokens` tokens from `first`, in the same order per row
/// and token.
static void wkv7_row_generic(const rwkv_task *t, float *row, int64_t h, int64_t i, int64_t first, int64_t tokens) {
    const int64_t n = t->p.head.head_size, c = t->width;
    const float *r = IN(t, 0), *w = IN(t, 1), *k = IN(t, 2), *v = IN(t, 3), *a = IN(t, 4), *b = IN(t, 5);
    for (int64_t token = first; token < first + tokens; token++) {
        const int64_t base = token * c + h * n;
        float sa = 0;
        for (int64_t j = 0; j < n; j++) sa += row[j] * a[base + j];
        const float vi = v[base + i];
        float y = 0;
        for (int64_t j = 0; j < n; j++) {
            row[j] = (row[j] * w[base + j] + sa * b[base + j]) + vi * k[base + j];
            y += row[j] * r[base + j];
        }
        t->out[base + i] = y;
    }
}

/// The WKV-7 recurrence over T tokens of S sequences: inputs r, w, k, v, a, b [C, T] (sequence s owns the
/// T/S consecutive columns from s·T/S) and the states `in[6]` [N, N, H, S] (row i = value channel, column
/// j = key channel), updated in place. A unit is a block of `rows_per_unit` value rows of one head of one
/// sequence, run over that sequence's tokens.
static void wkv7_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t n = t->p.head.head_size, c = t->width, per_unit = t->p.head.rows_per_unit;
    const int64_t blocks = (n + per_unit - 1) / per_unit, heads = c / n;
    const int64_t sequences = t->p.head.sequences, tokens = t->rows / sequences;
    for (int64_t unit = first; unit < end; unit++) {
        const int64_t s = unit / (heads * blocks), h = unit / blocks % heads, row0 = unit % blocks * per_unit;
        const int64_t row1 = row0 + per_unit < n ? row0 + per_unit : n;
        float *state = (float *)IN(t, 6) + (s * heads + h) * n * n;
        if (n == 64) {
            const int64_t o = s * tokens * c + h * 64;
            wkv7_head64(IN(t, 0) + o, IN(t, 1) + o, IN(t, 2) + o, IN(t, 3) + o, IN(t, 4) + o, IN(t, 5) + o,
                        state, t->out + o, c, tokens, row0, row1);
            continue;
        }
        for (int64_t i = row0; i < row1; i++) wkv7_row_generic(t, state + i * n, h, i, s * tokens, tokens);
    }
}

/// Per head and token: `(Σ_n a·b·c) · v` (a, b, v [C, T]; c one row when broadcast). A unit is a token.
static void head_dot_scale_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width, n = t->p.head.head_size;
    for (int64_t row = first; row < end; row++) {
        const float *a = IN(t, 0) + row * c, *b = IN(t, 1) + row * c;
        const float *w = IN(t, 2) + (t->p.head.broadcast ? 0 : row * c), *v = IN(t, 3) + row * c;
        float *o = t->out + row * c;
        for (int64_t h = 0; h < c / n; h++) {
            float s = 0;
            for (int64_t j = h * n; j < h * n + n; j++) s += a[j] * b[j] * w[j];
            for (int64_t j = h * n; j < h * n + n; j++) o[j] = s * v[j];
        }
    }
}

/// Per token: `u [rows]` times the token's `rows × columns` matrix (row-major in `in[1]`). A unit is a token.
static void vector_times_token_matrix_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t rows = t->width, columns = t->p.token_matrix.columns;
    for (int64_t token = first; token < end; token++) {
        const float *u = IN(t, 0) + token * rows, *m = IN(t, 1) + token * rows * columns;
        float *o = t->out + token * columns;
        memset(o, 0, (size_t)columns * sizeof(float));
        for (int64_t p = 0; p < rows; p++) {
            const float up = u[p];
            const float *mp = m + p * columns;
            for (int64_t q = 0; q < columns; q++) o[q] += up * mp[q];
        }
    }
}
