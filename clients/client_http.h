/* client_http.h — the HTTP side of the client library: an http:// or https:// endpoint (rlaifvd's
 * HTTP front end, docs/http.md, or a load balancer such as nginx in front of several daemons,
 * docs/scaling.md) spoken with libcurl. Internal to rlaifv_client.c; callers see rlv_client only.
 * Owns: one curl easy handle (its keep-alive connection), the reply buffer, the API key header.
 * Not thread-safe: one per rlv_client. */
#ifndef RLV_CLIENT_HTTP_H
#define RLV_CLIENT_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "rlaifv_client.h"

typedef struct client_http client_http;

/* base_url: "http://host:port" (a trailing '/' is allowed). api_key_file: NULL, or a file whose
 * first line is sent as "Authorization: Bearer KEY". 0, or -1 with err (a local error). */
int client_http_open(client_http **out, const char *base_url, const char *api_key_file, int timeout_ms, int retries,
                     rlv_client_error *err);
void client_http_close(client_http **h); /* NULL-safe; *h becomes NULL */

/* POST /v1/score with the job as JSON. Returns as rlv_client_score: 0 with *out (the score reply as
 * JSON, as the ZeroMQ path gives it; a new reference), 1 with the daemon's {"error": {code,
 * message}} in e, -1 for a local failure, a timeout after the retries, or a reply that is not the
 * daemon's (a proxy's 502 page: e is local RLV_PROTO_E_INTERNAL, the message has the status). */
int client_http_score(client_http *h, const rlv_client_job *j, json_t **out, rlv_client_error *e);
/* e = a local failure {code, formatted message}: RLV_PROTO_E_TIMEOUT (no reply in time) or
 * RLV_PROTO_E_INTERNAL. e may be NULL. Returns -1, the client's return value for it. Both
 * transports use it. */
int client_set_error(rlv_client_error *e, rlv_proto_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* e = the daemon's error object er ({"code": str, "message": str}): a code this library does not
 * know (or none) becomes RLV_PROTO_E_INTERNAL, what a client does with a code newer than itself
 * (docs/protocol.md); e->name keeps the name sent. Both transports use it. */
void client_daemon_error(rlv_client_error *e, const json_t *er);

/* The answer of one request as the client takes it (exposed for fuzz_client_reply): body (NUL-
 * terminated, any bytes) with HTTP status; pick: NULL to return the whole object, or the name of an
 * array whose first object is returned ("data" of /v1/models). 0 with *out (a new reference) for a
 * 200 JSON object, 1 with e for the daemon's {"error": {"code": str, ...}}, -1 with e (local
 * RLV_PROTO_E_INTERNAL, the status and the body's first 120 bytes, control characters blanked) for
 * anything else. */
int client_http_parse_reply(const char *where, const char *body, long status, const char *pick, json_t **out,
                            rlv_client_error *e);

/* ping: GET /health; info: GET /v1/models (the model's entry: reward_kinds, limits, ...); stats is
 * refused (GET /metrics is Prometheus text, docs/http.md). Returns as client_http_score. */
int client_http_call(client_http *h, const char *op, json_t **out, rlv_client_error *e);

#endif
