/* worker.h — rlaifvd's worker threads: each owns one rlv_worker (scratch, KV cache) and one
 * reply builder, takes jobs from the frontend over inproc, scores them and hands them back.
 * Owns: its thread and sockets. Never touches the ROUTER socket (frontend.c invariant 1). */
#ifndef RLVD_WORKER_H
#define RLVD_WORKER_H

#include <pthread.h>

#include "rlaifv.h"

#define RLVD_BACKEND_EP "inproc://rlvd-workers"

typedef struct rlvd_worker {
    int id;
    pthread_t thread;
    void *zctx;
    rlv_engine *engine;
    int max_candidates;
    int started;
} rlvd_worker;

/* Starts the thread; it connects to RLVD_BACKEND_EP (which must be bound) and announces itself
 * with an empty frame. Returns 0 or -1. */
int worker_start(rlvd_worker *w);
/* Joins the thread (the frontend has sent it the empty stop frame). */
void worker_join(rlvd_worker *w);

#endif
