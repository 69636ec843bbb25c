// Interposes the heap entry points of glibc for the test binary and counts calls while enabled.
#include "CMallocCounter.h"

#include <stdatomic.h>
#include <stddef.h>

#ifdef __GLIBC__
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_int counting;
static atomic_long allocations;
static __thread int tracked;

static inline void note(void) {
    if (tracked && atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
}

void rwkv_malloc_counter_track_current_thread(int on) { tracked = on; }

void *malloc(size_t size) { note(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { note(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { note(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { note(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { note(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    note();
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}

void rwkv_malloc_counter_start(void) {
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
}

long rwkv_malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}
#else
void rwkv_malloc_counter_track_current_thread(int on) { (void)on; }
void rwkv_malloc_counter_start(void) {}
long rwkv_malloc_counter_stop(void) { return -1; }
#endif
