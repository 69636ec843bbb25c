// The scalar level: portable C for any CPU (SSE2 on x86-64, whatever the compiler's baseline is elsewhere).
#define RWKV_LEVEL 0
#define RWKV_TABLE rwkv_kernels_scalar
#include "kernels/all.h"
