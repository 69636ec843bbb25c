#include "CThreads.h"

#include <limits.h>
#include <time.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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
