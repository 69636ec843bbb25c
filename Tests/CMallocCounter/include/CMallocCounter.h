#ifndef RWKV_MALLOC_COUNTER_H
#define RWKV_MALLOC_COUNTER_H
/// Starts counting heap allocations made by any thread of this process.
void rwkv_malloc_counter_start(void);
/// Stops counting and returns the number of allocations since the last start.
long rwkv_malloc_counter_stop(void);
#endif
