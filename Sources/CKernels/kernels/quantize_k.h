// ggml's reference quantizers of the K-quants (quantize_row_q{2,3,4,5,6}_K_ref, what llama-quantize runs
// when it has no importance matrix): the same search for each sub-block's scale (and minimum), the same
// f32 operations in the same order, so the bytes are identical. Not hot: used by `rwkv quantize` and when
// a model is run at a K-quant precision.

/// Rounds to the nearest integer, ties to even, for |v| < 2^22 (ggml's nearest_int: add 1.5·2^23 and read
/// the mantissa).
static inline int kq_nearest(float v) {
    const float shifted = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &shifted, 4);
    return (bits & 0x007fffff) - 0x00400000;
}

static inline int kq_clamp(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/// The value of f16 bits.
static inline float kq_f16(uint16_t bits) { return f16_to_f32(&bits); }

/// Below this, a sub-block's largest magnitude counts as zero.
#define KQ_ZERO_GROUP 1e-15f

/// Symmetric quants in [−nmax, nmax) (stored + nmax) for n values, weighted by x² (ggml's make_qx_quants,
/// rmse_type 1, no importance weights): the scale −nmax/max, then 18 nearby scales, keeping the one with the
/// least weighted squared error. Returns the scale.
static float kq_symmetric(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = largest_magnitude(n, x, &amax);
    if (amax < KQ_ZERO_GROUP) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = kq_clamp(kq_nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = kq_clamp(kq_nearest(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)l * (float)l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (int8_t)(nmax + kq_clamp(kq_nearest(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/// Q3_K's sub-block quants in [−nmax, nmax) (stored + nmax): rounded at −nmax/max, then up to five passes
/// that move single quants while the x²-weighted fit improves (ggml's make_q3_quants with rmse). Returns
/// the scale.
static float kq_symmetric_refined(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = largest_magnitude(n, x, &amax);
    if (amax < KQ_ZERO_GROUP) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = kq_clamp(kq_nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * (float)L[i] * (float)L[i];
                const int l = kq_clamp(kq_nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (l != L[i]) {
                    slx += w * x[i] * (float)l;
                    sl2 += w * (float)l * (float)l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/// Quants in [0, nmax] with a scale and a minimum ≤ 0 for n values (ggml's make_qkx2_quants): the
/// min/max fit, then nstep + 1 trial scales (rmin + rdelta·i + nmax)/(max − min), each refit by weighted
/// least squares, keeping the least weighted error (|e| when `use_abs`, else e²). Returns the scale; the
/// minimum's negation goes to `neg_min`.
static float kq_affine(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *neg_min,
                       float rmin, float rdelta, int nstep, int use_abs) {
    uint8_t trial[32];
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)kq_clamp(kq_nearest(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_abs ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = kq_clamp(kq_nearest(iscale * (x[i] - min)), 0, nmax);
            trial[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * (float)l;
            sum_l2 += w * (float)l * (float)l;
            sum_xl += w * (float)l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * trial[i] + this_min - x[i];
                diff = use_abs ? fabsf(diff) : diff * diff;
                error += weights[i] * diff;
            }
            if (error < best_error) {
                memcpy(L, trial, (size_t)n);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/// Four 2-bit quants per byte: byte l of each 32-byte group holds quants l, l + 32, l + 64, l + 96.
static inline void kq_pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int j = 0; j < RWKV_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

static void f32_to_q2_K_row(const float *x, void *out, int64_t k) {
    rwkv_block_q2_K *y = (rwkv_block_q2_K *)out;
    for (int64_t b = 0; b < k / RWKV_QK_K; b++, x += RWKV_QK_K) {
        uint8_t L[RWKV_QK_K];
        float weights[16], scales[16], mins[16];
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 16; j++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = kq_affine(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            const float iscale = 15.0f / max_scale;
            for (int j = 0; j < 16; j++) y[b].scales[j] = (uint8_t)kq_nearest(iscale * scales[j]);
            y[b].d = f32_to_f16_bits(max_scale / 15.0f);
        } else {
            memset(y[b].scales, 0, 16);
            y[b].d = f32_to_f16_bits(0.0f);
        }
        if (max_min > 0) {
            const float iscale = 15.0f / max_min;
            for (int j = 0; j < 16; j++) y[b].scales[j] |= (uint8_t)(kq_nearest(iscale * mins[j]) << 4);
            y[b].dmin = f32_to_f16_bits(max_min / 15.0f);
        } else {
            y[b].dmin = f32_to_f16_bits(0.0f);
        }
        for (int j = 0; j < 16; j++) {
            const float d = kq_f16(y[b].d) * (float)(y[b].scales[j] & 0xF);
            if (d == 0.0f) continue;
            const float dm = kq_f16(y[b].dmin) * (float)(y[b].scales[j] >> 4);
            for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)kq_clamp(kq_nearest((x[16 * j + i] + dm) / d), 0, 3);
        }
        kq_pack_2bit(L, y[b].qs);
    }
}

static void f32_to_q3_K_row(const float *x, void *out, int64_t k) {
    rwkv_block_q3_K *y = (rwkv_block_q3_K *)out;
    for (int64_t b = 0; b < k / RWKV_QK_K; b++, x += RWKV_QK_K) {
        int8_t L[RWKV_QK_K];
        float scales[16], amax;
        for (int j = 0; j < 16; j++) scales[j] = kq_symmetric_refined(16, 4, x + 16 * j, L + 16 * j);
        const float max_scale = largest_magnitude(16, scales, &amax);
        memset(y[b].scales, 0, 12);
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int j = 0; j < 16; j++) {
                // 6-bit scales: low nibbles in bytes 0…7 (j and j + 8 share a byte), high 2 bits in 8…11.
                const int l = kq_clamp((int8_t)kq_nearest(iscale * scales[j]), -32, 31) + 32;
                if (j < 8) y[b].scales[j] = (uint8_t)(l & 0xF);
                else y[b].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                y[b].scales[j % 4 + 8] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
            }
            y[b].d = f32_to_f16_bits(1 / iscale);
        } else {
            y[b].d = f32_to_f16_bits(0.0f);
        }
        for (int j = 0; j < 16; j++) {
            const int low = j < 8 ? y[b].scales[j] & 0xF : y[b].scales[j - 8] >> 4;
            const int sc = (low | ((y[b].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
            const float d = kq_f16(y[b].d) * (float)sc;
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(kq_clamp(kq_nearest(x[16 * j + i] / d), -4, 3) + 4);
        }
        // The third bit of quant j goes to bit j / 32 of hmask[j % 32].
        memset(y[b].hmask, 0, 32);
        uint8_t low[RWKV_QK_K];
        for (int j = 0; j < RWKV_QK_K; j++) {
            int l = L[j];
            if (l > 3) {
                y[b].hmask[j % 32] |= (uint8_t)(1 << (j / 32));
                l -= 4;
            }
            low[j] = (uint8_t)l;
        }
        kq_pack_2bit(low, y[b].qs);
    }
}

/// Q4_K and Q5_K: eight sub-blocks of 32 fitted by kq_affine (weights rms + |x|), their scales and minimums
/// quantized to 6 bits against the largest of each, then every value requantized against its sub-block's
/// decoded scale and minimum into L (0…nmax).
static void kq_affine_super_block(const float *x, int nmax, float rmin, int nstep, uint16_t *d_bits, uint16_t *dmin_bits,
                                  uint8_t scales_out[12], uint8_t L[RWKV_QK_K]) {
    float weights[32], scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        const float rms = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = rms + fabsf(x[32 * j + l]);
        scales[j] = kq_affine(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t sc[8], mn[8];
    for (int j = 0; j < 8; j++) {
        const uint8_t ls = (uint8_t)kq_nearest(inv_scale * scales[j]), lm = (uint8_t)kq_nearest(inv_min * mins[j]);
        sc[j] = ls < 63 ? ls : 63;
        mn[j] = lm < 63 ? lm : 63;
    }
    // 6-bit pairs: j < 4 in bytes j and j + 4; j ≥ 4 as nibbles of byte j + 4, high bits on top of j − 4 / j.
    for (int j = 0; j < 4; j++) {
        scales_out[j] = sc[j];
        scales_out[j + 4] = mn[j];
    }
    for (int j = 4; j < 8; j++) {
        scales_out[j + 4] = (uint8_t)((sc[j] & 0xF) | (mn[j] & 0xF) << 4);
        scales_out[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
        scales_out[j] |= (uint8_t)((mn[j] >> 4) << 6);
    }
    *d_bits = f32_to_f16_bits(max_scale / 63.0f);
    *dmin_bits = f32_to_f16_bits(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        const float d = kq_f16(*d_bits) * (float)sc[j];
        if (d == 0.0f) continue;
        const float dm = kq_f16(*dmin_bits) * (float)mn[j];
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)kq_clamp(kq_nearest((x[32 * j + i] + dm) / d), 0, nmax);
    }
}

/// A super-block's 256 quants (4 or, with `qh`, 5 bits) as Q4_K/Q5_K store them: each pair of runs of 32 as
/// nibbles (low: the first run, high: the second); the fifth bits of pair p in bits 2p and 2p + 1 of qh.
static inline void kq_pack_pairs(const uint8_t *L, uint8_t *qs, uint8_t *qh) {
    if (qh) memset(qh, 0, 32);
    for (int p = 0; p < 4; p++)
        for (int j = 0; j < 32; j++) {
            const int lo = L[64 * p + j], hi = L[64 * p + j + 32];
            qs[32 * p + j] = (uint8_t)((lo & 0xF) | (hi & 0xF) << 4);
            if (qh) qh[j] |= (uint8_t)((lo >> 4) << (2 * p) | (hi >> 4) << (2 * p + 1));
        }
}

static void f32_to_q4_K_row(const float *x, void *out, int64_t k) {
    rwkv_block_q4_K *y = (rwkv_block_q4_K *)out;
    for (int64_t b = 0; b < k / RWKV_QK_K; b++, x += RWKV_QK_K) {
        uint8_t L[RWKV_QK_K];
        uint16_t d, dmin;
        kq_affine_super_block(x, 15, -1.0f, 20, &d, &dmin, y[b].scales, L);
        y[b].d = d;
        y[b].dmin = dmin;
        kq_pack_pairs(L, y[b].qs, 0);
    }
}

static void f32_to_q5_K_row(const float *x, void *out, int64_t k) {
    rwkv_block_q5_K *y = (rwkv_block_q5_K *)out;
    for (int64_t b = 0; b < k / RWKV_QK_K; b++, x += RWKV_QK_K) {
        uint8_t L[RWKV_QK_K];
        uint16_t d, dmin;
        kq_affine_super_block(x, 31, -0.5f, 15, &d, &dmin, y[b].scales, L);
        y[b].d = d;
        y[b].dmin = dmin;
        kq_pack_pairs(L, y[b].qs, y[b].qh);
    }
}

static void f32_to_q6_K_row(const float *x, void *out, int64_t k) {
    rwkv_block_q6_K *y = (rwkv_block_q6_K *)out;
    for (int64_t b = 0; b < k / RWKV_QK_K; b++, x += RWKV_QK_K) {
        int8_t L[RWKV_QK_K];
        float scales[16], max_abs_scale;
        for (int j = 0; j < 16; j++) scales[j] = kq_symmetric(16, 32, x + 16 * j, L + 16 * j);
        const float max_scale = largest_magnitude(16, scales, &max_abs_scale);
        if (max_abs_scale < KQ_ZERO_GROUP) {
            memset(&y[b], 0, sizeof y[b]);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[b].d = f32_to_f16_bits(1 / iscale);
        for (int j = 0; j < 16; j++) {
            const int s = kq_nearest(iscale * scales[j]);
            y[b].scales[j] = (int8_t)(s < 127 ? s : 127);
        }
        for (int j = 0; j < 16; j++) {
            const float d = kq_f16(y[b].d) * (float)y[b].scales[j];
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; i++) L[16 * j + i] = (int8_t)(kq_clamp(kq_nearest(x[16 * j + i] / d), -32, 31) + 32);
        }
        // Per 128: low nibbles of quants l and l + 64 share ql[l], of l + 32 and l + 96 share ql[l + 32];
        // the high 2 bits of l, l + 32, l + 64, l + 96 fill qh[l].
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = (const uint8_t *)L + 128 * h;
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((q[l] & 0xF) | (q[l + 64] & 0xF) << 4);
                ql[l + 32] = (uint8_t)((q[l + 32] & 0xF) | (q[l + 96] & 0xF) << 4);
                qh[l] = (uint8_t)(q[l] >> 4 | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
            }
        }
    }
}
