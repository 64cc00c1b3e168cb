/* pool.c — the persistent thread pool of pool.h.
 *
 * Design notes.
 * (1) A task is published by bumping `gen` after storing fn/arg; each thread runs it once per
 *     generation and then increments `done`. The caller runs tid 0 itself, then waits for
 *     done == n - 1. All counters are seq_cst atomics: the stores of fn/arg happen before the
 *     bump, and everything a thread wrote happens before its `done` increment.
 * (2) Threads spin briefly on `gen` (a job's stages follow each other within microseconds),
 *     then sleep on the condition variable; the caller broadcasts only when someone sleeps. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#define POOL_PAUSE() __builtin_ia32_pause()
#else
#define POOL_PAUSE() ((void)0)
#endif

/* Spins (pause instructions) before a thread sleeps: ~50-100 us on current x86. */
#define POOL_SPIN 20000

typedef struct pool_thread {
    rlv_pool *p;
    int tid;
    pthread_t th;
} pool_thread;

struct rlv_pool {
    int n;
    pool_fn fn;
    void *arg;
    atomic_uint gen;       /* bumped once per pool_run */
    atomic_int done;       /* threads 1..n-1 finished with the current generation */
    atomic_int sleepers;   /* threads waiting on cv */
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pool_thread *th;       /* [n]; th[0] unused */
    int started;           /* threads actually created */
};

static void *pool_main(void *a) {
    pool_thread *t = a;
    rlv_pool *p = t->p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen && !atomic_load(&p->stop)) {
            if (++spins < POOL_SPIN) {
                POOL_PAUSE();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = g;
        p->fn(p->arg, t->tid, p->n);
        atomic_fetch_add(&p->done, 1);
    }
}

int pool_init(rlv_pool **out, int n_threads, rlv_err *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024) return rlv_errf(err, RLV_EINVAL, "pool: %d threads", n_threads);
    rlv_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->th = calloc((size_t)n_threads, sizeof *p->th))) {
        free(p);
        return rlv_errf(err, RLV_ENOMEM, "pool of %d threads", n_threads);
    }
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (int i = 1; i < n_threads; i++) {
        p->th[i] = (pool_thread){p, i, 0};
        if (pthread_create(&p->th[i].th, NULL, pool_main, &p->th[i]) != 0) {
            pool_free(&p);
            return rlv_errf(err, RLV_EIO, "pool: cannot create thread %d of %d", i, n_threads);
        }
        p->started = i;
    }
    *out = p;
    return RLV_OK;
}

void pool_free(rlv_pool **pp) {
    if (!pp || !*pp) return;
    rlv_pool *p = *pp;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++) pthread_join(p->th[i].th, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->th);
    free(p);
    *pp = NULL;
}

int pool_threads(const rlv_pool *p) { return p ? p->n : 1; }

void pool_run(rlv_pool *p, pool_fn fn, void *arg) {
    if (!p || p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->done, 0);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers)) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    /* a descheduled thread (more threads than cores) gets the core back after a while */
    for (int spins = 0; atomic_load(&p->done) < p->n - 1;)
        if (++spins < POOL_SPIN) POOL_PAUSE();
        else sched_yield();
}

typedef struct pool_for_task {
    pool_range_fn fn;
    void *arg;
    int n, align;
} pool_for_task;

static void pool_for_run(void *arg, int tid, int nth) {
    const pool_for_task *t = arg;
    int lo, hi;
    pool_split(t->n, tid, nth, t->align, &lo, &hi);
    if (lo < hi) t->fn(t->arg, lo, hi, tid);
}

void pool_for(rlv_pool *p, int n, int align, pool_range_fn fn, void *arg) {
    if (n <= 0) return;
    if (align < 1) align = 1;
    if (!p || p->n == 1 || n <= align) {
        fn(arg, 0, n, 0);
        return;
    }
    pool_for_task t = {fn, arg, n, align};
    pool_run(p, pool_for_run, &t);
}
