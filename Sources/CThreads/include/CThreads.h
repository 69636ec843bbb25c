#ifndef RWKV_CTHREADS_H
#define RWKV_CTHREADS_H

#include <stdint.h>

/// Body run by every member of a team: `context` is the caller's, `ith` in [0, nth).
typedef void (*rwkv_team_body)(void *context, int ith, int nth);

/// Runs `body` on `nth` threads inside one OpenMP parallel region (the calling thread is ith 0).
/// Returns the number of threads OpenMP actually gave.
int rwkv_omp_run(int nth, rwkv_team_body body, void *context);

/// An OpenMP barrier for the team of the enclosing `rwkv_omp_run`.
void rwkv_omp_barrier(void);

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
