/* request.c — decoding and validation of one request body (docs/protocol.md, "Requests").
 *
 * Order of the checks (each answers before the next, more expensive one runs):
 *   1. the body's size against max_message_bytes (nothing parsed yet);
 *   2. one non-recursive pass over the whole body: well-formed msgpack, every declared length
 *      present, nesting <= RLV_PROTO_MAX_DEPTH, no trailing bytes, a map at the top;
 *   3. `id` (raw bytes, for the echo), `v`, `op` found wherever they are in the map;
 *   4. every field in map order: known, not repeated, right type, within its limit.
 * The id is located as early as possible (even in a body that fails 1 or 2 where the map's
 * prefix is readable) so that error replies can still be matched by the client. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlaifv_proto.h"
#include "proto_impl.h"

void rlv_proto_limits_default(rlv_proto_limits *lim) {
    lim->max_message_bytes = RLV_PROTO_DEFAULT_MAX_MESSAGE_BYTES;
    lim->max_image_bytes = RLV_PROTO_DEFAULT_MAX_IMAGE_BYTES;
    lim->max_candidates = RLV_PROTO_DEFAULT_MAX_CANDIDATES;
    lim->max_candidate_bytes = RLV_PROTO_DEFAULT_MAX_CANDIDATE_BYTES;
    lim->max_prompt_bytes = RLV_PROTO_DEFAULT_MAX_PROMPT_BYTES;
    lim->max_id_bytes = RLV_PROTO_DEFAULT_MAX_ID_BYTES;
}

static const char *const op_names[] = {"none", "score", "ping", "info", "stats"};

const char *rlv_proto_op_name(rlv_proto_op op) {
    return (unsigned)op < sizeof op_names / sizeof op_names[0] ? op_names[op] : "none";
}

/* The fields of v1. Bit i of a `seen` mask is field i. */
enum { F_V, F_ID, F_OP, F_IMAGE, F_PROMPT, F_CANDIDATES, F_REWARD, F_BETA, F_TOKEN_LOGPS, F_DEADLINE, F_COUNT };
static const char *const field_names[F_COUNT] = {
    "v", "id", "op", "image", "prompt", "candidates", "reward", "beta", "token_logps", "deadline_ms"};

static int field_lookup(const uint8_t *s, size_t len) {
    for (int f = 0; f < F_COUNT; f++)
        if (strlen(field_names[f]) == len && !memcmp(field_names[f], s, len)) return f;
    return -1;
}

/* A client string quoted in a message: escaped and cut to 32 bytes. */
static const char *quote(char *buf, size_t cap, const uint8_t *s, size_t len) {
    rlv_proto_sample(buf, cap, s, len, 32);
    return buf;
}

static rlv_proto_code malformed(rlv_proto_error *err, const proto_reader *r, int rc) {
    size_t at = (size_t)(r->p - r->start);
    if (rc == MP_EDEPTH)
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "malformed msgpack: nested deeper than %d levels at byte %zu",
                            RLV_PROTO_MAX_DEPTH, at);
    if (rc == MP_EBYTE)
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "malformed msgpack: invalid byte 0x%02x at byte %zu", *r->p, at);
    return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "malformed msgpack: truncated at byte %zu", at);
}

/* Walks the top-level map as far as it is readable and records the raw bytes of the first
 * `id` value. Never fails: a body too broken to reach the id simply has none. */
static void find_id(rlv_proto_request *req, const uint8_t *msg, size_t len) {
    proto_reader r;
    mp_item it;
    proto_reader_init(&r, msg, len);
    if (proto_reader_next(&r, &it) != MP_OK || it.kind != MP_MAP) return;
    for (uint32_t k = 0; k < it.len; k++) {
        mp_item key;
        if (proto_reader_next(&r, &key) != MP_OK) return;
        bool is_id = key.kind == MP_STR && key.len == 2 && !memcmp(key.ptr, "id", 2);
        const uint8_t *val = r.p;
        if (proto_reader_skip(&r, RLV_PROTO_MAX_DEPTH - 1) != MP_OK) return;
        if (is_id) {
            req->id = val;
            req->id_len = (size_t)(r.p - val);
            return;
        }
    }
}

static rlv_proto_code type_error(rlv_proto_error *err, const char *field, const char *want, const mp_item *it) {
    return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field '%s': expected %s, got %s", field, want,
                        proto_mp_kind_name(it->kind));
}

static rlv_proto_code check_utf8(rlv_proto_error *err, const char *what, const mp_item *it) {
    size_t bad = utf8_check(it->ptr, it->len);
    if (bad != it->len)
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "%s: invalid UTF-8 at byte %zu (0x%02x)", what, bad, it->ptr[bad]);
    return RLV_PROTO_OK;
}

static rlv_proto_code grow_candidates(rlv_proto_request *req, size_t n, rlv_proto_error *err) {
    if (n <= req->cap_candidates) return RLV_PROTO_OK;
    const char **c = realloc(req->candidates, n * sizeof *c);
    if (!c) return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "out of memory for %zu candidates", n);
    req->candidates = c;
    size_t *l = realloc(req->candidate_lens, n * sizeof *l);
    if (!l) return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "out of memory for %zu candidates", n);
    req->candidate_lens = l;
    req->cap_candidates = n;
    return RLV_PROTO_OK;
}

/* Decodes the value of field f at r (its key already read). */
static rlv_proto_code decode_field(rlv_proto_request *req, int f, proto_reader *r, const rlv_proto_limits *lim, rlv_proto_error *err) {
    mp_item it;
    const char *name = field_names[f];
    if (f == F_ID) { /* already located by find_id; well-formedness checked in step 2 */
        return proto_reader_skip(r, RLV_PROTO_MAX_DEPTH - 1) == MP_OK ? RLV_PROTO_OK
                                                                  : rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "id re-read");
    }
    if (proto_reader_next(r, &it) != MP_OK) return malformed(err, r, MP_ETRUNC);
    bool nil = it.kind == MP_NIL;
    switch (f) {
    case F_V:
    case F_OP: /* validated in step 3 */
        return RLV_PROTO_OK;
    case F_IMAGE:
        if (nil) { req->image = NULL; req->image_len = 0; return RLV_PROTO_OK; }
        if (it.kind != MP_BIN) return type_error(err, name, "bin (or nil for no image)", &it);
        if (it.len > lim->max_image_bytes)
            return rlv_proto_errorf(err, RLV_PROTO_E_TOO_LARGE, "image: %u bytes > max-image-bytes %zu", it.len,
                                lim->max_image_bytes);
        if (it.len == 0) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_IMAGE, "image: 0 bytes");
        req->image = it.ptr;
        req->image_len = it.len;
        return RLV_PROTO_OK;
    case F_PROMPT: {
        if (it.kind != MP_STR) return type_error(err, name, "str", &it);
        if (it.len > lim->max_prompt_bytes)
            return rlv_proto_errorf(err, RLV_PROTO_E_TOO_LARGE, "prompt: %u bytes > max-prompt-bytes %zu", it.len,
                                lim->max_prompt_bytes);
        rlv_proto_code pc = check_utf8(err, "prompt", &it);
        if (pc != RLV_PROTO_OK) return pc;
        req->prompt = (const char *)it.ptr;
        req->prompt_len = it.len;
        return RLV_PROTO_OK;
    }
    case F_CANDIDATES: {
        if (it.kind != MP_ARRAY) return type_error(err, name, "array of str", &it);
        if (it.len == 0) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field 'candidates': empty array");
        /* checked on the header, before any element is looked at */
        if (it.len > lim->max_candidates)
            return rlv_proto_errorf(err, RLV_PROTO_E_TOO_LARGE, "candidates: %u > max-candidates %zu", it.len,
                                lim->max_candidates);
        rlv_proto_code rc = grow_candidates(req, it.len, err);
        if (rc != RLV_PROTO_OK) return rc;
        for (uint32_t i = 0; i < it.len; i++) {
            mp_item c;
            if (proto_reader_next(r, &c) != MP_OK) return malformed(err, r, MP_ETRUNC);
            if (c.kind != MP_STR)
                return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "candidates[%u]: expected str, got %s", i,
                                    proto_mp_kind_name(c.kind));
            if (c.len > lim->max_candidate_bytes)
                return rlv_proto_errorf(err, RLV_PROTO_E_TOO_LARGE, "candidates[%u]: %u bytes > max-candidate-bytes %zu", i,
                                    c.len, lim->max_candidate_bytes);
            char what[32];
            snprintf(what, sizeof what, "candidates[%u]", i);
            rc = check_utf8(err, what, &c);
            if (rc != RLV_PROTO_OK) return rc;
            req->candidates[i] = (const char *)c.ptr;
            req->candidate_lens[i] = c.len;
        }
        req->n_candidates = it.len;
        return RLV_PROTO_OK;
    }
    case F_REWARD:
        if (nil) { req->reward = RLV_REWARD_DEFAULT; return RLV_PROTO_OK; }
        if (it.kind != MP_STR) return type_error(err, name, "str", &it);
        for (int k = 0; k < RLV_REWARD_N; k++) {
            const char *kn = rlv_reward_name((rlv_reward_kind)k);
            if (strlen(kn) == it.len && !memcmp(kn, it.ptr, it.len)) {
                req->reward = (rlv_reward_kind)k;
                return RLV_PROTO_OK;
            }
        }
        {
            char q[160];
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST,
                                "field 'reward': '%s' is not one of rlaifv, dpo, logp_mean, logp_sum",
                                quote(q, sizeof q, it.ptr, it.len));
        }
    case F_BETA: {
        if (nil) { req->has_beta = false; return RLV_PROTO_OK; }
        double b;
        if (it.kind == MP_FLOAT) b = it.f;
        else if (it.kind == MP_UINT) b = (double)it.u;
        else if (it.kind == MP_INT) b = (double)it.i;
        else return type_error(err, name, "float or int", &it);
        if (!isfinite(b) || b <= 0)
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field 'beta': %g is not a finite number > 0", b);
        req->has_beta = true;
        req->beta = b;
        return RLV_PROTO_OK;
    }
    case F_TOKEN_LOGPS:
        if (nil) { req->token_logps = false; return RLV_PROTO_OK; }
        if (it.kind != MP_BOOL) return type_error(err, name, "bool", &it);
        req->token_logps = it.b;
        return RLV_PROTO_OK;
    case F_DEADLINE:
        if (nil) { req->has_deadline = false; return RLV_PROTO_OK; }
        if (it.kind == MP_INT)
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field 'deadline_ms': %lld is negative", (long long)it.i);
        if (it.kind != MP_UINT) return type_error(err, name, "int >= 0", &it);
        req->has_deadline = true;
        req->deadline_ms = it.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)it.u;
        return RLV_PROTO_OK;
    }
    return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "field %d has no decoder", f);
}

/* Step 3: `v` and `op`, wherever they are. Returns RLV_PROTO_OK with req->v / req->op set. */
static rlv_proto_code decode_v_op(rlv_proto_request *req, const uint8_t *msg, size_t len, rlv_proto_error *err) {
    proto_reader r;
    mp_item m, key, val;
    bool have_v = false, have_op = false;
    proto_reader_init(&r, msg, len);
    proto_reader_next(&r, &m);
    for (uint32_t k = 0; k < m.len; k++) {
        if (proto_reader_next(&r, &key) != MP_OK) return malformed(err, &r, MP_ETRUNC);
        bool is_v = key.kind == MP_STR && key.len == 1 && key.ptr[0] == 'v';
        bool is_op = key.kind == MP_STR && key.len == 2 && !memcmp(key.ptr, "op", 2);
        if ((is_v && !have_v) || (is_op && !have_op)) {
            if (proto_reader_next(&r, &val) != MP_OK) return malformed(err, &r, MP_ETRUNC);
            if (is_v) {
                have_v = true;
                if (val.kind == MP_INT) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field 'v': %lld is not a version (>= 1)", (long long)val.i);
                if (val.kind != MP_UINT) return type_error(err, "v", "int", &val);
                if (val.u < 1) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field 'v': 0 is not a version (>= 1)");
                if (val.u > RLV_PROTO_VERSION)
                    return rlv_proto_errorf(err, RLV_PROTO_E_UNSUPPORTED_VERSION, "v %llu: this daemon speaks v1..v%d",
                                        (unsigned long long)val.u, RLV_PROTO_VERSION);
                req->v = (int)val.u;
            } else {
                have_op = true;
                if (val.kind != MP_STR) return type_error(err, "op", "str", &val);
                for (int o = RLV_PROTO_OP_SCORE; o <= RLV_PROTO_OP_STATS; o++)
                    if (strlen(op_names[o]) == val.len && !memcmp(op_names[o], val.ptr, val.len)) req->op = (rlv_proto_op)o;
                if (req->op == RLV_PROTO_OP_NONE) {
                    char q[160];
                    return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field 'op': '%s' is not one of score, ping, info, stats",
                                        quote(q, sizeof q, val.ptr, val.len));
                }
            }
        } else if (proto_reader_skip(&r, RLV_PROTO_MAX_DEPTH - 1) != MP_OK) {
            return malformed(err, &r, MP_ETRUNC);
        }
    }
    /* v before op: a newer client's request must get unsupported_version, not a field error */
    if (!have_v) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'v'");
    if (!have_op) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'op'");
    return RLV_PROTO_OK;
}

rlv_proto_code rlv_proto_decode_request(rlv_proto_request *req, const void *msg_, size_t len, const rlv_proto_limits *lim,
                                rlv_proto_error *err) {
    const uint8_t *msg = (const uint8_t *)msg_;
    rlv_proto_limits def;
    if (!lim) {
        rlv_proto_limits_default(&def);
        lim = &def;
    }
    /* keep the candidate arrays (reused), clear everything else */
    const char **cands = req->candidates;
    size_t *lens = req->candidate_lens, cap = req->cap_candidates;
    memset(req, 0, sizeof *req);
    req->reward = RLV_REWARD_DEFAULT;
    req->candidates = cands;
    req->candidate_lens = lens;
    req->cap_candidates = cap;
    if (err) { err->code = RLV_PROTO_OK; err->msg[0] = '\0'; }
    if (!msg) {
        if (len) return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "NULL message of %zu bytes", len);
        msg = (const uint8_t *)""; /* no pointer arithmetic on NULL below */
    }

    /* 1. size; the id is still looked for (cheap: bins are skipped, not read) */
    find_id(req, msg, len);
    size_t id_over = 0;
    if (req->id && req->id_len > lim->max_id_bytes) {
        id_over = req->id_len;
        req->id = NULL; /* never echoed: a client could make every error reply huge */
        req->id_len = 0;
    }
    if (len > lim->max_message_bytes)
        return rlv_proto_errorf(err, RLV_PROTO_E_TOO_LARGE, "message: %zu bytes > max-message-bytes %zu", len,
                            lim->max_message_bytes);
    if (id_over)
        return rlv_proto_errorf(err, RLV_PROTO_E_TOO_LARGE, "id: %zu bytes > max-id-bytes %zu", id_over, lim->max_id_bytes);

    /* 2. structure */
    proto_reader r;
    mp_item top;
    proto_reader_init(&r, msg, len);
    if (len == 0) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "empty body: expected a msgpack map");
    int rc = proto_reader_skip(&r, RLV_PROTO_MAX_DEPTH);
    if (rc != MP_OK) return malformed(err, &r, rc);
    if (r.p != r.end)
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "malformed msgpack: %zu trailing bytes after the body at byte %zu",
                            (size_t)(r.end - r.p), (size_t)(r.p - r.start));
    proto_reader_init(&r, msg, len);
    proto_reader_next(&r, &top);
    if (top.kind != MP_MAP)
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "body: expected a map, got %s", proto_mp_kind_name(top.kind));

    /* 3. version and op */
    rlv_proto_code pc = decode_v_op(req, msg, len, err);
    if (pc != RLV_PROTO_OK) return pc;

    /* 4. every field, in map order */
    unsigned seen = 0;
    for (uint32_t k = 0; k < top.len; k++) {
        mp_item key;
        size_t at = (size_t)(r.p - r.start);
        if (proto_reader_next(&r, &key) != MP_OK) return malformed(err, &r, MP_ETRUNC);
        if (key.kind != MP_STR)
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field name at byte %zu: expected str, got %s", at,
                                proto_mp_kind_name(key.kind));
        int f = field_lookup(key.ptr, key.len);
        char q[160];
        if (f < 0)
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "unknown field '%s'", quote(q, sizeof q, key.ptr, key.len));
        if (seen & (1u << f)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "duplicate field '%s'", field_names[f]);
        seen |= 1u << f;
        if (f >= F_IMAGE && req->op != RLV_PROTO_OP_SCORE)
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "field '%s' is not allowed with op '%s'", field_names[f],
                                rlv_proto_op_name(req->op));
        pc = decode_field(req, f, &r, lim, err);
        if (pc != RLV_PROTO_OK) return pc;
    }
    if (req->op == RLV_PROTO_OP_SCORE) {
        static const int required[] = {F_IMAGE, F_PROMPT, F_CANDIDATES};
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
            if (!(seen & (1u << required[i])))
                return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field '%s'", field_names[required[i]]);
    }
    return RLV_PROTO_OK;
}

void rlv_proto_request_free(rlv_proto_request *req) {
    if (!req) return;
    free(req->candidates);
    free(req->candidate_lens);
    memset(req, 0, sizeof *req);
}
