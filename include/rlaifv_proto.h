/* rlaifv_proto.h — the rlaifv wire protocol, version 1: msgpack requests in, msgpack replies out.
 * Owns: decoding and validation of request bodies against configurable limits
 * (proto/request.c), encoding of replies (proto/reply.c), and the table of stable error
 * codes with the scrubbing of error messages (proto/errors.c). docs/protocol.md is the
 * contract this header implements.
 * Knows nothing of core/ (the model), ZeroMQ (framing) or the daemon's queue: it turns
 * bytes into a rlv_proto_request and results into bytes. This header is the manual. */
#ifndef RLV_PROTO_H
#define RLV_PROTO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rlaifv.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RLV_PROTO_VERSION 2   /* the highest version this code speaks (it speaks 1 .. RLV_PROTO_VERSION);
                           * requests carry theirs as `v`. v2 = v1 + the score reply's timing_ms.cached */
#define RLV_PROTO_MAX_DEPTH 16 /* nesting of a request body (the top map is level 1); keeps echoed ids
                            * decodable by msgpack-c, whose own C unpacker stops at 32 */
#define RLV_PROTO_ERR_MSG_MAX 512 /* bytes of an error message on the wire, NUL included */

/* ------------------------------------------------------------------ error codes (errors.c) */

/* X-macro: enum, stable wire name, meaning. Names never change once released; new codes
 * are appended (clients treat an unknown code like `internal`). */
#define RLV_PROTO_CODE_TABLE(X)                                                                         \
    X(RLV_PROTO_OK,                    "ok",                  "success (never sent as an error)")     \
    X(RLV_PROTO_E_BAD_REQUEST,         "bad_request",         "malformed msgpack, wrong type, missing, unknown or duplicate field, invalid UTF-8, bad value") \
    X(RLV_PROTO_E_UNSUPPORTED_VERSION, "unsupported_version", "the request's v is newer than this daemon speaks") \
    X(RLV_PROTO_E_UNSUPPORTED_REWARD,  "unsupported_reward",  "the reward kind needs a model this daemon has not loaded") \
    X(RLV_PROTO_E_BAD_IMAGE,           "bad_image",           "the image bytes are empty, corrupt or truncated") \
    X(RLV_PROTO_E_UNSUPPORTED_IMAGE,   "unsupported_image",   "a valid image in a format or layout the decoder does not support") \
    X(RLV_PROTO_E_TOO_LARGE,           "too_large",           "a size limit was exceeded; the message names the limit") \
    X(RLV_PROTO_E_TOO_LONG,            "too_long",            "a token limit was exceeded; the message names the candidate") \
    X(RLV_PROTO_E_BUSY,                "busy",                "the job queue is full; retry later") \
    X(RLV_PROTO_E_TIMEOUT,             "timeout",             "the deadline passed before the job was computed") \
    X(RLV_PROTO_E_SHUTTING_DOWN,       "shutting_down",       "the daemon is stopping and takes no new work") \
    X(RLV_PROTO_E_INTERNAL,            "internal",            "a failure inside the daemon; not the client's fault")

typedef enum rlv_proto_code {
#define RLV_PROTO_CODE_ENUM(e, name, meaning) e,
    RLV_PROTO_CODE_TABLE(RLV_PROTO_CODE_ENUM)
#undef RLV_PROTO_CODE_ENUM
    RLV_PROTO_CODE_COUNT
} rlv_proto_code;

/* Stable wire name of a code ("too_large", ...); "internal" for values outside the table. */
RLV_API const char *rlv_proto_code_name(rlv_proto_code code);
/* One-line meaning of a code (for docs, --help, info); "" outside the table. */
RLV_API const char *rlv_proto_code_meaning(rlv_proto_code code);
/* Code of a wire name (len bytes, need not be NUL-terminated); RLV_PROTO_E_INTERNAL if unknown,
 * which is how a client should treat codes newer than itself. */
RLV_API rlv_proto_code rlv_proto_code_parse(const char *name, size_t len);

/* A decode/encode failure: a code and a message that names the culprit (field, index, limit).
 * msg is always NUL-terminated, valid UTF-8 and free of control characters. */
typedef struct rlv_proto_error {
    rlv_proto_code code;
    char msg[RLV_PROTO_ERR_MSG_MAX];
} rlv_proto_error;

/* Sets err (if non-NULL) to code + formatted message (scrubbed, bounded) and returns code. */
RLV_API rlv_proto_code rlv_proto_errorf(rlv_proto_error *err, rlv_proto_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Writes src[0..len) into dst[cap] as a message fit for the wire and for logs: control
 * characters (C0, DEL, C1) become spaces, invalid UTF-8 bytes become '?', and the text is cut
 * at a character boundary to fit (ending in "..." when cut). Always NUL-terminates (cap >= 4).
 * Returns the bytes written, NUL excluded. */
RLV_API size_t rlv_proto_scrub(char *dst, size_t cap, const char *src, size_t len);

/* A sanitised sample of untrusted bytes for a log line: the first `max` bytes (64 is the
 * habit), printable ASCII kept, everything else as \xNN, plus "...(N bytes)" when longer.
 * Always NUL-terminates dst[cap]. Returns the bytes written, NUL excluded. */
RLV_API size_t rlv_proto_sample(char *dst, size_t cap, const void *data, size_t len, size_t max);

/* ------------------------------------------------------------------ limits */

/* Every limit the decoder enforces before any heavy work; a violation is `too_large` and the
 * message names the limit by its daemon setting ("max-candidates"). Token limits (too_long)
 * and image pixel limits are the engine's, checked later. */
typedef struct rlv_proto_limits {
    size_t max_message_bytes;   /* whole body (the last frame); default 32 MiB */
    size_t max_image_bytes;     /* encoded image; default 16 MiB */
    size_t max_candidates;      /* entries of `candidates`; default 64 */
    size_t max_candidate_bytes; /* UTF-8 bytes of one candidate; default 64 KiB */
    size_t max_prompt_bytes;    /* UTF-8 bytes of the prompt; default 64 KiB */
    size_t max_id_bytes;        /* encoded msgpack bytes of `id`; default 1 KiB */
} rlv_proto_limits;

/* Plain integers: rlaifvd's settings table stringifies them (daemon/settings.c). */
#define RLV_PROTO_DEFAULT_MAX_MESSAGE_BYTES   33554432 /* 32 MiB */
#define RLV_PROTO_DEFAULT_MAX_IMAGE_BYTES     16777216 /* 16 MiB */
#define RLV_PROTO_DEFAULT_MAX_CANDIDATES      64       /* = RLV_DEFAULT_MAX_CANDIDATES (checked in settings.c) */
#define RLV_PROTO_DEFAULT_MAX_CANDIDATE_BYTES 65536    /* 64 KiB */
#define RLV_PROTO_DEFAULT_MAX_PROMPT_BYTES    65536    /* 64 KiB */
#define RLV_PROTO_DEFAULT_MAX_ID_BYTES        ((size_t)1 << 10)

/* Fills the defaults above. */
RLV_API void rlv_proto_limits_default(rlv_proto_limits *lim);

/* ------------------------------------------------------------------ requests (request.c) */

typedef enum rlv_proto_op {
    RLV_PROTO_OP_NONE = 0,  /* not (yet) known: the body failed before `op` was read */
    RLV_PROTO_OP_SCORE,
    RLV_PROTO_OP_PING,
    RLV_PROTO_OP_INFO,
    RLV_PROTO_OP_STATS,
} rlv_proto_op;

/* "score", "ping", "info", "stats"; "none" for RLV_PROTO_OP_NONE (a stats key, not a wire value). */
RLV_API const char *rlv_proto_op_name(rlv_proto_op op);

/* A decoded request. Zero-copy: every pointer below points INTO the message buffer given to
 * rlv_proto_decode_request and is valid only while that buffer lives and is unchanged; strings are
 * NOT NUL-terminated (use the lengths). Only the two candidate arrays are owned by the struct
 * (grown on demand, reused by the next decode into the same struct, freed by
 * rlv_proto_request_free). Initialise with `rlv_proto_request req = {0};`. */
typedef struct rlv_proto_request {
    int v;                          /* protocol version (1 .. RLV_PROTO_VERSION after a successful decode) */
    rlv_proto_op op;
    const uint8_t *id;              /* raw msgpack encoding of `id`, id_len bytes; NULL if absent or
                                     * unreadable. Echo it with the rlv_proto_reply_* functions. */
    size_t id_len;
    /* op == RLV_PROTO_OP_SCORE only: */
    const uint8_t *image;           /* encoded image (JPEG, PNG, ...), image_len >= 1 bytes, or NULL
                                     * when the client sent `image: nil` (score text only) */
    size_t image_len;
    const char *prompt;             /* valid UTF-8, prompt_len bytes (may be 0) */
    size_t prompt_len;
    size_t n_candidates;            /* 1 .. max_candidates */
    const char **candidates;        /* [n_candidates] valid UTF-8; array owned by the struct */
    size_t *candidate_lens;         /* [n_candidates] bytes; array owned by the struct */
    rlv_reward_kind reward;         /* the engine's kind (include/rlaifv.h, names by rlv_reward_name);
                                     * RLV_REWARD_DEFAULT when absent or nil */
    bool has_beta;
    double beta;                    /* finite, > 0, when has_beta */
    bool token_logps;               /* false when absent */
    bool has_deadline;
    int64_t deadline_ms;            /* >= 0 ms from receipt when has_deadline; 0 = already expired */
    /* private: capacity of the candidate arrays */
    size_t cap_candidates;
} rlv_proto_request;

/* Decodes and validates one request body msg[0..len) against lim (NULL: defaults). Never reads
 * outside msg, never allocates more than the candidate arrays (<= max_candidates entries), and
 * does not crash on any input. Checks, in order: total size; well-formed msgpack with no trailing
 * bytes and nesting <= RLV_PROTO_MAX_DEPTH; a map; `v`; `op`; then every field (unknown and
 * duplicate fields are errors; nil means absent for optional fields).
 * Returns RLV_PROTO_OK, or an error code with err->msg naming the field / limit. Even on error,
 * req->id/id_len are set when the id could be read (so the error reply echoes it) and req->op
 * when `op` was valid (for per-op counters); other fields are unspecified.
 * Errors: RLV_PROTO_E_BAD_REQUEST, RLV_PROTO_E_UNSUPPORTED_VERSION, RLV_PROTO_E_TOO_LARGE, RLV_PROTO_E_BAD_IMAGE
 * (a 0-byte image), RLV_PROTO_E_INTERNAL (out of memory for the candidate arrays). */
RLV_API rlv_proto_code rlv_proto_decode_request(rlv_proto_request *req, const void *msg, size_t len,
                                const rlv_proto_limits *lim, rlv_proto_error *err);

/* Frees the candidate arrays and zeroes *req. NULL is harmless. */
RLV_API void rlv_proto_request_free(rlv_proto_request *req);

/* ------------------------------------------------------------------ replies (reply.c) */

/* The result of a score job as the wire carries it (issue 6's result structure): the daemon
 * encodes it (rlv_proto_reply_score) and the C client library decodes a reply into it
 * (rlv_client_score). */

/* Per-model log-likelihoods of one candidate. */
typedef struct rlv_proto_logps {
    double logp_sum, logp_mean;
    const float *token_logps;       /* `tokens` entries, or NULL: the key is then omitted. Borrowed. */
} rlv_proto_logps;

typedef struct rlv_proto_ranked {
    int index;                      /* position in the request's candidates */
    double reward;
    int tokens;                     /* scored tokens */
    rlv_proto_logps policy;
    rlv_proto_logps reference;      /* sent only when rlv_proto_score_result.has_reference */
} rlv_proto_ranked;

typedef struct rlv_proto_score_result {
    const char *reward_kind;        /* "rlaifv", ... (rlv_reward_name of the kind used) */
    double beta;
    bool has_reference;
    size_t n;
    const rlv_proto_ranked *ranking; /* [n], already ranked (highest reward first). Borrowed. */
    double image_ms, prefix_ms, candidates_ms, total_ms;
    bool image_cached;              /* the job had an image and no model ran its vision side */
    bool prefix_cached;             /* every model's prefix state came from the prefix cache */
    int v;                          /* the request's version: timing_ms.cached is sent from v2 on */
} rlv_proto_score_result;

/* The engine's result as the wire's: fills *out and ranked[0 .. res->n) (the caller's array),
 * which borrow res's reward name and token_logps; v is the request's version. */
RLV_API void rlv_proto_score_result_of(rlv_proto_score_result *out, rlv_proto_ranked *ranked, const rlv_result *res, int v);

/* A reply being built: one growable buffer, reused from reply to reply. Opaque. */
typedef struct rlv_proto_reply rlv_proto_reply;

/* Creates an empty builder; NULL when out of memory. Owned by the caller (rlv_proto_reply_free). */
RLV_API rlv_proto_reply *rlv_proto_reply_new(void);
/* Frees the builder and sets *r = NULL; NULL or *r == NULL is harmless. */
RLV_API void rlv_proto_reply_free(rlv_proto_reply **r);

/* The finished body: owned by r, valid until the next rlv_proto_reply_* call that writes to r.
 * *len = 0 and a non-NULL pointer while no reply is complete. */
RLV_API const uint8_t *rlv_proto_reply_data(const rlv_proto_reply *r, size_t *len);
/* Hands the finished body to the caller, who frees it with free() (e.g. as the free function
 * of zmq_msg_init_data, so the body is never copied); r is left empty and reusable.
 * Returns NULL (and *len = 0) when no reply is complete. */
RLV_API uint8_t *rlv_proto_reply_release(rlv_proto_reply *r, size_t *len);

/* In all the functions below, id/id_len is the request's raw id (rlv_proto_request.id): it is
 * spliced in verbatim as `id`; NULL sends `id: nil`. Each returns RLV_PROTO_OK or
 * RLV_PROTO_E_INTERNAL (out of memory, or misuse of the builder such as an unbalanced close),
 * with err->msg saying which. */

/* {id, ok: true, reward_kind, beta, ranking: [...], timing_ms: {image, prefix, candidates, total, cached}};
 * cached: array of the step names served from cache, "image" and/or "prefix" (may be empty). */
RLV_API rlv_proto_code rlv_proto_reply_score(rlv_proto_reply *r, const uint8_t *id, size_t id_len,
                             const rlv_proto_score_result *res, rlv_proto_error *err);

/* {id, ok: false, error: {code, message}}. The message is formatted, then scrubbed and bounded
 * as rlv_proto_scrub does, so it may safely quote client bytes. code RLV_PROTO_OK is sent as internal. */
RLV_API rlv_proto_code rlv_proto_reply_error(rlv_proto_reply *r, const uint8_t *id, size_t id_len, rlv_proto_code code,
                             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
RLV_API rlv_proto_code rlv_proto_reply_verror(rlv_proto_reply *r, const uint8_t *id, size_t id_len, rlv_proto_code code,
                              const char *fmt, va_list ap);

/* Generic replies (ping, info, stats): begin, add fields, end.
 *   rlv_proto_reply_begin(r, id, id_len, err);        writes {id, ok: true, ...
 *   rlv_proto_reply_add_int(r, "v", 1, err);
 *   rlv_proto_reply_open_map(r, "limits", err); ... rlv_proto_reply_close(r, err);
 *   rlv_proto_reply_end(r, err);                      body complete, see rlv_proto_reply_data.
 * Inside a map every add/open needs a key (a NUL-terminated UTF-8 string); inside an array
 * key must be NULL. At the top level "id", "ok" and "error" are reserved. Nesting <= 8 levels.
 * After any failure the reply is unusable until the next begin. */
RLV_API rlv_proto_code rlv_proto_reply_begin(rlv_proto_reply *r, const uint8_t *id, size_t id_len, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_add_nil(rlv_proto_reply *r, const char *key, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_add_bool(rlv_proto_reply *r, const char *key, bool val, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_add_int(rlv_proto_reply *r, const char *key, int64_t val, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_add_uint(rlv_proto_reply *r, const char *key, uint64_t val, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_add_double(rlv_proto_reply *r, const char *key, double val, rlv_proto_error *err);
/* val is scrubbed like an error message only if it is not valid UTF-8 (invalid bytes -> '?'). */
RLV_API rlv_proto_code rlv_proto_reply_add_str(rlv_proto_reply *r, const char *key, const char *val, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_open_map(rlv_proto_reply *r, const char *key, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_open_array(rlv_proto_reply *r, const char *key, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_close(rlv_proto_reply *r, rlv_proto_error *err);
/* Adds key: {max_message_bytes, max_image_bytes, max_candidates, max_candidate_bytes,
 * max_prompt_bytes, max_id_bytes} (for `info`). */
RLV_API rlv_proto_code rlv_proto_reply_add_limits(rlv_proto_reply *r, const char *key, const rlv_proto_limits *lim, rlv_proto_error *err);
RLV_API rlv_proto_code rlv_proto_reply_end(rlv_proto_reply *r, rlv_proto_error *err);

/* ------------------------------------------------------------------ the client side (client.c) */

/* A request as a client sends it. Strings need not be NUL-terminated. */
typedef struct rlv_proto_client_request {
    rlv_proto_op op;
    uint64_t id;
    /* op == RLV_PROTO_OP_SCORE only: */
    const uint8_t *image;
    size_t image_len;
    const char *prompt;
    size_t prompt_len;
    const char *const *candidates;
    const size_t *candidate_lens;
    size_t n_candidates;
    const char *reward;        /* NULL: the daemon's default */
    double beta;               /* <= 0: the default */
    bool token_logps;
    int64_t deadline_ms;       /* < 0: none */
} rlv_proto_client_request;

/* The msgpack body of q (v, id, op and the op's fields), malloc-ed (caller frees); *len its size. */
RLV_API uint8_t *rlv_proto_encode_request(const rlv_proto_client_request *q, size_t *len);

/* 0 when data[0..len) is exactly one well-formed msgpack value, nested at most RLV_PROTO_MAX_DEPTH
 * levels, whose declared lengths all fit in the buffer; -1 otherwise. Run it on every reply before
 * unpacking it with msgpack-c (whose unpacker allocates from declared, unchecked counts). */
RLV_API int rlv_proto_check_msgpack(const void *data, size_t len);

/* The request id as log text: integers and strings as themselves (scrubbed), anything else as a
 * rlv_proto_sample of its bytes, NULL as "-". Always NUL-terminates dst[cap]; returns bytes written. */
RLV_API size_t rlv_proto_id_text(char *dst, size_t cap, const uint8_t *id, size_t id_len);

/* Reads `name = "Z85"` ("public-key" or "secret-key"; a bare 40-character Z85 line counts as a
 * public key) from a CurveZMQ key file (keyfile.c) into key[41]. Returns 0 or -1. */
RLV_API int rlv_proto_read_curve_key(const char *path, const char *name, char key[41]);

#ifdef __cplusplus
}
#endif
#endif
