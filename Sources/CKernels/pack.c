// The r8 layouts (see kernels/matmul_r8.h): Q8_0 / Q4_0 rows interleaved by 8, and back. Plain byte moves,
// compiled once for every CPU.
#include "CKernels.h"

#include <string.h>

/// Bytes of a Q8_0 and a Q4_0 block.
#define Q8_BYTES ((int64_t)sizeof(rwkv_block_q8_0))
#define Q4_BYTES ((int64_t)sizeof(rwkv_block_q4_0))

void rwkv_pack_rows8(const void *src, void *dst, int64_t rows, int64_t k, int q4) {
    const int64_t nb = k / 32, block = q4 ? Q4_BYTES : Q8_BYTES, group_block = 8 * block;
    for (int64_t group = 0; group < rows / 8; group++)
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *o = (uint8_t *)dst + (group * nb + b) * group_block;
            for (int r = 0; r < 8; r++) {
                const uint8_t *in = (const uint8_t *)src + ((group * 8 + r) * nb + b) * block;
                memcpy(o + 2 * r, in, 2);
                if (q4)
                    for (int c = 0; c < 4; c++) memcpy(o + 16 + 32 * c + 4 * r, in + 2 + 4 * c, 4);
                else
                    for (int g = 0; g < 8; g++)
                        for (int j = 0; j < 4; j++) o[16 + 32 * g + 4 * r + j] = in[2 + 4 * g + j] ^ 0x80;
            }
        }
}

void rwkv_unpack_rows8(const void *src, void *dst, int64_t rows, int64_t k, int q4) {
    const int64_t nb = k / 32, block = q4 ? Q4_BYTES : Q8_BYTES, group_block = 8 * block;
    for (int64_t group = 0; group < rows / 8; group++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *in = (const uint8_t *)src + (group * nb + b) * group_block;
            for (int r = 0; r < 8; r++) {
                uint8_t *o = (uint8_t *)dst + ((group * 8 + r) * nb + b) * block;
                memcpy(o, in + 2 * r, 2);
                if (q4)
                    for (int c = 0; c < 4; c++) memcpy(o + 2 + 4 * c, in + 16 + 32 * c + 4 * r, 4);
                else
                    for (int g = 0; g < 8; g++)
                        for (int j = 0; j < 4; j++) o[2 + 4 * g + j] = in[16 + 32 * g + 4 * r + j] ^ 0x80;
            }
        }
}
