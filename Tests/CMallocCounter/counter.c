// Interposes the heap entry points of glibc for the test binary: counts calls while enabled, and keeps the
// live and peak heap bytes of each tracked thread (so a test can bound the memory a parser takes).
#include "CMallocCounter.h"

#include <stdatomic.h>
#include <stddef.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define RWKV_UNDER_SANITIZER 1
#endif
#endif

// Under a sanitizer, whose runtime owns malloc (and calls it while it starts, before our functions could
// work), nothing is interposed: the counters report themselves unavailable.
#if defined(__GLIBC__) && !defined(RWKV_UNDER_SANITIZER)
#include <malloc.h>

int rwkv_malloc_counter_available(void) { return 1; }

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static atomic_int counting;
static atomic_long allocations;
static __thread int tracked, counted;
static __thread long live_bytes, peak_bytes, base_bytes;

static inline void *note(void *p) {
    if (counted && p && atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    if (tracked && p) {
        live_bytes += (long)malloc_usable_size(p);
        if (live_bytes > peak_bytes) peak_bytes = live_bytes;
    }
    return p;
}

static inline void forget(void *p) {
    if (tracked && p) live_bytes -= (long)malloc_usable_size(p);
}

void rwkv_malloc_counter_track_current_thread(int on) { tracked = on; }
void rwkv_malloc_counter_count_current_thread(int on) { counted = on; }

void *malloc(size_t size) { return note(__libc_malloc(size)); }
void *calloc(size_t n, size_t size) { return note(__libc_calloc(n, size)); }
void *realloc(void *p, size_t size) {
    forget(p);
    void *q = __libc_realloc(p, size);
    if (!q && size) {  // the old block is still there
        if (tracked && p) live_bytes += (long)malloc_usable_size(p);
        return q;
    }
    return note(q);
}
void *memalign(size_t alignment, size_t size) { return note(__libc_memalign(alignment, size)); }
void *aligned_alloc(size_t alignment, size_t size) { return note(__libc_memalign(alignment, size)); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    void *p = note(__libc_memalign(alignment, size));
    if (!p) return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void free(void *p) {
    forget(p);
    __libc_free(p);
}

void rwkv_malloc_counter_start(void) {
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
}

long rwkv_malloc_counter_stop(void) {
    atomic_store(&counting, 0);
    return atomic_load(&allocations);
}

void rwkv_malloc_counter_reset_peak(void) { base_bytes = peak_bytes = live_bytes; }
long rwkv_malloc_counter_peak_bytes(void) { return peak_bytes - base_bytes; }
#else
int rwkv_malloc_counter_available(void) { return 0; }
void rwkv_malloc_counter_track_current_thread(int on) { (void)on; }
void rwkv_malloc_counter_count_current_thread(int on) { (void)on; }
void rwkv_malloc_counter_start(void) {}
long rwkv_malloc_counter_stop(void) { return -1; }
void rwkv_malloc_counter_reset_peak(void) {}
long rwkv_malloc_counter_peak_bytes(void) { return -1; }
#endif
