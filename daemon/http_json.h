/* http_json.h — the HTTP API's JSON bodies (docs/http.md) turned into wire-protocol requests, and
 * wire replies turned into the HTTP API's JSON. Pure functions of bytes: no sockets, no
 * libmicrohttpd, no engine, so the fuzz target (tests/fuzz/fuzz_http_json.c) drives them alone.
 * Owns: the request shapes of POST /v1/rerank (Cohere / Jina / vLLM) and POST /v1/score (the
 * msgpack score request's fields as JSON), base64 and data: URLs for images, and the reply shapes
 * (rerank results, errors). The checks the daemon's protocol decoder makes anyway (limits, reward
 * names, UTF-8, candidate count) are left to it: every request is re-encoded as msgpack and decoded
 * by rlv_proto_decode_request like a ZeroMQ client's, so both transports get the same answers. */
#ifndef RLVD_HTTP_JSON_H
#define RLVD_HTTP_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "rlaifv_proto.h"

typedef enum { HTTP_JOB_RERANK, HTTP_JOB_SCORE } http_job_kind;

/* One decoded HTTP job. Initialise with `http_job j = {0};`, free with http_job_free. */
typedef struct http_job {
    http_job_kind kind;
    json_t *body;                 /* the parsed request; the strings of q point into it */
    rlv_proto_client_request q;       /* op score, id 0 (the caller sets it) */
    uint8_t *image;               /* decoded image bytes (q.image), owned; NULL = text only */
    const char **cands;           /* [n] q.candidates, owned array */
    size_t *lens;                 /* [n] q.candidate_lens, owned array */
    size_t top_n;                 /* rerank: results kept (n when absent) */
    int return_documents;         /* rerank: each result carries its document (default 1) */
    const char *model;            /* rerank: the request's `model` (into body) or NULL */
} http_job;

/* Parses body[0..len) as a `kind` request. Returns RLV_PROTO_OK, or RLV_PROTO_E_BAD_REQUEST (malformed
 * JSON, a wrong type, a missing or unknown field, bad base64 or data: URL), RLV_PROTO_E_BAD_IMAGE (an
 * empty image) or RLV_PROTO_E_INTERNAL (out of memory), with err->msg naming the field. */
rlv_proto_code http_json_decode(http_job *j, http_job_kind kind, const char *body, size_t len, rlv_proto_error *err);
void http_job_free(http_job *j);

/* base64 (standard or URL-safe alphabet, padding optional, no whitespace) or a data: URL
 * ("data:image/png;base64,...") into a malloc-ed buffer *out of *out_len bytes (caller frees).
 * Returns 0, or -1 with a message in msg[cap] naming the offset or the part of the URL. */
int http_json_image(const char *s, size_t n, uint8_t **out, size_t *out_len, char *msg, size_t cap);

/* Response bodies, malloc-ed NUL-terminated text (caller frees), NULL when out of memory.
 * reply is the daemon's reply as JSON (reply_to_json) with ok true. */
char *http_json_rerank_reply(const http_job *j, const json_t *reply, const char *model, uint64_t id);
char *http_json_score_reply(const json_t *reply);     /* exactly what `rlaifv score` prints */
char *http_json_models_reply(const json_t *info, const char *model);
char *http_json_error(const char *code, const char *message);

#endif
