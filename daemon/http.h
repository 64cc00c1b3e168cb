/* http.h — rlaifvd's HTTP/JSON front end (docs/http.md): POST /v1/rerank, POST /v1/score,
 * GET /health, /ready, /v1/models, /metrics, served by libmicrohttpd next to the ZeroMQ ROUTER.
 * Owns: one thread that runs the libmicrohttpd daemon (external epoll mode: no thread of its own)
 * and one DEALER socket connected to the frontend's RLVD_HTTP_EP, the table of in-flight HTTP
 * requests (http-max-connections slots, allocated at start), the API key, the mapping of error
 * codes to HTTP statuses. It queues, limits and scores nothing itself: every job goes to the
 * frontend as a msgpack request, exactly as a ZeroMQ client's would (frontend.c invariant 6). */
#ifndef RLVD_HTTP_H
#define RLVD_HTTP_H

#include "rlaifv.h" /* rlv_err */
#include "settings.h"

typedef struct rlvd_http rlvd_http;

/* Binds cfg->http_bind and starts the thread (it answers /health, and 503 `loading` until the
 * frontend says ready: rlvd_phase_now). zctx is the context the frontend will use. *out is NULL
 * when http-bind is unset. Returns RLV_OK, or an RLV_E* code with err saying why (bad address, port
 * in use, no API key off loopback, unreadable key or TLS files); the caller logs it. */
int http_start(rlvd_http **out, const rlvd_settings *cfg, void *zctx, rlv_err *err);

/* For the fuzz target (tests/fuzz/fuzz_http.c): the same listener without a listening socket
 * (http-bind is not read); connections come only from http_add_connection, which hands one
 * connected socket (a socketpair end) to it as if accepted. The listener owns the fd from then on
 * (also on failure). It returns as http_start; http_add_connection 0 or -1, from any thread. */
int http_start_unbound(rlvd_http **out, const rlvd_settings *cfg, void *zctx, rlv_err *err);
int http_add_connection(rlvd_http *h, int fd);

/* After frontend_run returned: answers every request still waiting with 503 shutting_down, lets
 * the responses go out (at most 1 s), closes the listener and the socket, joins the thread, frees
 * *h and sets it NULL. NULL is harmless. Call before terminating zctx. */
void http_stop(rlvd_http **h);

#endif
