// Row-wise element-wise kernels (one unit is one row of `width` values) and the epilogue that runs folded
// element-wise nodes on what a task just wrote, with the same arithmetic as the kernels themselves.

static inline void binary_row(int kind, const float *a, const float *b, float *o, int64_t n) {
    switch (kind) {
    case RWKV_STEP_ADD: for (int64_t i = 0; i < n; i++) o[i] = a[i] + b[i]; break;
    case RWKV_STEP_SUB: for (int64_t i = 0; i < n; i++) o[i] = a[i] - b[i]; break;
    default: for (int64_t i = 0; i < n; i++) o[i] = a[i] * b[i]; break;
    }
}

/// `a + (b − a) ⊙ m`.
static inline void lerp_row(const float *a, const float *b, const float *m, float *o, int64_t n) {
    for (int64_t i = 0; i < n; i++) o[i] = a[i] + (b[i] - a[i]) * m[i];
}

static inline void scale_row(const float *a, float factor, float *o, int64_t n) {
    for (int64_t i = 0; i < n; i++) o[i] = a[i] * factor;
}

static inline void binary_task(const rwkv_task *t, int64_t first, int64_t end, int kind) {
    const int64_t c = t->width;
    for (int64_t row = first; row < end; row++)
        binary_row(kind, IN(t, 0) + row * c, IN(t, 1) + (t->p.binary.broadcast ? 0 : row * c), t->out + row * c, c);
}

static void add_task(const rwkv_task *t, int64_t first, int64_t end) { binary_task(t, first, end, RWKV_STEP_ADD); }
static void sub_task(const rwkv_task *t, int64_t first, int64_t end) { binary_task(t, first, end, RWKV_STEP_SUB); }
static void mul_task(const rwkv_task *t, int64_t first, int64_t end) { binary_task(t, first, end, RWKV_STEP_MUL); }

static void lerp_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width;
    for (int64_t row = first; row < end; row++)
        lerp_row(IN(t, 0) + row * c, IN(t, 1) + row * c, IN(t, 2) + (t->p.binary.broadcast ? 0 : row * c), t->out + row * c, c);
}

/// Token shift: a sequence's first row is its row of `previous` (`in[1]`), its row t is its row t − 1 of the input.
static void shift_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width, length = t->p.rows.sequence_rows;
    for (int64_t row = first; row < end; row++) {
        const float *from = row % length == 0 ? IN(t, 1) + (row / length) * c : IN(t, 0) + (row - 1) * c;
        memmove(t->out + row * c, from, (size_t)c * sizeof(float));
    }
}

static void scale_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width;
    for (int64_t row = first; row < end; row++) scale_row(IN(t, 0) + row * c, t->p.scale.factor, t->out + row * c, c);
}

static void unary_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width;
    for (int64_t row = first; row < end; row++) apply_unary(t->p.unary.function, IN(t, 0) + row * c, t->out + row * c, c);
}

/// Output row `i · count + j` is input row `i · sequence_rows + first + j` (row j of the slice of sequence i).
static void rows_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width, count = t->p.rows.count;
    for (int64_t row = first; row < end; row++) {
        const int64_t from = (row / count) * t->p.rows.sequence_rows + t->p.rows.first + row % count;
        memcpy(t->out + row * c, IN(t, 0) + from * c, (size_t)c * sizeof(float));
    }
}

/// Copies the input into the state slot `in[1]`.
static void store_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width;
    for (int64_t row = first; row < end; row++) memcpy(IN(t, 1) + row * c, IN(t, 0) + row * c, (size_t)c * sizeof(float));
}

/// The epilogue: every step on the channels of each token row that units [first, end) wrote.
static void finish_task(const rwkv_task *t, int64_t first, int64_t end) {
    int64_t c0, c1, t0, t1, row_length;
    if (t->channels_per_unit > 0) {
        c0 = first * t->channels_per_unit;
        c1 = end * t->channels_per_unit < t->out_width ? end * t->channels_per_unit : t->out_width;
        t0 = 0;
        t1 = t->rows;
        row_length = t->out_width;
    } else {
        c0 = 0;
        c1 = t->width;
        t0 = first;
        t1 = end;
        row_length = t->width;
    }
    const int64_t n = c1 - c0;
    for (int64_t token = t0; token < t1; token++) {
        const int64_t start = token * row_length + c0;
        float *o = t->out + start;
        for (int64_t s = 0; s < t->epilogue_count; s++) {
            const rwkv_epilogue_step step = t->epilogue[s];
            const float *b = step.kind == RWKV_STEP_SCALE || step.kind == RWKV_STEP_UNARY
                ? 0 : IN(t, step.operand) + (step.operand_is_row ? c0 : start);
            switch (step.kind) {
            case RWKV_STEP_SCALE: scale_row(o, step.factor, o, n); break;
            case RWKV_STEP_UNARY: apply_unary(step.function, o, o, n); break;
            case RWKV_STEP_LERP: lerp_row(o, b, IN(t, step.second) + (step.second_is_row ? c0 : start), o, n); break;
            default: binary_row(step.kind, o, b, o, n); break;
            }
        }
    }
}
