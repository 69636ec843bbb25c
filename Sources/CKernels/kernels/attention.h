// Cached causal attention (RWKV-7b DeepEmbedAttention): T new queries against a cache of P earlier keys and
// values plus the T new ones; in a batched decode, S sequences of one token each, each with its own cache and P. The cache has room for `capacity` rows; P (the position) is an i32 input read at
// run time, so one graph serves every context length. Each op appends its new rows to its cache: the unit
// that owns new row t writes cache row P + t, and every unit reads cache rows < P only (new rows come from the
// op's own inputs), so no unit reads what another writes. Sums run in a fixed order: results never depend on
// the thread count.

/// Whether every sequence's new rows fit after its cached ones; flags the task as failed when not.
static inline int attention_fits(const rwkv_task *t, const int32_t *positions, int64_t per_sequence) {
    for (int64_t s = 0; s < t->p.attention.sequences; s++)
        if (positions[s] < 0 || positions[s] + per_sequence > t->p.attention.capacity) {
            __atomic_store_n(t->failed, 1, __ATOMIC_RELAXED);
            return 0;
        }
    return 1;
}

/// in: queries [D, T], new keys [D, T], key caches [D, capacity, S], positions (i32 [S]). out [capacity, T]:
/// `soft_cap · tanh(scale · q_t·k_p)` for p ≤ P + t, −inf for the keys row t may not see (t counted within its
/// sequence, P its sequence's position).
static void attention_scores_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t d = t->width, capacity = t->p.attention.capacity, groups = t->p.attention.key_groups;
    const int64_t per_sequence = t->rows / t->p.attention.sequences;
    const int32_t *positions = (const int32_t *)t->in[3];
    if (!attention_fits(t, positions, per_sequence)) return;
    for (int64_t unit = first; unit < end; unit++) {
        const int64_t row = unit / groups, g = unit % groups, s = row / per_sequence, token = row % per_sequence;
        const int64_t position = positions[s], visible = position + token + 1;
        const float *q = IN(t, 0) + row * d, *keys = IN(t, 1) + s * per_sequence * d;
        float *cache = IN(t, 2) + s * capacity * d;
        float *o = t->out + row * capacity;
        if (g == 0) memcpy(cache + (position + token) * d, keys + token * d, (size_t)d * sizeof(float));
        int64_t p = g;
        for (; p < visible; p += groups) {
            const float *key = p < position ? cache + p * d : keys + (p - position) * d;
            o[p] = t->p.attention.soft_cap * tanhf(dot_f32(q, key, d) * t->p.attention.scale);
        }
        for (; p < capacity; p += groups) o[p] = -INFINITY;
    }
}

/// Each row's softmax; −inf entries become exactly 0. A unit is a row.
static void softmax_rows_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t n = t->width;
    for (int64_t row = first; row < end; row++) {
        const float *x = IN(t, 0) + row * n;
        float *o = t->out + row * n;
        float largest = -INFINITY;
        for (int64_t i = 0; i < n; i++) largest = fmaxf(largest, x[i]);
        for (int64_t i = 0; i < n; i++) o[i] = x[i] - largest;
        exp_f32(o, o, n);
        v8 partial = {0};
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            v8 e = load8(o + i);
            for (int lane = 0; lane < 8; lane++) e[lane] = x[i + lane] == -INFINITY ? 0.0f : e[lane];
            store8(o + i, e);
            partial += e;
        }
        float sum = hsum8(partial);
        for (; i < n; i++) {
            if (x[i] == -INFINITY) o[i] = 0;
            sum += o[i];
        }
        const float inverse = 1 / sum;
        for (int64_t j = 0; j < n; j++) o[j] *= inverse;
    }
}

/// in: probabilities [capacity, T], new values [C, T], value caches [C, capacity, S], positions (i32 [S]).
/// out [C, T]: `Σ_{p ≤ P+t} prob[t][p] · v_p`, p in order.
static void attention_mix_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t capacity = t->width, c = t->out_width, block = t->p.attention.block;
    const int64_t blocks = (c + block - 1) / block, per_sequence = t->rows / t->p.attention.sequences;
    const int32_t *positions = (const int32_t *)t->in[3];
    if (!attention_fits(t, positions, per_sequence)) return;
    for (int64_t unit = first; unit < end; unit++) {
        const int64_t row = unit / blocks, c0 = unit % blocks * block, c1 = c0 + block < c ? c0 + block : c;
        const int64_t s = row / per_sequence, token = row % per_sequence;
        const int64_t position = positions[s], width = c1 - c0, visible = position + token + 1;
        const float *prob = IN(t, 0) + row * capacity, *values = IN(t, 1) + s * per_sequence * c;
        float *cache = IN(t, 2) + s * capacity * c;
        float *o = t->out + row * c + c0;
        memcpy(cache + (position + token) * c + c0, values + token * c + c0, (size_t)width * sizeof(float));
        if (width == 64) {
            // The sums in registers (o may alias nothing, but the compiler cannot know): one pass over the rows.
            v16 acc[4] = {{0}, {0}, {0}, {0}};
            for (int64_t p = 0; p < visible; p++) {
                const v16 w = (v16){0} + prob[p];
                const float *v = (p < position ? cache + p * c : values + (p - position) * c) + c0;
                for (int q = 0; q < 4; q++) acc[q] = acc[q] + w * load16(v + 16 * q);
            }
            for (int q = 0; q < 4; q++) store16(o + 16 * q, acc[q]);
            continue;
        }
        // Any other width: the same arithmetic, a value at a time.
        for (int64_t j = 0; j < width; j++) o[j] = 0;
        for (int64_t p = 0; p < visible; p++) {
            const float w = prob[p];
            const float *v = (p < position ? cache + p * c : values + (p - position) * c) + c0;
            for (int64_t j = 0; j < width; j++) o[j] += w * v[j];
        }
    }
}
