#include "CThreads.h"

#include <limits.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

int rwkv_omp_run(int nth, rwkv_team_body body, void *context) {
    int given = 1;
#pragma omp parallel num_threads(nth)
    {
        int ith = omp_get_thread_num();
        int n = omp_get_num_threads();
        if (ith == 0) given = n;
        body(context, ith, n);
    }
    return given;
}

void rwkv_omp_barrier(void) {
#pragma omp barrier
}

void rwkv_futex_wait(void *address, uint32_t expected) {
#ifdef __linux__
    syscall(SYS_futex, address, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
    (void)address; (void)expected;
    struct timespec pause = {0, 50000};
    nanosleep(&pause, NULL);
#endif
}

void rwkv_futex_wake_all(void *address) {
#ifdef __linux__
    syscall(SYS_futex, address, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)address;
#endif
}
