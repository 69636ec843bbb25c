// Vectorised exp, sigmoid and tanh (libm's expf is scalar: about 3 ns an element; tanhf about 40 in a batched
// decode step's profile).
// exp(x) = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 (Cody–Waite split of ln 2), e^r from Cephes'
// degree-7 polynomial on |r| ≤ ln2/2; 2^n is applied as two powers of two so results down to the subnormals
// and up to the overflow to +inf come out right. Within 2 ulp of the exact value (tested against double);
// sigmoid within 3. Portable vector code, 16 lanes from AVX-512 on and 8 below: the same arithmetic
// per lane at every level.

#if RWKV_LEVEL >= 2
#define VMATH_LANES 16  // one 512-bit register
#else
#define VMATH_LANES 8
#endif
typedef float vmf __attribute__((vector_size(4 * VMATH_LANES)));
typedef int32_t vmi __attribute__((vector_size(4 * VMATH_LANES)));

static inline vmf vm_splat(float x) { return (vmf){0} + x; }
static inline vmi vm_splat_int(int32_t x) { return (vmi){0} + x; }
static inline vmf vm_fma(vmf a, vmf b, vmf c) { return __builtin_elementwise_fma(a, b, c); }
static inline vmf vm_from_bits(vmi bits) {
    vmf out;
    memcpy(&out, &bits, sizeof out);
    return out;
}
static inline vmi vm_bits(vmf x) {
    vmi out;
    memcpy(&out, &x, sizeof out);
    return out;
}

static inline vmf vm_pow2i(vmi n) { return vm_from_bits((n + 127) << 23); }

static inline vmf vm_exp(vmf x) {
    const vmf clamped = __builtin_elementwise_min(__builtin_elementwise_max(x, vm_splat(-104.0f)), vm_splat(89.0f));
    const vmf n = __builtin_elementwise_roundeven(clamped * vm_splat(1.44269504088896341f));
    vmf r = vm_fma(-n, vm_splat(0.693359375f), clamped);
    r = vm_fma(-n, vm_splat(-2.12194440e-4f), r);
    vmf p = vm_splat(1.9875691500e-4f);
    p = vm_fma(p, r, vm_splat(1.3981999507e-3f));
    p = vm_fma(p, r, vm_splat(8.3334519073e-3f));
    p = vm_fma(p, r, vm_splat(4.1665795894e-2f));
    p = vm_fma(p, r, vm_splat(1.6666665459e-1f));
    p = vm_fma(p, r, vm_splat(5.0000001201e-1f));
    p = vm_fma(p, r * r, r + vm_splat(1.0f));
    const vmi ni = __builtin_convertvector(n, vmi);
    const vmi half = ni >> 1;
    const vmf result = (p * vm_pow2i(half)) * vm_pow2i(ni - half);
    // NaN stays NaN (the clamp above turned it into a number).
    const vmi isNaN = x != x;
    return vm_from_bits((vm_bits(x) & isNaN) | (vm_bits(result) & ~isNaN));
}

static inline vmf vm_sigmoid(vmf x) { return vm_splat(1.0f) / (vm_splat(1.0f) + vm_exp(-x)); }

/// tanh as Cephes' tanhf does it, on |x| with x's sign put back: an odd polynomial below 0.625, else
/// 1 − 2 / (e^{2|x|} + 1) (which reaches 1 from |x| ≈ 9; NaN stays NaN, ±0 stays ±0). Within 2 ulp (tested;
/// 1.2 seen).
static inline vmf vm_tanh(vmf x) {
    const vmi sign = vm_bits(x) & vm_splat_int(INT32_MIN);
    const vmf a = vm_from_bits(vm_bits(x) ^ sign);
    const vmf z = a * a;
    vmf p = vm_splat(-5.70498872745e-3f);
    p = vm_fma(p, z, vm_splat(2.06390887954e-2f));
    p = vm_fma(p, z, vm_splat(-5.37397155531e-2f));
    p = vm_fma(p, z, vm_splat(1.33314422036e-1f));
    p = vm_fma(p, z, vm_splat(-3.33332819422e-1f));
    const vmf small = vm_fma(p * z, a, a);
    const vmf large = vm_splat(1.0f) - vm_splat(2.0f) / (vm_exp(a + a) + vm_splat(1.0f));
    const vmi is_small = a < vm_splat(0.625f);
    return vm_from_bits(((vm_bits(small) & is_small) | (vm_bits(large) & ~is_small)) | sign);
}

/// out[i] = f(x[i]) VMATH_LANES at a time; a tail goes through f too (zero-padded), so every element gets the
/// same arithmetic wherever it sits (and at every level: the operations are per lane).
#define VMATH_MAP(f, x, out, count)                                                  \
    do {                                                                             \
        int64_t i_ = 0;                                                              \
        for (; i_ + VMATH_LANES <= (count); i_ += VMATH_LANES) {                     \
            vmf v_;                                                                  \
            memcpy(&v_, (x) + i_, sizeof v_);                                        \
            v_ = f(v_);                                                              \
            memcpy((out) + i_, &v_, sizeof v_);                                      \
        }                                                                            \
        if (i_ < (count)) {                                                          \
            float lanes_[VMATH_LANES] = {0};                                         \
            for (int64_t j_ = i_; j_ < (count); j_++) lanes_[j_ - i_] = (x)[j_];     \
            vmf v_;                                                                  \
            memcpy(&v_, lanes_, sizeof v_);                                          \
            v_ = f(v_);                                                              \
            memcpy(lanes_, &v_, sizeof v_);                                          \
            for (int64_t j_ = i_; j_ < (count); j_++) (out)[j_] = lanes_[j_ - i_];   \
        }                                                                            \
    } while (0)

static void exp_f32(const float *x, float *out, int64_t count) { VMATH_MAP(vm_exp, x, out, count); }

static void sigmoid_f32(const float *x, float *out, int64_t count) { VMATH_MAP(vm_sigmoid, x, out, count); }

static void tanh_f32(const float *x, float *out, int64_t count) { VMATH_MAP(vm_tanh, x, out, count); }

/// Applies a unary function (RWKV_UNARY_*) to `n` values; in place allowed.
static inline void apply_unary(int32_t function, const float *x, float *o, int64_t n) {
    switch (function) {
    case RWKV_UNARY_SIGMOID: sigmoid_f32(x, o, n); break;
    case RWKV_UNARY_TANH: tanh_f32(x, o, n); break;
    case RWKV_UNARY_EXP: exp_f32(x, o, n); break;
    case RWKV_UNARY_NEGATE: for (int64_t i = 0; i < n; i++) o[i] = -x[i]; break;
    case RWKV_UNARY_SOFTPLUS: for (int64_t i = 0; i < n; i++) o[i] = fmaxf(x[i], 0) + log1pf(expf(-fabsf(x[i]))); break;
    case RWKV_UNARY_RELU_SQUARED:
        for (int64_t i = 0; i < n; i++) {
            const float r = fmaxf(x[i], 0);
            o[i] = r * r;
        }
        break;
    }
}
