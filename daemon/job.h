/* job.h — one request's life inside rlaifvd, and the fixed pool of job slots.
 * Owns: the slot array (max_queue + workers slots, allocated at start-up), each slot's
 * envelope/body messages and its decoded request (whose candidate arrays are reused).
 * The frontend thread allocates and frees slots; a worker only reads the request and
 * writes reply/outcome while it holds the slot (frontend.c invariant 3). */
#ifndef RLVD_JOB_H
#define RLVD_JOB_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "rlaifv_proto.h"

#define RLVD_MAX_ENVELOPE 8 /* routing frames per request (identity + REQ delimiter + proxy hops); more cannot be routed back */

typedef struct rlvd_job {
    int slot;                       /* index in the pool */
    zmq_msg_t env[RLVD_MAX_ENVELOPE];
    int n_env;
    zmq_msg_t body;                 /* request body; req points into it */
    rlv_proto_request req;              /* decoded by the frontend */
    double t_recv_ms;               /* monotonic ms at receipt */
    double deadline_ms;             /* monotonic ms; 0 = none */
    size_t held_bytes;              /* body bytes counted in the frontend's held_bytes; 0 = none */
    int src_fd;                     /* the tcp connection it came on (ZMQ_SRCFD), -1 unknown */
    uint64_t epoch;                 /* the frontend's monitor drains before its receipt (frontend.c (5)) */
    int waiting;                    /* its reply waits in `out` for room in the peer's pipe */
    zmq_msg_t out;                  /* that reply (valid while waiting) */
    double t_wait_ms;               /* monotonic ms when it started waiting */
    /* written by the worker: */
    uint8_t *reply;                 /* malloc-ed msgpack body (zmq frees it after sending) */
    size_t reply_len;
    const char *outcome;            /* "ok" or a proto code name (static string) */
    char message[256];              /* error message for the log, "" when ok */
    double compute_ms;
    double stage_ms[3];             /* image, prefix, candidates (rlv_result) of a job answered ok */
    int tokens;                     /* candidate tokens scored (ok jobs) */
    /* the frontend's: */
    int http;                       /* it came from the HTTP front end (daemon/http.c), not a ZeroMQ peer */
    double t_dispatch_ms;           /* monotonic ms when a worker took it; 0 = never */
} rlvd_job;

typedef struct rlvd_pool {
    rlvd_job *jobs;                 /* [n] */
    int *free_list;                 /* stack of free slot indices */
    int n, n_free;
} rlvd_pool;

/* n free slots; RLV_OK or RLV_ENOMEM (err says how many slots). */
int job_pool_init(rlvd_pool *p, int n, rlv_err *err);
rlvd_job *job_alloc(rlvd_pool *p);   /* NULL when every slot is in use */
void job_release(rlvd_pool *p, rlvd_job *j); /* closes its messages (a waiting reply too), frees its reply */
void job_pool_free(rlvd_pool *p);

#endif
