/* pool.h — a persistent thread pool, one per scoring worker: every parallel stage of a job
 * (matrix products, attention, norms, activations) runs on the same threads, created once.
 * Owns: n - 1 threads (the caller is thread 0) and the hand-off between them. Knows nothing
 * of what runs on it.
 *
 * Use:  pool_init(&p, 4, &err);  pool_run(p, fn, arg);  ...  pool_free(&p);
 * pool_run calls fn(arg, tid, n) once on each of the n threads (tid 0 on the caller) and
 * returns when all have returned. A pool is driven by one thread at a time; fn must not call
 * pool_run on the same pool. A NULL pool runs fn(arg, 0, 1) on the caller. */
#ifndef RLV_POOL_H
#define RLV_POOL_H

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rlv_pool rlv_pool;
typedef void (*pool_fn)(void *arg, int tid, int nth);

/* n_threads >= 1 (1: no thread is created). RLV_EINVAL, RLV_ENOMEM, RLV_EIO (thread creation). */
int pool_init(rlv_pool **out, int n_threads, rlv_err *err);
/* Joins the threads; *p becomes NULL; NULL is a no-op. */
void pool_free(rlv_pool **p);
/* Threads of the pool (1 for NULL). */
int pool_threads(const rlv_pool *p);
void pool_run(rlv_pool *p, pool_fn fn, void *arg);

/* A range task: items [lo, hi) of a pool_for, on thread tid. */
typedef void (*pool_range_fn)(void *arg, int lo, int hi, int tid);
/* Runs fn over [0, n) on the pool: thread tid gets its pool_split share (chunks of `align`
 * items) and calls fn once if the share is not empty. With one chunk or one thread, fn(arg, 0,
 * n, 0) runs on the caller (no hand-off). For row-wise work whose result does not depend on
 * which thread computes a row. */
void pool_for(rlv_pool *p, int n, int align, pool_range_fn fn, void *arg);

/* Thread tid's share [*lo, *hi) of n items split over nth threads, in whole chunks of `align`
 * items (the last chunk may be short). */
static inline void pool_split(int n, int tid, int nth, int align, int *lo, int *hi) {
    int chunks = (n + align - 1) / align, per = chunks / nth, extra = chunks % nth;
    int c0 = tid * per + (tid < extra ? tid : extra), c1 = c0 + per + (tid < extra);
    *lo = c0 * align < n ? c0 * align : n;
    *hi = c1 * align < n ? c1 * align : n;
}

#ifdef __cplusplus
}
#endif
#endif
