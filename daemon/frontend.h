/* frontend.h — rlaifvd's frontend thread: owns the ROUTER socket, the job queue and the
 * worker pool; answers ping/info/stats itself. See the design notes in frontend.c. */
#ifndef RLVD_FRONTEND_H
#define RLVD_FRONTEND_H

#include <signal.h>

#include "rlaifv.h"
#include "settings.h"

/* Set from the SIGTERM/SIGINT handler; the frontend drains and returns when it sees it. */
extern volatile sig_atomic_t rlvd_stop;
/* Set from the SIGHUP / SIGUSR1 / SIGUSR2 handler (the signal number); the frontend logs what it
 * does with it (USR1: the stats line; HUP, USR2: nothing to do, said so) and clears it. */
extern volatile sig_atomic_t rlvd_signal;

/* Where the daemon is, for GET /ready (daemon/http.c reads it from its own thread). */
typedef enum { RLVD_LOADING, RLVD_READY, RLVD_DRAINING, RLVD_STOPPED } rlvd_phase;
extern _Atomic int rlvd_phase_now;

/* The ROUTER also binds this inproc endpoint when HTTP is on: the HTTP thread's DEALER (routing id
 * RLVD_HTTP_ID) sends its requests through it, so they share one queue, one set of limits, one
 * busy policy and the stats with ZeroMQ clients. */
#define RLVD_HTTP_EP "inproc://rlvd-http"
#define RLVD_HTTP_ID "rlvd-http"

/* Binds, starts cfg->workers workers on engine, serves until rlvd_stop, drains, joins. zctx is the
 * caller's ZeroMQ context (the HTTP thread shares it); the caller terminates it afterwards.
 * Returns RLV_OK on a clean stop, or an RLV_E* code with err saying why it could not start (a
 * bind, CURVE, a socket option, a worker that could not open its workspace: that one logged
 * by the worker too); the caller logs it. */
int frontend_run(const rlvd_settings *cfg, rlv_engine *engine, void *zctx, rlv_err *err);

#endif
