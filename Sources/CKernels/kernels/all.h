// Every kernel of one ISA level and the level's table (see common.h).
#include "common.h"
#include "vmath.h"
#include "elementwise.h"
#include "norms.h"
#include "convert.h"
#include "matmul_float.h"
#include "matmul_float_columns.h"
#include "quant_types.h"
#include "matmul_quant.h"
#include "matmul_r8.h"
#include "matmul_k.h"
#include "matmul_k_r8.h"
#include "matmul_q4_Kr8.h"
#include "matmul_q3_Kr8.h"
#include "matmul_q2_Kr8.h"
#include "matmul_q5_Kr8.h"
#include "matmul_q6_Kr8.h"
#include "matmul_iq4_xsr8.h"
#include "quantize_k.h"
#include "rwkv.h"
#include "attention.h"

/// A matmul: weight rows [first · rows_per_unit, end · rows_per_unit) against every token (against each
/// sequence's columns on their own in a batched step).
static void matmul_task(const rwkv_task *t, int64_t first, int64_t end) {
    const int64_t per_unit = t->p.matmul.rows_per_unit, column_bytes = t->p.matmul.column_bytes;
    const int64_t r1 = end * per_unit < t->out_width ? end * per_unit : t->out_width;
    if (column_bytes == 0) {
        t->p.matmul.kernel(t->in[0], t->in[1], t->out, t->width, t->out_width, t->rows, first * per_unit, r1);
        return;
    }
    // Unit by unit, every sequence against the unit's rows while they are in cache; each call is the
    // product of one sequence's columns with those rows, which starts on a unit boundary as it does alone.
    const int64_t length = t->p.matmul.sequence_columns;
    for (int64_t r = first * per_unit; r < r1; r += per_unit)
        for (int64_t column = 0; column < t->rows; column += length)
            t->p.matmul.kernel(t->in[0], (const char *)t->in[1] + column * column_bytes, t->out + column * t->out_width,
                               t->width, t->out_width, length, r, r + per_unit < r1 ? r + per_unit : r1);
}

const rwkv_kernels RWKV_TABLE = {
    .matmul = matmul_task,
    .convert_rows = convert_rows_task,
    .get_rows = get_rows_task,
    .rows = rows_task,
    .store = store_task,
    .add = add_task,
    .sub = sub_task,
    .mul = mul_task,
    .lerp = lerp_task,
    .shift = shift_task,
    .scale = scale_task,
    .unary = unary_task,
    .group_norm = group_norm_task,
    .l2_normalize = l2_normalize_task,
    .wkv7 = wkv7_task,
    .head_dot_scale = head_dot_scale_task,
    .vector_times_token_matrix = vector_times_token_matrix_task,
    .attention_scores = attention_scores_task,
    .softmax_rows = softmax_rows_task,
    .attention_mix = attention_mix_task,
    .finish = finish_task,
    .matmul_f32 = matmul_f32,
    .matmul_f16 = matmul_f16,
    .matmul_bf16 = matmul_bf16,
    .matmul_q8_0 = matmul_q8_0,
    .matmul_q4_0 = matmul_q4_0,
    .matmul_q8_0r8 = matmul_q8_0r8,
    .matmul_q4_0r8 = matmul_q4_0r8,
    .matmul_q4_1r8 = matmul_q4_1r8,
    .matmul_q5_0r8 = matmul_q5_0r8,
    .matmul_q5_1r8 = matmul_q5_1r8,
    .matmul_q2_Kr8 = matmul_q2_Kr8,
    .matmul_q3_Kr8 = matmul_q3_Kr8,
    .matmul_q4_Kr8 = matmul_q4_Kr8,
    .matmul_q5_Kr8 = matmul_q5_Kr8,
    .matmul_q6_Kr8 = matmul_q6_Kr8,
    .matmul_iq4_nlr8 = matmul_iq4_nlr8,
    .matmul_iq4_xsr8 = matmul_iq4_xsr8,
    .matmul_q4_1 = matmul_q4_1,
    .matmul_f32_columns = matmul_f32_columns,
    .matmul_f16_columns = matmul_f16_columns,
    .matmul_bf16_columns = matmul_bf16_columns,
    .matmul_q5_0 = matmul_q5_0,
    .matmul_q5_1 = matmul_q5_1,
    .matmul_iq4_nl = matmul_iq4_nl,
    .matmul_q2_K = matmul_q2_K_int8,
    .matmul_q3_K = matmul_q3_K_int8,
    .matmul_q4_K = matmul_q4_K_int8,
    .matmul_q5_K = matmul_q5_K_int8,
    .matmul_q6_K = matmul_q6_K_int8,
    .matmul_iq4_xs = matmul_iq4_xs_int8,
    .f32_to_f32 = f32_to_f32_row,
    .f16_to_f32 = f16_to_f32_row,
    .bf16_to_f32 = bf16_to_f32_row,
    .q8_0_to_f32 = q8_0_to_f32_row,
    .q4_0_to_f32 = q4_0_to_f32_row,
    .q8_0s_to_f32 = q8_0s_to_f32_row,
    .q4_1_to_f32 = q4_1_to_f32_row,
    .q5_0_to_f32 = q5_0_to_f32_row,
    .q5_1_to_f32 = q5_1_to_f32_row,
    .iq4_nl_to_f32 = iq4_nl_to_f32_row,
    .q2_K_to_f32 = q2_K_to_f32_row,
    .q3_K_to_f32 = q3_K_to_f32_row,
    .q4_K_to_f32 = q4_K_to_f32_row,
    .q5_K_to_f32 = q5_K_to_f32_row,
    .q6_K_to_f32 = q6_K_to_f32_row,
    .iq4_xs_to_f32 = iq4_xs_to_f32_row,
    .q8_K_to_f32 = q8_K_to_f32_row,
    .f32_from_f32 = f32_from_f32_row,
    .f32_to_f16 = f32_to_f16_row,
    .f32_to_bf16 = f32_to_bf16_row,
    .f32_to_q8_0 = f32_to_q8_0_row,
    .f32_to_q4_0 = f32_to_q4_0_row,
    .f32_to_q8_0s = f32_to_q8_0s_row,
    .f32_to_q4_1 = f32_to_q4_1_row,
    .f32_to_q5_0 = f32_to_q5_0_row,
    .f32_to_q5_1 = f32_to_q5_1_row,
    .f32_to_q8_K = f32_to_q8_K_row,
    .f32_to_q2_K = f32_to_q2_K_row,
    .f32_to_q3_K = f32_to_q3_K_row,
    .f32_to_q4_K = f32_to_q4_K_row,
    .f32_to_q5_K = f32_to_q5_K_row,
    .f32_to_q6_K = f32_to_q6_K_row,
    .exp = exp_f32,
    .sigmoid = sigmoid_f32,
};
