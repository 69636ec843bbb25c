// The r8 layouts (see kernels/matmul_r8.h, matmul_q{2,3,4,5,6}_Kr8.h and matmul_iq4_xsr8.h): Q8_0, Q4_0, Q4_1,
// Q5_0, Q5_1, IQ4_NL, the K-quants Q2_K … Q6_K and IQ4_XS with rows interleaved by 8, and back. Plain byte
// moves, compiled once for every CPU.
#include "CKernels.h"

#include <string.h>

/// Copies `n` bytes from a row's block to its group block (`pack`) or back.
static void move_bytes(uint8_t *row_bytes, uint8_t *group_bytes, size_t n, int pack) {
    if (pack) memcpy(group_bytes, row_bytes, n);
    else memcpy(row_bytes, group_bytes, n);
}

/// Q2_K block `b` of rows group·8 … group·8 + 7 (in `rows`) to or from its group block `group_bytes`.
static void move_q2_K_group(uint8_t *rows, uint8_t *group_bytes, int64_t group, int64_t b, int64_t nb, int pack) {
    for (int r = 0; r < 8; r++) {
        uint8_t *in = rows + ((group * 8 + r) * nb + b) * (int64_t)sizeof(rwkv_block_q2_K);
        move_bytes(in + 80, group_bytes + 2 * r, 2, pack);       // d
        move_bytes(in + 82, group_bytes + 16 + 2 * r, 2, pack);  // dmin
        for (int g = 0; g < 16; g++) move_bytes(in + g, group_bytes + 32 + 8 * g + r, 1, pack);
        // Unit c: qs bytes 4c … 4c + 3, then 32 + 4c … + 3.
        for (int c = 0; c < 8; c++) {
            uint8_t *unit = group_bytes + 160 + 64 * c + 4 * r;
            move_bytes(in + 16 + 4 * c, unit, 4, pack);
            move_bytes(in + 48 + 4 * c, unit + 32, 4, pack);
        }
    }
}

/// Q3_K block `b` of rows group·8 … group·8 + 7 (in `rows`) to or from its group block `group_bytes`.
static void move_q3_K_group(uint8_t *rows, uint8_t *group_bytes, int64_t group, int64_t b, int64_t nb, int pack) {
    for (int r = 0; r < 8; r++) {
        uint8_t *in = rows + ((group * 8 + r) * nb + b) * (int64_t)sizeof(rwkv_block_q3_K);
        move_bytes(in + 108, group_bytes + 2 * r, 2, pack);  // d
        for (int i = 0; i < 12; i++) move_bytes(in + 96 + i, group_bytes + 16 + 8 * i + r, 1, pack);
        // Unit c: hmask bytes 4c … 4c + 3, then qs bytes 4c … + 3 and 32 + 4c … + 3.
        for (int c = 0; c < 8; c++) {
            uint8_t *unit = group_bytes + 112 + 96 * c + 4 * r;
            move_bytes(in + 4 * c, unit, 4, pack);
            move_bytes(in + 32 + 4 * c, unit + 32, 4, pack);
            move_bytes(in + 64 + 4 * c, unit + 64, 4, pack);
        }
    }
}

/// Block `b` (`block` bytes) of rows group·8 … group·8 + 7 (in `rows`) to or from its group block, for the layouts
/// of Q4_K (`scale_bytes` 12) and IQ4_XS (4): the rows' f16 d and the 2 bytes after it (Q4_K's dmin, IQ4_XS's
/// scales_h) at 2r and 16 + 2r, their scale bytes transposed (byte i of row r at 32 + 8i + r), then 32 chunks of
/// 4 quant bytes per row (chunk n of row r at 32 + 8 · scale_bytes + 32n + 4r).
static void move_scaled_quants_group(uint8_t *rows, uint8_t *group_bytes, int64_t group, int64_t b, int64_t nb, int64_t block,
                                     int scale_bytes, int pack) {
    uint8_t *quants = group_bytes + 32 + 8 * scale_bytes;
    for (int r = 0; r < 8; r++) {
        uint8_t *in = rows + ((group * 8 + r) * nb + b) * block;
        move_bytes(in, group_bytes + 2 * r, 2, pack);
        move_bytes(in + 2, group_bytes + 16 + 2 * r, 2, pack);
        for (int i = 0; i < scale_bytes; i++) move_bytes(in + 4 + i, group_bytes + 32 + 8 * i + r, 1, pack);
        for (int n = 0; n < 32; n++) move_bytes(in + 4 + scale_bytes + 4 * n, quants + 32 * n + 4 * r, 4, pack);
    }
}

/// Q5_K block `b` of rows group·8 … group·8 + 7 (in `rows`) to or from its group block `group_bytes`.
static void move_q5_K_group(uint8_t *rows, uint8_t *group_bytes, int64_t group, int64_t b, int64_t nb, int pack) {
    for (int r = 0; r < 8; r++) {
        uint8_t *in = rows + ((group * 8 + r) * nb + b) * (int64_t)sizeof(rwkv_block_q5_K);
        move_bytes(in, group_bytes + 2 * r, 2, pack);           // d
        move_bytes(in + 2, group_bytes + 16 + 2 * r, 2, pack);  // dmin
        for (int i = 0; i < 12; i++) move_bytes(in + 4 + i, group_bytes + 32 + 8 * i + r, 1, pack);
        // Unit c: qh bytes 4c … 4c + 3, then qs bytes 32j + 4c … + 3 for j = 0…3.
        for (int c = 0; c < 8; c++) {
            uint8_t *unit = group_bytes + 128 + 160 * c + 4 * r;
            move_bytes(in + 16 + 4 * c, unit, 4, pack);
            for (int j = 0; j < 4; j++) move_bytes(in + 48 + 32 * j + 4 * c, unit + 32 + 32 * j, 4, pack);
        }
    }
}

/// Q6_K block `b` of rows group·8 … group·8 + 7 (in `rows`) to or from its group block `group_bytes`.
static void move_q6_K_group(uint8_t *rows, uint8_t *group_bytes, int64_t group, int64_t b, int64_t nb, int pack) {
    for (int r = 0; r < 8; r++) {
        uint8_t *in = rows + ((group * 8 + r) * nb + b) * (int64_t)sizeof(rwkv_block_q6_K);
        move_bytes(in + 208, group_bytes + 2 * r, 2, pack);  // d
        for (int s = 0; s < 16; s++) move_bytes(in + 192 + s, group_bytes + 16 + 8 * s + r, 1, pack);
        // ql bytes 4n … 4n + 3 (half h, second 32 bytes of the half or not, column group c) and qh bytes 4u … 4u + 3.
        for (int n = 0; n < 32; n++) {
            const int h = n / 16, second = n % 16 / 8, c = n % 8;
            move_bytes(in + 4 * n, group_bytes + 144 + 96 * (8 * h + c) + 32 * second + 4 * r, 4, pack);
        }
        for (int u = 0; u < 16; u++) move_bytes(in + 128 + 4 * u, group_bytes + 144 + 96 * u + 64 + 4 * r, 4, pack);
    }
}

/// A row's 32 fifth bits (bit j: column j) rearranged as the r8 layouts of Q5_0/Q5_1 keep them: bit 2c of byte i
/// is column 4c + i's, bit 2c + 1 column 16 + 4c + i's (c = 0…3), and back (`pack` 0).
static uint32_t rearrange_fifth_bits(uint32_t bits, int pack) {
    uint32_t out = 0;
    for (int j = 0; j < 32; j++) {
        const int c = j % 16 / 4, i = j % 4, at = 8 * i + 2 * c + j / 16;
        if (pack) out |= (bits >> j & 1u) << at;
        else out |= (bits >> at & 1u) << j;
    }
    return out;
}

/// Block `b` of a block-of-32 type of rows group·8 … group·8 + 7 (in `rows`) to or from its group block.
static void move_block32_group(uint8_t *rows, uint8_t *group_bytes, int64_t group, int64_t b, int64_t nb,
                               rwkv_r8_layout layout, int64_t block, int pack) {
    const int min = layout == RWKV_R8_Q4_1 || layout == RWKV_R8_Q5_1, five = layout == RWKV_R8_Q5_0 || layout == RWKV_R8_Q5_1;
    uint8_t *quants = group_bytes + 16 + 16 * min + 32 * five;
    for (int r = 0; r < 8; r++) {
        uint8_t *in = rows + ((group * 8 + r) * nb + b) * block;
        move_bytes(in, group_bytes + 2 * r, 2, pack);                // d
        if (min) move_bytes(in + 2, group_bytes + 16 + 2 * r, 2, pack);  // m
        uint8_t *qs = in + 2 + 2 * min;
        if (five) {
            uint8_t *packed = quants - 32 + 4 * r;
            uint32_t bits;
            memcpy(&bits, pack ? qs : packed, 4);
            bits = rearrange_fifth_bits(bits, pack);
            memcpy(pack ? packed : qs, &bits, 4);
            qs += 4;
        }
        if (layout == RWKV_R8_Q8_0) {  // stored as q + 128
            for (int g = 0; g < 8; g++)
                for (int j = 0; j < 4; j++) {
                    uint8_t *row_byte = qs + 4 * g + j, *group_byte = quants + 32 * g + 4 * r + j;
                    if (pack) *group_byte = *row_byte ^ 0x80;
                    else *row_byte = *group_byte ^ 0x80;
                }
        } else {
            for (int c = 0; c < 4; c++) move_bytes(qs + 4 * c, quants + 32 * c + 4 * r, 4, pack);
        }
    }
}

/// Interleaves (`pack`) or de-interleaves 8 rows at a time.
static void pack_rows8(const void *src, void *dst, int64_t rows, int64_t k, rwkv_r8_layout layout, int pack) {
    const int k_quant = layout == RWKV_R8_Q2_K || layout == RWKV_R8_Q3_K || layout == RWKV_R8_Q4_K || layout == RWKV_R8_Q5_K || layout == RWKV_R8_Q6_K ||
                        layout == RWKV_R8_IQ4_XS;
    const int64_t block = layout == RWKV_R8_Q2_K   ? (int64_t)sizeof(rwkv_block_q2_K)
                          : layout == RWKV_R8_Q3_K ? (int64_t)sizeof(rwkv_block_q3_K)
                          : layout == RWKV_R8_Q4_K ? (int64_t)sizeof(rwkv_block_q4_K)
                          : layout == RWKV_R8_Q5_K ? (int64_t)sizeof(rwkv_block_q5_K)
                          : layout == RWKV_R8_Q6_K ? (int64_t)sizeof(rwkv_block_q6_K)
                          : layout == RWKV_R8_IQ4_XS ? (int64_t)sizeof(rwkv_block_iq4_xs)
                          : layout == RWKV_R8_Q8_0 ? (int64_t)sizeof(rwkv_block_q8_0)
                          : layout == RWKV_R8_Q4_0 ? (int64_t)sizeof(rwkv_block_q4_0)
                          : layout == RWKV_R8_Q4_1 ? (int64_t)sizeof(rwkv_block_q4_1)
                          : layout == RWKV_R8_Q5_0 ? (int64_t)sizeof(rwkv_block_q5_0)
                          : layout == RWKV_R8_Q5_1 ? (int64_t)sizeof(rwkv_block_q5_1)
                                                   : (int64_t)sizeof(rwkv_block_iq4_nl);
    const int64_t nb = k / (k_quant ? 256 : 32), group_block = 8 * block;
    uint8_t *rows_bytes = (uint8_t *)(pack ? src : dst), *groups = (uint8_t *)(pack ? dst : src);
    for (int64_t group = 0; group < rows / 8; group++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *group_bytes = groups + (group * nb + b) * group_block;
            if (layout == RWKV_R8_Q2_K) move_q2_K_group(rows_bytes, group_bytes, group, b, nb, pack);
            else if (layout == RWKV_R8_Q3_K) move_q3_K_group(rows_bytes, group_bytes, group, b, nb, pack);
            else if (layout == RWKV_R8_Q4_K) move_scaled_quants_group(rows_bytes, group_bytes, group, b, nb, block, 12, pack);
            else if (layout == RWKV_R8_Q5_K) move_q5_K_group(rows_bytes, group_bytes, group, b, nb, pack);
            else if (layout == RWKV_R8_Q6_K) move_q6_K_group(rows_bytes, group_bytes, group, b, nb, pack);
            else if (layout == RWKV_R8_IQ4_XS) move_scaled_quants_group(rows_bytes, group_bytes, group, b, nb, block, 4, pack);
            else move_block32_group(rows_bytes, group_bytes, group, b, nb, layout, block, pack);
        }
}

void rwkv_pack_rows8(const void *src, void *dst, int64_t rows, int64_t k, rwkv_r8_layout layout) {
    pack_rows8(src, dst, rows, k, layout, 1);
}

void rwkv_unpack_rows8(const void *src, void *dst, int64_t rows, int64_t k, rwkv_r8_layout layout) {
    pack_rows8(src, dst, rows, k, layout, 0);
}
