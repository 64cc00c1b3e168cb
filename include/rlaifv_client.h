/* rlaifv_client.h — the C client library of rlaifvd (docs/protocol.md).
 * Owns: one DEALER socket per endpoint (and its ZeroMQ context), request ids, timeouts, retries
 * and, with several endpoints, which one each request goes to (docs/scaling.md).
 * A score reply comes back typed: the wire's result structure (rlv_proto_score_result of
 * rlaifv_proto.h, the one the daemon encodes), in one allocation the caller frees with
 * rlv_client_result_free. Errors come back as the wire's code and message (rlv_client_error).
 *
 *   rlv_client_opts o = {.endpoint = "tcp://127.0.0.1:5555", .timeout_ms = 30000};
 *   rlv_client *c; rlv_client_error e;
 *   if (rlv_client_connect(&c, &o, &e)) { ... }       // e.message says why
 *   rlv_proto_score_result *res;
 *   if (rlv_client_score(c, &job, &res, &e) == 0) {    // res->ranking[0] is the best candidate
 *       ...; rlv_client_result_free(&res);
 *   } else if (e.code == RLV_PROTO_E_BUSY) { ... }      // e.message says why
 *   rlv_client_destroy(&c);                             // c becomes NULL
 *
 * Not thread-safe: one client per thread. Clients of several threads that share an
 * rlv_client_pool send each request to the endpoint with the fewest requests of the pool in
 * flight (`rlaifv eval --server a,b --concurrency 8`). */
#ifndef RLAIFV_CLIENT_H
#define RLAIFV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rlaifv.h" /* RLV_API */
#include "rlaifv_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rlv_client rlv_client;
typedef struct rlv_client_pool rlv_client_pool;

#define RLV_CLIENT_MAX_ENDPOINTS 16

typedef struct rlv_client_opts {
    const char *endpoint;         /* e.g. "tcp://127.0.0.1:5555", or several daemons serving the
                                     same models: "tcp://a:5555,tcp://b:5555" (at most
                                     RLV_CLIENT_MAX_ENDPOINTS; each without "://" fails with a
                                     hint to add tcp://), or one "http://host:port" (https://):
                                     rlaifvd's HTTP front end or a load balancer in front of several
                                     (docs/http.md: POST /v1/score; ping is GET /health, info GET
                                     /v1/models' model, stats is refused; retries after a timeout
                                     or a failed connection; no CURVE) */
    int timeout_ms;               /* per try; <= 0: 30000 */
    int retries;                  /* extra tries after a timeout (socket reopened each time); default 0.
                                     With n endpoints a request gets n - 1 more tries besides
                                     (see rlv_client_score) */
    const char *server_key_file;  /* CURVE: the daemons' .pub (NULL: plain); one for all endpoints */
    const char *client_key_file;  /* CURVE: this client's .key (from `rlaifv keygen`) */
    rlv_client_pool *pool;        /* in-flight counts shared with other clients of the same endpoint
                                     list (NULL: this client counts alone); must outlive the client */
    const char *api_key_file;     /* HTTP: a file whose first line is the API key (NULL: none) */
} rlv_client_opts;

/* A failed call. The return value says whose failure it is: 1, the daemon answered an error (code
 * is its code; a code this library does not know, newer or one of the HTTP front end's own such as
 * `unauthorized` or `loading`, reads as RLV_PROTO_E_INTERNAL, as docs/protocol.md asks of
 * clients, and name keeps it); -1, a failure on this side (local is 1): code is
 * RLV_PROTO_E_TIMEOUT when no reply came in time after every try, RLV_PROTO_E_INTERNAL for
 * anything else (a bad endpoint list, unreadable key files, a send that failed, out of memory, a
 * reply that is not a daemon's). Calls that only fail locally (connect, pool_new) return 0 / -1. */
typedef struct rlv_client_error {
    rlv_proto_code code;
    int local;
    char name[32];                /* what the tools print: the code as the daemon named it ("busy",
                                     "unauthorized"), or "client_timeout" / "client_error" for a
                                     local failure; "internal" for a name empty or longer than this */
    char message[RLV_PROTO_ERR_MSG_MAX];
} rlv_client_error;


/* The number of endpoints in a comma-separated list (1 for one), or -1 with the reason in err (a
 * local error): an empty one, one without "://", more than RLV_CLIENT_MAX_ENDPOINTS. */
RLV_API int rlv_client_count_endpoints(const char *list, rlv_client_error *err);

/* In-flight counts of the endpoints of one list, for clients in several threads (thread-safe).
 * Returns 0, or -1 with err as rlv_client_count_endpoints. *out is owned by the caller. */
RLV_API int rlv_client_pool_new(rlv_client_pool **out, const char *endpoints, rlv_client_error *err);
/* Frees the pool (after every client using it was destroyed); *p becomes NULL. NULL-safe. */
RLV_API void rlv_client_pool_free(rlv_client_pool **p);

/* Returns 0, or -1 with err (a local error: a bad endpoint list, unreadable key files, ...).
 * *out is owned by the caller. */
RLV_API int rlv_client_connect(rlv_client **out, const rlv_client_opts *o, rlv_client_error *err);
/* Closes the socket and frees the client; *c becomes NULL. NULL-safe. */
RLV_API void rlv_client_destroy(rlv_client **c);

typedef struct rlv_client_job {
    const uint8_t *image;         /* encoded image bytes */
    size_t image_len;
    const char *prompt;           /* NUL-terminated UTF-8 */
    const char *const *candidates;/* NUL-terminated UTF-8 */
    int n_candidates;
    const char *reward;           /* "rlaifv", "dpo", "logp_mean", "logp_sum" or NULL (daemon's default) */
    double beta;                  /* <= 0: default 0.1 */
    int token_logps;
    int64_t deadline_ms;          /* < 0: none */
} rlv_client_job;


/* Each call sends one request and waits for ITS reply (matched by id; stale replies of timed-out
 * requests are dropped). Returns 0 with *res on ok: true (the reply decoded: every pointer in it
 * points into the same allocation; free it with rlv_client_result_free); 1 when the daemon
 * answered an error; -1 for a local failure or a timeout after all retries (e says which, above;
 * *res is NULL on both).
 * With several endpoints each try goes to the connected endpoint with the fewest requests in
 * flight (the pool's), among those this request has not failed on yet; a try fails on an
 * endpoint that answers `busy` or `shutting_down`, gives no reply within timeout_ms, or drops
 * its connection (the request is then resent at once, under a new id, from a fresh socket: a
 * late reply of the abandoned try is never read). At most n + retries tries; when every endpoint
 * answered `busy` (or `shutting_down`) that answer is returned (1). One endpoint: exactly the
 * single-daemon behaviour (busy returned, retries after a timeout). Scoring is idempotent, so
 * a resent request is safe (docs/protocol.md). */
RLV_API int rlv_client_score(rlv_client *c, const rlv_client_job *job, rlv_proto_score_result **res, rlv_client_error *e);
/* Frees a result of rlv_client_score; *res becomes NULL. NULL-safe. */
RLV_API void rlv_client_result_free(rlv_proto_score_result **res);
/* op: "ping", "info" or "stats". Their replies are open-ended maps (docs/protocol.md): 0 with
 * *json, the reply's fields (id and ok removed) as JSON text, malloc-ed (caller frees); 1 and -1
 * as rlv_client_score. */
RLV_API int rlv_client_call(rlv_client *c, const char *op, char **json, rlv_client_error *e);

#ifdef __cplusplus
}
#endif
#endif
