// Normalisations over rows (one unit is one row): LayerNorm, GroupNorm and the per-head L2 normalisation.
// Each reduction has a fixed order: 16 lanes, then halving, then the tail in order.

/// Σ x[i].
static inline float sum_f32(const float *x, int64_t n) {
    v16 acc = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += load16(x + i);
    float total = hsum16(acc);
    for (; i < n; i++) total += x[i];
    return total;
}

/// Σ (x[i] − mean)².
static inline float sum_squared_deviations(const float *x, int64_t n, float mean) {
    v16 acc = {0};
    const v16 m = {mean, mean, mean, mean, mean, mean, mean, mean, mean, mean, mean, mean, mean, mean, mean, mean};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const v16 d = load16(x + i) - m;
        acc = fma16(d, d, acc);
    }
    float total = hsum16(acc);
    for (; i < n; i++) {
        const float d = x[i] - mean;
        total += d * d;
    }
    return total;
}

/// Σ a[i]·b[i]: four 16-lane accumulators over 64-value steps, then 16-value steps, the tail in order.
static inline float dot_f32(const float *a, const float *b, int64_t n) {
    v16 acc0 = {0}, acc1 = {0}, acc2 = {0}, acc3 = {0};
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = fma16(load16(a + i), load16(b + i), acc0);
        acc1 = fma16(load16(a + i + 16), load16(b + i + 16), acc1);
        acc2 = fma16(load16(a + i + 32), load16(b + i + 32), acc2);
        acc3 = fma16(load16(a + i + 48), load16(b + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16) acc0 = fma16(load16(a + i), load16(b + i), acc0);
    float sum = hsum16((acc0 + acc1) + (acc2 + acc3));
    for (; i < n; i++) sum += a[i] * b[i];
    return sum;
}

/// `(x − mean) / √(var + eps) ⊙ w + b` over `n` values, biased variance, two passes.
static inline void normalize(const float *x, float *o, int64_t n, float eps, const float *w, const float *b) {
    const float mean = sum_f32(x, n) / (float)n;
    const float variance = sum_squared_deviations(x, n, mean) / (float)n;
    const float inverse = 1 / sqrtf(variance + eps);
    for (int64_t i = 0; i < n; i++) o[i] = (x[i] - mean) * inverse * w[i] + b[i];
}

/// LayerNorm (groups = 1) and GroupNorm: each of `groups` runs of a row normalised, then the affine weight and bias.
static void group_norm_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width, groups = t->p.norm.groups, n = c / groups;
    for (int64_t row = first; row < end; row++)
        for (int64_t g = 0; g < groups; g++)
            normalize(IN(t, 0) + row * c + g * n, t->out + row * c + g * n, n, t->p.norm.eps, IN(t, 1) + g * n, IN(t, 2) + g * n);
}

/// Each run of `head_size` values divided by max(‖run‖₂, eps).
static void l2_normalize_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width, n = t->p.norm.head_size;
    for (int64_t row = first; row < end; row++)
        for (int64_t h = 0; h < c / n; h++) {
            const float *u = IN(t, 0) + row * c + h * n;
            float *o = t->out + row * c + h * n;
            const float norm = sqrtf(dot_f32(u, u, n));
            const float inverse = 1 / fmaxf(norm, t->p.norm.eps);
            for (int64_t j = 0; j < n; j++) o[j] = u[j] * inverse;
        }
}
