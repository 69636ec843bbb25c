// The other ggml block types files carry: Q4_1, Q5_0, Q5_1, IQ4_NL (blocks of 32) and the K-quants Q2_K,
// Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS (super-blocks of 256). Dequantization does the f32 operations of ggml's
// dequantize_row_* (and gguf-py's `quants.dequantize`) in the same order, so the values are bit-identical;
// Q4_1/Q5_0/Q5_1 are quantized as ggml's reference quantizers do. The blocks of 32 are multiplied on int8 dot
// products (matmul_quant.h), Q2_K…Q6_K and IQ4_XS too (matmul_k.h).

/// The non-linear values of IQ4_NL and IQ4_XS.
static const int8_t iq4_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// MARK: - Blocks of 32

static void q4_1_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q4_1 *b = (const rwkv_block_q4_1 *)src;
    for (int64_t i = 0; i < k / 32; i++, y += 32) {
        const float d = f16_to_f32(&b[i].d), m = f16_to_f32(&b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)(b[i].qs[j] & 0x0F) + m;
            y[j + 16] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}

/// The 5-bit quant j of a Q5 block.
static inline int q5_quant(const uint8_t *qs, const uint8_t *qh, int j) {
    uint32_t high;
    memcpy(&high, qh, 4);
    const int low = j < 16 ? qs[j] & 0x0F : qs[j - 16] >> 4;
    return low | (int)((high >> j) & 1) << 4;
}

static void q5_0_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q5_0 *b = (const rwkv_block_q5_0 *)src;
    for (int64_t i = 0; i < k / 32; i++, y += 32) {
        const float d = f16_to_f32(&b[i].d);
        for (int j = 0; j < 32; j++) y[j] = d * (float)(q5_quant(b[i].qs, b[i].qh, j) - 16);
    }
}

static void q5_1_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q5_1 *b = (const rwkv_block_q5_1 *)src;
    for (int64_t i = 0; i < k / 32; i++, y += 32) {
        const float d = f16_to_f32(&b[i].d), m = f16_to_f32(&b[i].m);
        for (int j = 0; j < 32; j++) y[j] = d * (float)q5_quant(b[i].qs, b[i].qh, j) + m;
    }
}

static void iq4_nl_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_iq4_nl *b = (const rwkv_block_iq4_nl *)src;
    for (int64_t i = 0; i < k / 32; i++, y += 32) {
        const float d = f16_to_f32(&b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)iq4_values[b[i].qs[j] & 0x0F];
            y[j + 16] = d * (float)iq4_values[b[i].qs[j] >> 4];
        }
    }
}

/// ggml's quantize_row_q4_1_ref / q5_1_ref: the block's range in 2^bits − 1 steps from its minimum.
static inline void quantize_block_min(const float *x, int bits, uint16_t *d_bits, uint16_t *m_bits, uint8_t *q) {
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    const int top = (1 << bits) - 1;
    const float d = (max - min) / (float)top;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_bits = f32_to_f16_bits(d);
    *m_bits = f32_to_f16_bits(min);
    for (int j = 0; j < 32; j++) {
        const int v = (int8_t)((x[j] - min) * id + 0.5f);
        q[j] = (uint8_t)(v < top ? v : top);
    }
}

/// ggml's quantize_row_q5_0_ref: the first value of largest magnitude (signed) maps to −16·d.
static inline void quantize_block_q5_0(const float *x, uint16_t *d_bits, uint8_t *q) {
    float amax;
    const float d = largest_magnitude(32, x, &amax) / -16.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    *d_bits = f32_to_f16_bits(d);
    for (int j = 0; j < 32; j++) {
        const int v = (int8_t)(x[j] * id + 16.5f);
        q[j] = (uint8_t)(v < 31 ? v : 31);
    }
}

/// 32 quants of 4 (or, with `qh`, 5) bits into nibbles (low: 0…15, high: 16…31) and the fifth bits.
static inline void pack_q5(const uint8_t *q, uint8_t *qs, uint8_t *qh) {
    uint32_t high = 0;
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((q[j] & 0x0F) | (q[j + 16] & 0x0F) << 4);
    for (int j = 0; j < 32; j++) high |= (uint32_t)(q[j] >> 4 & 1) << j;
    if (qh) memcpy(qh, &high, 4);
}

static void f32_to_q4_1_row(const float *x, void *out, int64_t k) {
    rwkv_block_q4_1 *b = (rwkv_block_q4_1 *)out;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        uint8_t q[32];
        uint16_t d, m;
        quantize_block_min(x, 4, &d, &m, q);
        memcpy(&b[i].d, &d, 2);
        memcpy(&b[i].m, &m, 2);
        pack_q5(q, b[i].qs, 0);
    }
}

static void f32_to_q5_0_row(const float *x, void *out, int64_t k) {
    rwkv_block_q5_0 *b = (rwkv_block_q5_0 *)out;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        uint8_t q[32];
        uint16_t d;
        quantize_block_q5_0(x, &d, q);
        memcpy(&b[i].d, &d, 2);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

static void f32_to_q5_1_row(const float *x, void *out, int64_t k) {
    rwkv_block_q5_1 *b = (rwkv_block_q5_1 *)out;
    for (int64_t i = 0; i < k / 32; i++, x += 32) {
        uint8_t q[32];
        uint16_t d, m;
        quantize_block_min(x, 5, &d, &m, q);
        memcpy(&b[i].d, &d, 2);
        memcpy(&b[i].m, &m, 2);
        pack_q5(q, b[i].qs, b[i].qh);
    }
}

// MARK: - K-quants (super-blocks of 256)

static void q2_K_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q2_K *b = (const rwkv_block_q2_K *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, y += RWKV_QK_K) {
        const float d = f16_to_f32(&b[i].d), dmin = f16_to_f32(&b[i].dmin);
        for (int v = 0; v < RWKV_QK_K; v++) {
            const int half = v / 128, shift = v % 128 / 32, j = v % 32, s = v / 16;
            const float dl = d * (float)(b[i].scales[s] & 0x0F), ml = dmin * (float)(b[i].scales[s] >> 4);
            y[v] = dl * (float)(b[i].qs[half * 32 + j] >> (2 * shift) & 3) - ml;
        }
    }
}

/// The 16 six-bit scales of a Q3_K block, minus 32.
static inline void q3_K_scales(const uint8_t *packed, int *scales) {
    for (int s = 0; s < 16; s++) {
        const int low = s < 8 ? packed[s] & 0x0F : packed[s - 8] >> 4;
        const int high = packed[8 + s % 4] >> (2 * (s / 4)) & 3;
        scales[s] = (low | high << 4) - 32;
    }
}

static void q3_K_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q3_K *b = (const rwkv_block_q3_K *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, y += RWKV_QK_K) {
        const float d = f16_to_f32(&b[i].d);
        int scales[16];
        q3_K_scales(b[i].scales, scales);
        for (int v = 0; v < RWKV_QK_K; v++) {
            const int half = v / 128, shift = v % 128 / 32, j = v % 32;
            const int low = b[i].qs[half * 32 + j] >> (2 * shift) & 3;
            const int high = b[i].hmask[j] >> (v / 32) & 1;
            y[v] = d * (float)scales[v / 16] * (float)(low - (high ? 0 : 4));
        }
    }
}

/// Scale and minimum of sub-block `s` (of 8) of a Q4_K / Q5_K block: 6 bits each, packed in 12 bytes.
static inline void k_scale_min(const uint8_t *packed, int s, int *scale, int *min) {
    if (s < 4) {
        *scale = packed[s] & 0x3F;
        *min = packed[s + 4] & 0x3F;
    } else {
        *scale = (packed[s + 4] & 0x0F) | (packed[s - 4] >> 2 & 0x30);
        *min = (packed[s + 4] >> 4) | (packed[s] >> 2 & 0x30);
    }
}

static void q4_K_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q4_K *b = (const rwkv_block_q4_K *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, y += RWKV_QK_K) {
        const float d = f16_to_f32(&b[i].d), dmin = f16_to_f32(&b[i].dmin);
        for (int s = 0; s < 8; s++) {
            int scale, min;
            k_scale_min(b[i].scales, s, &scale, &min);
            const float dl = d * (float)scale, ml = dmin * (float)min;
            for (int j = 0; j < 32; j++) y[32 * s + j] = dl * (float)(b[i].qs[s / 2 * 32 + j] >> (4 * (s % 2)) & 0x0F) - ml;
        }
    }
}

static void q5_K_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q5_K *b = (const rwkv_block_q5_K *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, y += RWKV_QK_K) {
        const float d = f16_to_f32(&b[i].d), dmin = f16_to_f32(&b[i].dmin);
        for (int s = 0; s < 8; s++) {
            int scale, min;
            k_scale_min(b[i].scales, s, &scale, &min);
            const float dl = d * (float)scale, ml = dmin * (float)min;
            for (int j = 0; j < 32; j++) {
                const int q = (b[i].qs[s / 2 * 32 + j] >> (4 * (s % 2)) & 0x0F) | (b[i].qh[j] >> s & 1) << 4;
                y[32 * s + j] = dl * (float)q - ml;
            }
        }
    }
}

static void q6_K_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_q6_K *b = (const rwkv_block_q6_K *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, y += RWKV_QK_K) {
        const float d = f16_to_f32(&b[i].d);
        for (int v = 0; v < RWKV_QK_K; v++) {
            const int half = v / 128, within = v % 128;
            const int low = b[i].ql[half * 64 + within % 64] >> (4 * (within / 64)) & 0x0F;
            const int high = b[i].qh[half * 32 + within % 32] >> (2 * (within / 32)) & 3;
            y[v] = d * (float)b[i].scales[v / 16] * (float)((low | high << 4) - 32);
        }
    }
}

static void iq4_xs_to_f32_row(const void *src, float *y, int64_t k) {
    const rwkv_block_iq4_xs *b = (const rwkv_block_iq4_xs *)src;
    for (int64_t i = 0; i < k / RWKV_QK_K; i++, y += RWKV_QK_K) {
        const float d = f16_to_f32(&b[i].d);
        for (int s = 0; s < 8; s++) {
            const int low = b[i].scales_l[s / 2] >> (4 * (s % 2)) & 0x0F, high = b[i].scales_h >> (2 * s) & 3;
            const float dl = d * (float)((low | high << 4) - 32);
            const uint8_t *qs = b[i].qs + 16 * s;
            for (int j = 0; j < 16; j++) {
                y[32 * s + j] = dl * (float)iq4_values[qs[j] & 0x0F];
                y[32 * s + j + 16] = dl * (float)iq4_values[qs[j] >> 4];
            }
        }
    }
}
