#ifndef RWKV_CTHREADS_H
#define RWKV_CTHREADS_H

#include <stdint.h>

/// Blocks while the 32-bit word at `address` equals `expected` (Linux futex; a short sleep elsewhere).
void rwkv_futex_wait(void *address, uint32_t expected);

/// Wakes every thread blocked in `rwkv_futex_wait` on `address`.
void rwkv_futex_wake_all(void *address);

/// A spin-loop hint (x86 `pause`).
static inline void rwkv_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
