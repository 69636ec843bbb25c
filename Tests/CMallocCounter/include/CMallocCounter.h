#ifndef RWKV_MALLOC_COUNTER_H
#define RWKV_MALLOC_COUNTER_H
/// 1 where the heap entry points are interposed (glibc, no sanitizer); 0 where the counters below do nothing.
int rwkv_malloc_counter_available(void);
/// Counts (or stops counting) the heap allocations of the calling thread between start and stop; other
/// threads (other tests running in parallel) are never counted.
void rwkv_malloc_counter_count_current_thread(int on);
/// Tracks (or stops tracking) the calling thread's live and peak heap bytes (a thread tracked for its peak is
/// not counted by start/stop: another test may be counting meanwhile).
void rwkv_malloc_counter_track_current_thread(int on);
/// Starts counting heap allocations made by counted threads.
void rwkv_malloc_counter_start(void);
/// Stops counting and returns the number of allocations since the last start.
long rwkv_malloc_counter_stop(void);
/// Starts measuring the calling (tracked) thread's peak heap use from its present live bytes.
void rwkv_malloc_counter_reset_peak(void);
/// The most heap bytes the calling thread held above that start since the reset (-1 where unavailable).
long rwkv_malloc_counter_peak_bytes(void);
#endif
