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

/* Starts the thread; it opens its rlv_worker, connects to RLVD_BACKEND_EP (which must be bound)
 * and announces itself with a ready frame: its open status, an int32_t RLV_OK or RLV_E* (a
 * failed worker logs why, sends that and ends; the frontend then stops the daemon at start-up).
 * A job frame is a pointer (8 bytes), the stop frame empty. RLV_OK, or RLV_EIO when the thread
 * cannot be created (err says why). */
int worker_start(rlvd_worker *w, rlv_err *err);
/* Joins the thread (the frontend has sent it the empty stop frame). */
void worker_join(rlvd_worker *w);

#endif
