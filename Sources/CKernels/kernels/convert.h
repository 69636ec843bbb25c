// Row conversions between f32 and the storage types, ggml's reference quantizers (bit-identical to
// quantize_row_q8_0_ref / quantize_row_q4_0_ref and gguf-py), and the two tasks that use them: get_rows
// (gather table rows by token id) and convert_rows (activations encoded once per matmul node).

// MARK: - f32, f16 and bf16

static void f32_to_f32_row(const void *src, float *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

static void f32_from_f32_row(const float *src, void *dst, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

static void f16_to_f32_row(const void *src, float *dst, int64_t n) {
    const uint16_t *s = (const uint16_t *)src;
    for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s + i);
}

/// Round to nearest even; ≥ 65520 in magnitude → ±inf; subnormals kept; NaN stays NaN.
static void f32_to_f16_row(const float *src, void *dst, int64_t n) {
    uint16_t *d = (uint16_t *)dst;
    for (int64_t i = 0; i < n; i++) d[i] = f32_to_f16_bits(src[i]);
}

static void bf16_to_f32_row(const void *src, float *dst, int64_t n) {
    const uint16_t *s = (const uint16_t *)src;
    for (int64_t i = 0; i < n; i++) {
        const uint32_t bits = (uint32_t)s[i] << 16;
        memcpy(dst + i, &bits, 4);
    }
}

/// ggml's and torch's rounding: NaN quieted, otherwise to nearest even.
static void f32_to_bf16_row(const float *src, void *dst, int64_t n) {
    uint16_t *d = (uint16_t *)dst;
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, src + i, 4);
        d[i] = src[i] != src[i] ? (uint16_t)((bits >> 16) | 0x40) : (uint16_t)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }
}

// MARK: - Q8_0 (and Q8_0s)

/// One block of 32 as ggml's quantize_row_q8_0_ref: amax/127 as the scale, quants rounded half away from
/// zero with the unrounded reciprocal. Writes the f16 scale bits and the quants; returns the quants' sum.
static inline int32_t quantize_block_q8_0(const float *x, uint16_t *scale_bits, int8_t *q) {
#if RWKV_SIMD
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_loadu_ps(x + 8 * i);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[i]));
    }
    const float max_abs = max_lane8(amax);
    const float d = max_abs / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *scale_bits = f32_to_f16_bits(d);
    const __m256 scale = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256i qi[4];
    for (int i = 0; i < 4; i++) {
        // Round half away from zero, exactly: trunc(|v|) + (frac ≥ 0.5), with the sign put back.
        const __m256 p = _mm256_mul_ps(v[i], scale);
        const __m256 a = _mm256_andnot_ps(sign, p);
        const __m256 t = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        const __m256 r = _mm256_add_ps(t, _mm256_and_ps(one, _mm256_cmp_ps(_mm256_sub_ps(a, t), half, _CMP_GE_OQ)));
        qi[i] = _mm256_cvttps_epi32(_mm256_or_ps(r, _mm256_and_ps(sign, p)));
    }
    const __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]);
    const __m256i p23 = _mm256_packs_epi32(qi[2], qi[3]);
    __m256i bytes = _mm256_packs_epi16(p01, p23);
    bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, bytes);
    // Σq: the byte sums of q + 128 (psadbw against zero), less 32 · 128.
    const __m256i sums = _mm256_sad_epu8(_mm256_xor_si256(bytes, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
    const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sums), _mm256_extracti128_si256(sums, 1));
    return (int32_t)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 32 * 128;
#else
    float max_abs = 0;
    for (int j = 0; j < 32; j++) max_abs = fmaxf(max_abs, fabsf(x[j]));
    const float d = max_abs / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *scale_bits = f32_to_f16_bits(d);
    int32_t sum = 0;
    for (int j = 0; j < 32; j++) {
        q[j] = (int8_t)roundf(x[j] * id);
        sum += q[j];
    }
    return sum;
#endif
}

static void f32_to_q8_0_row(const float *x, void *out, int64_t k) {
    rwkv_block_q8_0 *dst = (rwkv_block_q8_0 *)out;
    for (int64_t b = 0; b < k / 32; b++) {
        uint16_t scale_bits;
        int8_t q[32];
        quantize_block_q8_0(x + 32 * b, &scale_bits, q);
        memcpy(&dst[b].d, &scale_bits, 2);
        memcpy(dst[b].qs, q, 32);
    }
}

static void q8_0_to_f32_row(const void *src, float *dst, int64_t k) {
    const rwkv_block_q8_0 *blocks = (const rwkv_block_q8_0 *)src;
    for (int64_t b = 0; b < k / 32; b++) {
        const float d = f16_to_f32(&blocks[b].d);
        for (int j = 0; j < 32; j++) dst[32 * b + j] = blocks[b].qs[j] * d;
    }
}

static void f32_to_q8_0s_row(const float *x, void *out, int64_t k) {
    rwkv_block_q8_0s *dst = (rwkv_block_q8_0s *)out;
    for (int64_t b = 0; b < k / 32; b++) {
        uint16_t scale_bits;
        dst[b].sum = quantize_block_q8_0(x + 32 * b, &scale_bits, dst[b].qs);
        dst[b].d = f16_to_f32(&scale_bits);
    }
}

static void q8_0s_to_f32_row(const void *src, float *dst, int64_t k) {
    const rwkv_block_q8_0s *blocks = (const rwkv_block_q8_0s *)src;
    for (int64_t b = 0; b < k / 32; b++)
        for (int j = 0; j < 32; j++) dst[32 * b + j] = blocks[b].qs[j] * blocks[b].d;
}

// MARK: - Q4_0

/// ggml's quantize_row_q4_0_ref: the first value of largest magnitude (signed) maps to −8·d.
static void f32_to_q4_0_row(const float *x, void *out, int64_t k) {
    rwkv_block_q4_0 *dst = (rwkv_block_q4_0 *)out;
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        float amax;
        const float d = largest_magnitude(32, x, &amax) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t bits = f32_to_f16_bits(d);
        memcpy(&dst[b].d, &bits, 2);
        for (int j = 0; j < 16; j++) {
            const int8_t lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + 16] * id + 8.5f);
            dst[b].qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

static void q4_0_to_f32_row(const void *src, float *dst, int64_t k) {
    const rwkv_block_q4_0 *blocks = (const rwkv_block_q4_0 *)src;
    for (int64_t b = 0; b < k / 32; b++) {
        const float d = f16_to_f32(&blocks[b].d);
        for (int j = 0; j < 16; j++) {
            dst[32 * b + j] = ((blocks[b].qs[j] & 0x0F) - 8) * d;
            dst[32 * b + j + 16] = ((blocks[b].qs[j] >> 4) - 8) * d;
        }
    }
}

// MARK: - Tasks

/// Rows of a table `in[0]` picked by the i32 ids `in[1]`, decoded to floats; an id out of range writes zeros
/// and flags the task as failed.
static void get_rows_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t c = t->width;
    const uint8_t *table = (const uint8_t *)t->in[0];
    const int32_t *ids = (const int32_t *)t->in[1];
    for (int64_t row = first; row < end; row++) {
        const int64_t id = ids[row];
        float *o = t->out + row * c;
        if (id < 0 || id >= t->p.gather.table_rows) {
            memset(o, 0, (size_t)c * sizeof(float));
            __atomic_store_n(t->failed, 1, __ATOMIC_RELAXED);
            continue;
        }
        t->p.gather.decode(table + id * t->p.gather.row_bytes, o, c);
    }
}

/// f32 rows encoded (one unit a row) for the activations of a matmul.
static void convert_rows_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t k = t->width;
    for (int64_t row = first; row < end; row++)
        t->p.convert.encode(IN(t, 0) + row * k, (uint8_t *)t->out + row * t->p.convert.row_bytes, k);
}
