/* rlaifv_client.h — the C client library of rlaifvd (docs/protocol.md).
 * Owns: one DEALER socket per endpoint (and its ZeroMQ context), request ids, timeouts, retries
 * and, with several endpoints, which one each request goes to (docs/scaling.md).
 * Replies are returned as JSON text with the protocol's field names (id and ok removed), the
 * same text `rlaifv score` prints offline, so tools need one code path for both.
 *
 *   rlv_client_opts o = {.endpoint = "tcp://127.0.0.1:5555", .timeout_ms = 30000};
 *   rlv_client *c; char err[256];
 *   if (rlv_client_connect(&c, &o, err, sizeof err)) { ... }
 *   char *json; rlv_client_error e;
 *   int rc = rlv_client_score(c, &job, &json, &e);   // 0: json owned by you, free()
 *   rlv_client_destroy(&c);                            // c becomes NULL
 *
 * Not thread-safe: one client per thread. Clients of several threads that share an
 * rlv_client_pool send each request to the endpoint with the fewest requests of the pool in
 * flight (`rlaifv eval --server a,b --concurrency 8`). */
#ifndef RLAIFV_CLIENT_H
#define RLAIFV_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rlaifv.h" /* RLV_API */

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

/* The number of endpoints in a comma-separated list (1 for one), or -1 with the reason in err[cap]:
 * an empty one, one without "://", more than RLV_CLIENT_MAX_ENDPOINTS. */
RLV_API int rlv_client_count_endpoints(const char *list, char *err, size_t cap);

/* In-flight counts of the endpoints of one list, for clients in several threads (thread-safe).
 * Returns 0, or -1 with err as rlv_client_count_endpoints. *out is owned by the caller. */
RLV_API int rlv_client_pool_new(rlv_client_pool **out, const char *endpoints, char *err, size_t cap);
/* Frees the pool (after every client using it was destroyed); *p becomes NULL. NULL-safe. */
RLV_API void rlv_client_pool_free(rlv_client_pool **p);

/* Returns 0, or -1 with a message in err[cap]. *out is owned by the caller. */
RLV_API int rlv_client_connect(rlv_client **out, const rlv_client_opts *o, char *err, size_t cap);
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

typedef struct rlv_client_error {
    char code[32];                /* the daemon's stable code ("busy", "too_long", ...) or
                                     "client_timeout" / "client_error" for local failures */
    char message[512];
} rlv_client_error;

/* Each call sends one request and waits for ITS reply (matched by id; stale replies of timed-out
 * requests are dropped). Returns 0 with *json (malloc-ed, caller frees) on ok: true; 1 when the
 * daemon answered an error (e filled from the reply); -1 for a local failure or a timeout after
 * all retries (e->code "client_timeout" or "client_error").
 * With several endpoints each try goes to the connected endpoint with the fewest requests in
 * flight (the pool's), among those this request has not failed on yet; a try fails on an
 * endpoint that answers `busy` or `shutting_down`, gives no reply within timeout_ms, or drops
 * its connection (the request is then resent at once, under a new id, from a fresh socket: a
 * late reply of the abandoned try is never read). At most n + retries tries; when every endpoint
 * answered `busy` (or `shutting_down`) that answer is returned (1). One endpoint: exactly the
 * single-daemon behaviour (busy returned, retries after a timeout). Scoring is idempotent, so
 * a resent request is safe (docs/protocol.md). */
RLV_API int rlv_client_score(rlv_client *c, const rlv_client_job *job, char **json, rlv_client_error *e);
/* op: "ping", "info" or "stats". */
RLV_API int rlv_client_call(rlv_client *c, const char *op, char **json, rlv_client_error *e);

#ifdef __cplusplus
}
#endif
#endif
