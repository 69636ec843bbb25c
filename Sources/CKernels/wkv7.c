// The RWKV-7 WKV recurrence for head size 64. Decode: four value rows at a time, each row's state (64 floats)
// in registers, the four rows' dependency chains (dot → sum → update → dot) interleaved. Prefill of a whole
// head: the state transposed into a local block (`head_transposed`). Per row and token, in this order:
//   sa = Σ_j S[j]·a[j];  S[j] = (S[j]·w[j] + sa·b[j]) + v[i]·k[j];  y[i] = Σ_j S[j]·r[j]
#include "CKernels.h"

#include <string.h>

typedef float v16 __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef float v4 __attribute__((vector_size(16)));

static inline v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store16(float *p, v16 v) { memcpy(p, &v, sizeof v); }

/// Sum of 16 lanes by halving (8 + 8, 4 + 4, 2 + 2, 1 + 1).
static inline float sum16(v16 v) {
    v8 h = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    v4 q = __builtin_shufflevector(h, h, 0, 1, 2, 3) + __builtin_shufflevector(h, h, 4, 5, 6, 7);
    float a = q[0] + q[2], b = q[1] + q[3];
    return a + b;
}

/// Rows [i, i + ROWS) of one head over all tokens (ROWS is a compile-time constant at each call).
static inline __attribute__((always_inline)) void rows(const int ROWS, const float *r, const float *w, const float *k,
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
        for (int q = 0; q < ROWS; q++) {
            const float sa = sum16((s[q][0] * av[0] + s[q][1] * av[1]) + (s[q][2] * av[2] + s[q][3] * av[3]));
            const float vi = v[base + i + q];
            for (int c = 0; c < 4; c++) s[q][c] = (s[q][c] * wv[c] + sa * bv[c]) + vi * kv[c];
            y[base + i + q] = sum16((s[q][0] * rv[0] + s[q][1] * rv[1]) + (s[q][2] * rv[2] + s[q][3] * rv[3]));
        }
    }
    for (int q = 0; q < ROWS; q++)
        for (int c = 0; c < 4; c++) store16(state + (i + q) * 64 + 16 * c, s[q][c]);
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

void rwkv_wkv7_head64(const float *r, const float *w, const float *k, const float *v, const float *a, const float *b,
                      float *state, float *y, int64_t stride, int64_t tokens, int64_t row0, int64_t row1) {
    // Prefill of a whole head: transposed (the transposes cost about one token's work, so not for decode).
    if (tokens >= 4 && row0 == 0 && row1 == 64) {
        head_transposed(r, w, k, v, a, b, state, y, stride, tokens);
        return;
    }
    int64_t i = row0;
    for (; i + 4 <= row1; i += 4) rows(4, r, w, k, v, a, b, state, y, stride, tokens, i);
    for (; i < row1; i++) rows(1, r, w, k, v, a, b, state, y, stride, tokens, i);
}
