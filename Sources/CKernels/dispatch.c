// Picks the kernel tables: which ISA levels this CPU and OS support (cpuid, xgetbv), and the table of each.
#include "CKernels.h"

#include <cblas.h>

extern const rwkv_kernels rwkv_kernels_scalar;
#if defined(__x86_64__)
extern const rwkv_kernels rwkv_kernels_avx2, rwkv_kernels_avx512, rwkv_kernels_avx512vnni;

#include <cpuid.h>

/// The OS-enabled register state (XCR0).
static uint64_t xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

#define HAS(reg, bit) (((reg) >> (bit)) & 1u)

rwkv_isa rwkv_isa_detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return RWKV_ISA_SCALAR;
    // What arch=haswell lets the compiler use, with the OS saving XMM and YMM state.
    const int base = HAS(c, 12) /* FMA */ && HAS(c, 19) /* SSE4.1 */ && HAS(c, 20) /* SSE4.2 */ && HAS(c, 22) /* MOVBE */
        && HAS(c, 23) /* POPCNT */ && HAS(c, 27) /* OSXSAVE */ && HAS(c, 28) /* AVX */ && HAS(c, 29) /* F16C */;
    if (!base || (xcr0() & 0x6) != 0x6 || __get_cpuid_max(0, 0) < 7) return RWKV_ISA_SCALAR;
    unsigned ea, eb, ec, ed;
    if (!__get_cpuid(0x80000001, &ea, &eb, &ec, &ed) || !HAS(ec, 5) /* LZCNT */) return RWKV_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(HAS(b, 3) /* BMI1 */ && HAS(b, 5) /* AVX2 */ && HAS(b, 8) /* BMI2 */)) return RWKV_ISA_SCALAR;
    // AVX-512 F, DQ, CD, BW, VL (skylake-avx512), with the OS saving opmask and ZMM state.
    const int avx512 = HAS(b, 16) && HAS(b, 17) && HAS(b, 28) && HAS(b, 30) && HAS(b, 31) && (xcr0() & 0xE0) == 0xE0;
    if (!avx512) return RWKV_ISA_AVX2;
    return HAS(c, 11) /* AVX512_VNNI */ ? RWKV_ISA_AVX512VNNI : RWKV_ISA_AVX512;
}

const rwkv_kernels *rwkv_kernels_for(rwkv_isa level) {
    switch (level) {
    case RWKV_ISA_SCALAR: return &rwkv_kernels_scalar;
    case RWKV_ISA_AVX2: return &rwkv_kernels_avx2;
    case RWKV_ISA_AVX512: return &rwkv_kernels_avx512;
    case RWKV_ISA_AVX512VNNI: return &rwkv_kernels_avx512vnni;
    default: return 0;
    }
}
#else
rwkv_isa rwkv_isa_detect(void) { return RWKV_ISA_SCALAR; }

const rwkv_kernels *rwkv_kernels_for(rwkv_isa level) { return level == RWKV_ISA_SCALAR ? &rwkv_kernels_scalar : 0; }
#endif

void rwkv_blas_single_threaded(void) { openblas_set_num_threads(1); }
