#ifndef RWKV_CKERNELS_H
#define RWKV_CKERNELS_H

// The kernel layer: every hot loop of the runtime, in C, compiled once per ISA level (scalar, AVX2, AVX-512,
// AVX-512 VNNI) in one binary; the level is chosen at run time from cpuid. Each level fills one table of
// function pointers (`rwkv_kernels`); the op and dtype tables of the Swift side point into it.

#include <stdint.h>

// MARK: - Block layouts (ggml's, and the in-memory layouts derived from them)

/// Q8_0: 32 int8 quants and their f16 scale (value = d · q).
typedef struct __attribute__((packed)) {
    uint16_t d;
    int8_t qs[32];
} rwkv_block_q8_0;

/// Q4_0: 32 quants as nibbles (low nibbles elements 0…15, high nibbles 16…31) and an f16 scale
/// (value = d · (q − 8)).
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint8_t qs[16];
} rwkv_block_q4_0;

/// Q8_0s: the activations of the r8 matmuls — a Q8_0 block with its scale widened to f32 and its quants' sum.
typedef struct {
    float d;
    int32_t sum;
    int8_t qs[32];
} rwkv_block_q8_0s;

/// Q4_1: nibbles with a scale and a minimum (value = d · q + m).
typedef struct __attribute__((packed)) {
    uint16_t d, m;
    uint8_t qs[16];
} rwkv_block_q4_1;

/// Q5_0: 5-bit quants, low nibbles as Q4_0 and the 32 high bits in `qh` (value = d · (q − 16)).
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[16];
} rwkv_block_q5_0;

/// Q5_1: 5-bit quants with a scale and a minimum (value = d · q + m).
typedef struct __attribute__((packed)) {
    uint16_t d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} rwkv_block_q5_1;

/// IQ4_NL: 32 nibbles indexing a fixed non-linear table of 16 values, times an f16 scale.
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint8_t qs[16];
} rwkv_block_iq4_nl;

/// The K-quants: super-blocks of 256 values in sub-blocks of 16 or 32 with their own quantized scales.
#define RWKV_QK_K 256

/// Q2_K: 16 sub-blocks of 16, 2-bit quants, 4-bit scales and mins (value = d·sc·q − dmin·m).
typedef struct __attribute__((packed)) {
    uint8_t scales[16];
    uint8_t qs[64];
    uint16_t d, dmin;
} rwkv_block_q2_K;

/// Q3_K: 16 sub-blocks of 16, 3-bit quants (2 low bits in `qs`, the high bit in `hmask`), 6-bit scales.
typedef struct __attribute__((packed)) {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    uint16_t d;
} rwkv_block_q3_K;

/// Q4_K: 8 sub-blocks of 32, 4-bit quants, 6-bit scales and mins packed in 12 bytes.
typedef struct __attribute__((packed)) {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
} rwkv_block_q4_K;

/// Q5_K: as Q4_K, with the fifth bit of each quant in `qh`.
typedef struct __attribute__((packed)) {
    uint16_t d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} rwkv_block_q5_K;

/// Q6_K: 16 sub-blocks of 16, 6-bit quants (4 low bits in `ql`, 2 high bits in `qh`), int8 scales.
typedef struct __attribute__((packed)) {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    uint16_t d;
} rwkv_block_q6_K;

/// IQ4_XS: 8 sub-blocks of 32 non-linear nibbles, 6-bit sub-block scales (low 4 bits in `scales_l`, high 2
/// in `scales_h`).
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[4];
    uint8_t qs[128];
} rwkv_block_iq4_xs;

/// Q8_K: the activations of the K-quant matmuls — 256 int8 quants, an f32 scale and the sums of each 16.
typedef struct {
    float d;
    int8_t qs[256];
    int16_t bsums[16];
} rwkv_block_q8_K;

_Static_assert(sizeof(rwkv_block_q8_0) == 34, "ggml's block_q8_0 is 34 bytes");
_Static_assert(sizeof(rwkv_block_q8_K) == 292, "a Q8_K block is 292 bytes");
_Static_assert(sizeof(rwkv_block_q4_0) == 18, "ggml's block_q4_0 is 18 bytes");
_Static_assert(sizeof(rwkv_block_q8_0s) == 40, "a Q8_0s block is 40 bytes");
_Static_assert(sizeof(rwkv_block_q4_1) == 20, "ggml's block_q4_1 is 20 bytes");
_Static_assert(sizeof(rwkv_block_q5_0) == 22, "ggml's block_q5_0 is 22 bytes");
_Static_assert(sizeof(rwkv_block_q5_1) == 24, "ggml's block_q5_1 is 24 bytes");
_Static_assert(sizeof(rwkv_block_iq4_nl) == 18, "ggml's block_iq4_nl is 18 bytes");
_Static_assert(sizeof(rwkv_block_q2_K) == 84, "ggml's block_q2_K is 84 bytes");
_Static_assert(sizeof(rwkv_block_q3_K) == 110, "ggml's block_q3_K is 110 bytes");
_Static_assert(sizeof(rwkv_block_q4_K) == 144, "ggml's block_q4_K is 144 bytes");
_Static_assert(sizeof(rwkv_block_q5_K) == 176, "ggml's block_q5_K is 176 bytes");
_Static_assert(sizeof(rwkv_block_q6_K) == 210, "ggml's block_q6_K is 210 bytes");
_Static_assert(sizeof(rwkv_block_iq4_xs) == 136, "ggml's block_iq4_xs is 136 bytes");

// MARK: - Function types

typedef struct rwkv_task rwkv_task;

/// Runs work units [first, end) of a task.
typedef void (*rwkv_task_fn)(const rwkv_task *task, int64_t first, int64_t end);

/// out[t·m + r] = Σ_i W[r][i] · x[t][i] for weight rows r in [r0, r1) and every token t < tokens; x is in the
/// weight type's activation encoding (f32 or Q8_0/Q8_0s rows of k values).
typedef void (*rwkv_matmul_fn)(const void *w, const void *x, float *out, int64_t k, int64_t m, int64_t tokens,
                               int64_t r0, int64_t r1);

/// `count` values of some encoding to floats, and back.
typedef void (*rwkv_to_f32_fn)(const void *src, float *dst, int64_t count);
typedef void (*rwkv_from_f32_fn)(const float *src, void *dst, int64_t count);

/// `count` floats through a function (in place allowed).
typedef void (*rwkv_map_fn)(const float *x, float *out, int64_t count);

// MARK: - Tasks

/// Element-wise functions of one input (the values of `rwkv_unary_params.function`).
enum {
    RWKV_UNARY_SIGMOID,
    RWKV_UNARY_TANH,
    RWKV_UNARY_EXP,
    RWKV_UNARY_NEGATE,
    RWKV_UNARY_SOFTPLUS,
    RWKV_UNARY_RELU_SQUARED,
};

/// What a folded element-wise node does to the output its task just wrote (the values of
/// `rwkv_epilogue_step.kind`): `out ∘= operand`, `out ·= factor`, `out = f(out)`, `out += (operand − out) ⊙ second`.
enum {
    RWKV_STEP_ADD,
    RWKV_STEP_SUB,
    RWKV_STEP_MUL,
    RWKV_STEP_SCALE,
    RWKV_STEP_UNARY,
    RWKV_STEP_LERP,
};

typedef struct {
    int32_t kind;
    int32_t function;
    float factor;
    /// Indices into the task's inputs, and whether each is one row applied to every token.
    int32_t operand, second;
    int32_t operand_is_row, second_is_row;
} rwkv_epilogue_step;

/// Matmul: weight `in[0]` [k = width, m = out_width], activations `in[1]`, `tokens` = rows.
/// `column_bytes` > 0: the columns are independent sequences of `sequence_columns` tokens each (one in a
/// batched decode), each multiplied as a product of its own columns (whose activation rows are
/// `column_bytes` long), so its sums never depend on the batch.
typedef struct {
    rwkv_matmul_fn kernel;
    int64_t rows_per_unit;
    int64_t column_bytes;
    int64_t sequence_columns;
} rwkv_matmul_params;

/// add, sub, mul (a, b) and lerp (a, b, t): whether the last operand is one row for every token.
typedef struct {
    int32_t broadcast;
} rwkv_binary_params;

typedef struct {
    int32_t function;
} rwkv_unary_params;

typedef struct {
    float factor;
} rwkv_scale_params;

/// LayerNorm (groups = 1) and GroupNorm over `groups` equal runs of a row; L2 normalisation of each run of
/// `head_size` values.
typedef struct {
    float eps;
    int64_t groups;
    int64_t head_size;
} rwkv_norm_params;

/// RWKV ops: the WKV-7 recurrence (a unit is `rows_per_unit` value rows of one head of one of `sequences`
/// sequences, whose tokens are consecutive columns and whose states follow one another) and the bonus
/// `(Σ a·b·c) · v` per head (`broadcast`: c is one row).
typedef struct {
    int64_t head_size;
    int64_t rows_per_unit;
    int64_t sequences;
    int32_t broadcast;
} rwkv_head_params;

/// vector_times_token_matrix: `rows` × `columns` per token (rows = width).
typedef struct {
    int64_t columns;
} rwkv_token_matrix_params;

/// get_rows: the table's rows decoded to floats (ids `in[1]`, i32).
typedef struct {
    rwkv_to_f32_fn decode;
    int64_t row_bytes;
    int64_t table_rows;
} rwkv_gather_params;

/// rows: rows `first ..< first + count` of each sequence of `sequence_rows` input rows, one sequence after
/// another. shift: each sequence's first row comes from its row of `in[1]` (sequences of `sequence_rows`).
/// store: `in[1]` is the state written.
typedef struct {
    int64_t first;
    int64_t count;
    int64_t sequence_rows;
} rwkv_rows_params;

/// convert_rows: f32 rows encoded for a matmul's activations.
typedef struct {
    rwkv_from_f32_fn encode;
    int64_t row_bytes;
} rwkv_convert_params;

/// Cached causal attention (RWKV-7b DeepEmbedAttention). Each of `sequences` sequences has a cache of
/// `capacity` rows (one after another) and T/S consecutive query rows; the number of rows each has cached (its
/// position P) is an i32 input read at run time. Scores: a unit is (query t, key group g), keys p ≡ g (mod
/// `key_groups`), `soft_cap · tanh(scale · q·k)`. Mix: a unit is (query t, `block` output channels).
typedef struct {
    int64_t capacity;
    int64_t sequences;
    int64_t key_groups;
    int64_t block;
    float soft_cap, scale;
} rwkv_attention_params;

typedef union {
    rwkv_matmul_params matmul;
    rwkv_binary_params binary;
    rwkv_unary_params unary;
    rwkv_scale_params scale;
    rwkv_norm_params norm;
    rwkv_head_params head;
    rwkv_token_matrix_params token_matrix;
    rwkv_gather_params gather;
    rwkv_rows_params rows;
    rwkv_convert_params convert;
    rwkv_attention_params attention;
} rwkv_task_params;

/// A graph node lowered for execution: plain values and raw pointers, run by `run` on a range of work units
/// (rows, or blocks of output channels). Units never depend on the thread count.
struct rwkv_task {
    rwkv_task_fn run;
    float *out;
    /// Input pointers in the node's order, then the operands of folded nodes (patched when slots are bound).
    void **in;
    /// Row length of the first input (C; K for a matmul) and its rows (T).
    int64_t width, rows;
    /// Output row length of a matmul (M).
    int64_t out_width;
    rwkv_task_params p;
    /// Element-wise steps applied in place to what each unit wrote, by `finish`.
    const rwkv_epilogue_step *epilogue;
    int64_t epilogue_count;
    rwkv_task_fn finish;
    /// > 0: a unit is this many output channels over every token (matmul); 0: a unit is one row.
    int64_t channels_per_unit;
    /// Set to 1 by a kernel that meets bad input (a token id outside the table).
    int32_t *failed;
};

/// Runs units [first, end) of `task`, then its epilogue on what they wrote.
static inline void rwkv_task_run(const rwkv_task *task, int64_t first, int64_t end) {
    task->run(task, first, end);
    if (task->epilogue_count > 0) task->finish(task, first, end);
}

// MARK: - The kernel tables

/// ISA levels, each a superset of the one before (x86-64; other CPUs have the scalar level only).
typedef enum {
    RWKV_ISA_SCALAR = 0,
    /// AVX2, FMA, F16C, BMI1/2 (Haswell, Zen 1+).
    RWKV_ISA_AVX2 = 1,
    /// + AVX-512 F/BW/DQ/VL/CD (Skylake-SP, Zen 4).
    RWKV_ISA_AVX512 = 2,
    /// + AVX-512 VNNI (Cascade Lake, Ice Lake, Zen 4).
    RWKV_ISA_AVX512VNNI = 3,
    RWKV_ISA_COUNT = 4,
} rwkv_isa;

typedef struct {
    /// The task kernels of the ops.
    rwkv_task_fn matmul, convert_rows, get_rows, rows, store;
    rwkv_task_fn add, sub, mul, lerp, shift, scale, unary;
    rwkv_task_fn group_norm, l2_normalize;
    rwkv_task_fn wkv7, head_dot_scale, vector_times_token_matrix;
    rwkv_task_fn attention_scores, softmax_rows, attention_mix;
    /// Applies a task's epilogue steps.
    rwkv_task_fn finish;
    /// Matmul kernels by weight type.
    rwkv_matmul_fn matmul_f32, matmul_f16, matmul_bf16, matmul_q8_0, matmul_q4_0, matmul_q8_0r8, matmul_q4_0r8, matmul_q4_1r8, matmul_q5_0r8, matmul_q5_1r8, matmul_q2_Kr8, matmul_q3_Kr8, matmul_q4_Kr8, matmul_q5_Kr8, matmul_q6_Kr8, matmul_iq4_nlr8, matmul_iq4_xsr8;
    rwkv_matmul_fn matmul_q4_1, matmul_q5_0, matmul_q5_1, matmul_iq4_nl;
    /// F32/F16/BF16: each of several tokens as its own one-token product (a batched decode's sequences).
    rwkv_matmul_fn matmul_f32_columns, matmul_f16_columns, matmul_bf16_columns;
    rwkv_matmul_fn matmul_q2_K, matmul_q3_K, matmul_q4_K, matmul_q5_K, matmul_q6_K, matmul_iq4_xs;
    /// Row conversions by type (f32 ones are copies).
    rwkv_to_f32_fn f32_to_f32, f16_to_f32, bf16_to_f32, q8_0_to_f32, q4_0_to_f32, q8_0s_to_f32;
    rwkv_to_f32_fn q4_1_to_f32, q5_0_to_f32, q5_1_to_f32, iq4_nl_to_f32;
    rwkv_to_f32_fn q2_K_to_f32, q3_K_to_f32, q4_K_to_f32, q5_K_to_f32, q6_K_to_f32, iq4_xs_to_f32, q8_K_to_f32;
    rwkv_from_f32_fn f32_from_f32, f32_to_f16, f32_to_bf16, f32_to_q8_0, f32_to_q4_0, f32_to_q8_0s;
    rwkv_from_f32_fn f32_to_q4_1, f32_to_q5_0, f32_to_q5_1, f32_to_q8_K;
    rwkv_from_f32_fn f32_to_q2_K, f32_to_q3_K, f32_to_q4_K, f32_to_q5_K, f32_to_q6_K;
    /// exp (within 2 ulp) and sigmoid (within 3 ulp), vectorised.
    rwkv_map_fn exp, sigmoid;
} rwkv_kernels;

/// The best level this CPU and OS support (the OS must save the vector registers' state).
rwkv_isa rwkv_isa_detect(void);

/// The kernels of `level`; NULL for a level this build has no code for (x86-64 levels elsewhere).
const rwkv_kernels *rwkv_kernels_for(rwkv_isa level);

// MARK: - Layout helpers (ISA-independent)

/// The layouts with 8 rows interleaved, by the type of their rows.
typedef enum {
    RWKV_R8_Q8_0 = 0,
    RWKV_R8_Q4_0 = 1,
    RWKV_R8_Q4_K = 2,
    RWKV_R8_Q6_K = 3,
    RWKV_R8_Q5_K = 4,
    RWKV_R8_Q4_1 = 5,
    RWKV_R8_Q5_0 = 6,
    RWKV_R8_Q5_1 = 7,
    RWKV_R8_Q3_K = 8,
    RWKV_R8_Q2_K = 9,
    RWKV_R8_IQ4_NL = 10,
    RWKV_R8_IQ4_XS = 11,
} rwkv_r8_layout;

/// Interleaves `rows` (a multiple of 8) rows of k elements into their r8 layout (described in
/// kernels/matmul_r8.h, matmul_q{2,3,4,5,6}_Kr8.h and matmul_iq4_xsr8.h), and back.
void rwkv_pack_rows8(const void *src, void *dst, int64_t rows, int64_t k, rwkv_r8_layout layout);
void rwkv_unpack_rows8(const void *src, void *dst, int64_t rows, int64_t k, rwkv_r8_layout layout);

/// Tells OpenBLAS not to start threads of its own (the runtime's worker team provides them).
void rwkv_blas_single_threaded(void);

#endif
