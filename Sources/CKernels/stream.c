// The streaming read behind `rwkv bench`'s read bandwidth: 256 bytes per step in ascending address order
// (on Zen 4, reading a step's cache lines in descending order — the order a compiler may pick for unrolled
// SIMD sums — measured 23 instead of 29 GB/s on one thread, so the order is pinned down here).
#include "CKernels.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

float rwkv_stream_sum(const float *x, int64_t count) {
    int64_t i = 0;
    float total = 0;
#if defined(__AVX2__)
    __m256 a[8];
    for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
    for (; i + 64 <= count; i += 64) {
        // An empty asm between the loads keeps them (and so the cache lines) in address order.
        a[0] = _mm256_add_ps(a[0], _mm256_loadu_ps(x + i));
        a[1] = _mm256_add_ps(a[1], _mm256_loadu_ps(x + i + 8));
        __asm__ volatile("" ::: "memory");
        a[2] = _mm256_add_ps(a[2], _mm256_loadu_ps(x + i + 16));
        a[3] = _mm256_add_ps(a[3], _mm256_loadu_ps(x + i + 24));
        __asm__ volatile("" ::: "memory");
        a[4] = _mm256_add_ps(a[4], _mm256_loadu_ps(x + i + 32));
        a[5] = _mm256_add_ps(a[5], _mm256_loadu_ps(x + i + 40));
        __asm__ volatile("" ::: "memory");
        a[6] = _mm256_add_ps(a[6], _mm256_loadu_ps(x + i + 48));
        a[7] = _mm256_add_ps(a[7], _mm256_loadu_ps(x + i + 56));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])),
                             _mm256_add_ps(_mm256_add_ps(a[4], a[5]), _mm256_add_ps(a[6], a[7])));
    float lanes[8];
    _mm256_storeu_ps(lanes, s);
    for (int j = 0; j < 8; j++) total += lanes[j];
#endif
    for (; i < count; i++) total += x[i];
    return total;
}
