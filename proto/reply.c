/* reply.c — encoding of replies with msgpack-c (docs/protocol.md, "Replies").
 * One growable buffer per builder, reused from reply to reply; the request's id is spliced in as
 * the raw msgpack bytes it arrived as, so any id (nested, ext, float) comes back bit-identical.
 * Generic replies write each map/array header as map32/array32 with a zero count and patch the
 * count at close: valid msgpack (any count may use the 32-bit form) and no second buffer. */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlaifv_proto.h"
#include "proto_impl.h"

#define REPLY_MAX_NEST 8

struct rlv_proto_reply {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    bool complete;             /* sb holds one finished reply */
    bool building;             /* between begin and end of a generic reply */
    int depth;                 /* open containers; 0 = the top map */
    struct {
        size_t off;            /* offset of the container's 5-byte header in sb */
        uint32_t count;        /* elements (arrays) or pairs (maps) so far */
        bool is_map;
    } open[REPLY_MAX_NEST + 1];
};

rlv_proto_reply *rlv_proto_reply_new(void) {
    rlv_proto_reply *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    msgpack_sbuffer_init(&r->sb);
    msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
    return r;
}

void rlv_proto_reply_free(rlv_proto_reply **r) {
    if (!r || !*r) return;
    msgpack_sbuffer_destroy(&(*r)->sb);
    free(*r);
    *r = NULL;
}

const uint8_t *rlv_proto_reply_data(const rlv_proto_reply *r, size_t *len) {
    static const uint8_t empty[1];
    *len = r->complete ? r->sb.size : 0;
    return r->complete && r->sb.data ? (const uint8_t *)r->sb.data : empty;
}

uint8_t *rlv_proto_reply_release(rlv_proto_reply *r, size_t *len) {
    *len = 0;
    if (!r->complete) return NULL;
    *len = r->sb.size;
    r->complete = false;
    return (uint8_t *)msgpack_sbuffer_release(&r->sb);
}

static void reset(rlv_proto_reply *r) {
    msgpack_sbuffer_clear(&r->sb);
    r->complete = r->building = false;
    r->depth = 0;
}

static rlv_proto_code oom(rlv_proto_reply *r, rlv_proto_error *err) {
    reset(r);
    return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "out of memory building a reply");
}

/* Packing helpers: each returns 0 or -1 (allocation failed), as msgpack-c does. */
static int pack_cstr(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

/* id verbatim (it is one complete msgpack value, checked by rlv_proto_decode_request) or nil */
static int pack_id(rlv_proto_reply *r, const uint8_t *id, size_t id_len) {
    if (pack_cstr(&r->pk, "id")) return -1;
    if (!id || !id_len) return msgpack_pack_nil(&r->pk);
    return msgpack_sbuffer_write(&r->sb, (const char *)id, id_len);
}

static int pack_logps(msgpack_packer *pk, const rlv_proto_logps *l, int tokens) {
    bool with_tok = l->token_logps != NULL;
    if (msgpack_pack_map(pk, with_tok ? 3 : 2)) return -1;
    if (pack_cstr(pk, "logp_sum") || msgpack_pack_double(pk, l->logp_sum)) return -1;
    if (pack_cstr(pk, "logp_mean") || msgpack_pack_double(pk, l->logp_mean)) return -1;
    if (with_tok) {
        if (pack_cstr(pk, "token_logps") || msgpack_pack_array(pk, (size_t)(tokens > 0 ? tokens : 0))) return -1;
        for (int t = 0; t < tokens; t++)
            if (msgpack_pack_float(pk, l->token_logps[t])) return -1; /* float32: the engine's own precision */
    }
    return 0;
}

void rlv_proto_score_result_of(rlv_proto_score_result *out, rlv_proto_ranked *ranked, const rlv_result *res, int v) {
    for (int i = 0; i < res->n; i++) {
        const rlv_ranked *r = &res->ranking[i];
        ranked[i] = (rlv_proto_ranked){
            .index = r->index, .reward = r->reward, .tokens = r->tokens,
            .policy = {r->policy.logp_sum, r->policy.logp_mean, r->policy.token_logps},
            .reference = {r->reference.logp_sum, r->reference.logp_mean, r->reference.token_logps},
        };
    }
    *out = (rlv_proto_score_result){
        .reward_kind = rlv_reward_name(res->reward), .beta = res->beta, .has_reference = res->has_reference,
        .n = (size_t)res->n, .ranking = ranked, .image_ms = res->image_ms, .prefix_ms = res->prefix_ms,
        .candidates_ms = res->candidates_ms, .total_ms = res->total_ms,
        .image_cached = res->image_cache_hit, .prefix_cached = res->prefix_cache_hit, .v = v,
    };
}

rlv_proto_code rlv_proto_reply_score(rlv_proto_reply *r, const uint8_t *id, size_t id_len, const rlv_proto_score_result *res,
                             rlv_proto_error *err) {
    reset(r);
    if (!res || !res->reward_kind || (res->n && !res->ranking) || res->n > UINT32_MAX)
        return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "score reply: incomplete result");
    msgpack_packer *pk = &r->pk;
    if (msgpack_pack_map(pk, 6) || pack_id(r, id, id_len) || pack_cstr(pk, "ok") || msgpack_pack_true(pk) ||
        pack_cstr(pk, "reward_kind") || pack_cstr(pk, res->reward_kind) || pack_cstr(pk, "beta") ||
        msgpack_pack_double(pk, res->beta) || pack_cstr(pk, "ranking") || msgpack_pack_array(pk, res->n))
        return oom(r, err);
    for (size_t i = 0; i < res->n; i++) {
        const rlv_proto_ranked *c = &res->ranking[i];
        if (msgpack_pack_map(pk, res->has_reference ? 5 : 4) || pack_cstr(pk, "index") ||
            msgpack_pack_int(pk, c->index) || pack_cstr(pk, "reward") || msgpack_pack_double(pk, c->reward) ||
            pack_cstr(pk, "tokens") || msgpack_pack_int(pk, c->tokens) || pack_cstr(pk, "policy") ||
            pack_logps(pk, &c->policy, c->tokens))
            return oom(r, err);
        if (res->has_reference && (pack_cstr(pk, "reference") || pack_logps(pk, &c->reference, c->tokens)))
            return oom(r, err);
    }
    bool v2 = res->v >= 2; /* a v1 client gets v1's reply: no field is added within a version */
    if (pack_cstr(pk, "timing_ms") || msgpack_pack_map(pk, v2 ? 5 : 4) || pack_cstr(pk, "image") ||
        msgpack_pack_double(pk, res->image_ms) || pack_cstr(pk, "prefix") || msgpack_pack_double(pk, res->prefix_ms) ||
        pack_cstr(pk, "candidates") || msgpack_pack_double(pk, res->candidates_ms) || pack_cstr(pk, "total") ||
        msgpack_pack_double(pk, res->total_ms))
        return oom(r, err);
    if (v2 && (pack_cstr(pk, "cached") || msgpack_pack_array(pk, (uint32_t)res->image_cached + (uint32_t)res->prefix_cached) ||
               (res->image_cached && pack_cstr(pk, "image")) || (res->prefix_cached && pack_cstr(pk, "prefix"))))
        return oom(r, err);
    r->complete = true;
    return RLV_PROTO_OK;
}

rlv_proto_code rlv_proto_reply_verror(rlv_proto_reply *r, const uint8_t *id, size_t id_len, rlv_proto_code code, const char *fmt,
                              va_list ap) {
    char raw[RLV_PROTO_ERR_MSG_MAX * 2], msg[RLV_PROTO_ERR_MSG_MAX];
    int w = vsnprintf(raw, sizeof raw, fmt, ap);
    size_t n = w < 0 ? 0 : (size_t)w < sizeof raw ? (size_t)w : sizeof raw - 1;
    size_t m = rlv_proto_scrub(msg, sizeof msg, raw, n);
    if (code == RLV_PROTO_OK || (unsigned)code >= RLV_PROTO_CODE_COUNT) code = RLV_PROTO_E_INTERNAL;
    reset(r);
    msgpack_packer *pk = &r->pk;
    if (msgpack_pack_map(pk, 3) || pack_id(r, id, id_len) || pack_cstr(pk, "ok") || msgpack_pack_false(pk) ||
        pack_cstr(pk, "error") || msgpack_pack_map(pk, 2) || pack_cstr(pk, "code") ||
        pack_cstr(pk, rlv_proto_code_name(code)) || pack_cstr(pk, "message") || msgpack_pack_str(pk, m) ||
        msgpack_pack_str_body(pk, msg, m))
        return oom(r, NULL);
    r->complete = true;
    return RLV_PROTO_OK;
}

rlv_proto_code rlv_proto_reply_error(rlv_proto_reply *r, const uint8_t *id, size_t id_len, rlv_proto_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rlv_proto_code rc = rlv_proto_reply_verror(r, id, id_len, code, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- generic replies */

static rlv_proto_code misuse(rlv_proto_reply *r, rlv_proto_error *err, const char *what) {
    reset(r);
    return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "reply builder: %s", what);
}

/* header with a 32-bit count to patch at close */
static int open_container(rlv_proto_reply *r, bool is_map) {
    uint8_t hdr[5] = {is_map ? 0xdf : 0xdd, 0, 0, 0, 0};
    size_t off = r->sb.size;
    if (msgpack_sbuffer_write(&r->sb, (const char *)hdr, 5)) return -1;
    r->open[r->depth].off = off;
    r->open[r->depth].count = 0;
    r->open[r->depth].is_map = is_map;
    return 0;
}

rlv_proto_code rlv_proto_reply_begin(rlv_proto_reply *r, const uint8_t *id, size_t id_len, rlv_proto_error *err) {
    reset(r);
    if (open_container(r, true) || pack_id(r, id, id_len) || pack_cstr(&r->pk, "ok") || msgpack_pack_true(&r->pk))
        return oom(r, err);
    r->open[0].count = 2;
    r->building = true;
    return RLV_PROTO_OK;
}

/* Writes the key (or checks its absence in an array) and counts the element. */
static rlv_proto_code element(rlv_proto_reply *r, const char *key, rlv_proto_error *err) {
    if (!r->building) return misuse(r, err, "add before begin");
    bool in_map = r->open[r->depth].is_map;
    if (in_map && !key) return misuse(r, err, "a map element needs a key");
    if (!in_map && key) return misuse(r, err, "an array element takes no key");
    if (in_map && utf8_check((const uint8_t *)key, strlen(key)) != strlen(key))
        return misuse(r, err, "key is not valid UTF-8");
    if (in_map && r->depth == 0 && (!strcmp(key, "id") || !strcmp(key, "ok") || !strcmp(key, "error")))
        return misuse(r, err, "top-level keys id, ok and error are reserved");
    if (r->open[r->depth].count == UINT32_MAX) return misuse(r, err, "too many elements");
    if (in_map && pack_cstr(&r->pk, key)) return oom(r, err);
    r->open[r->depth].count++;
    return RLV_PROTO_OK;
}

#define ADD(call)                                                  \
    do {                                                           \
        rlv_proto_code rc_ = element(r, key, err);                     \
        if (rc_ != RLV_PROTO_OK) return rc_;                           \
        if (call) return oom(r, err);                              \
        return RLV_PROTO_OK;                                           \
    } while (0)

rlv_proto_code rlv_proto_reply_add_nil(rlv_proto_reply *r, const char *key, rlv_proto_error *err) { ADD(msgpack_pack_nil(&r->pk)); }
rlv_proto_code rlv_proto_reply_add_bool(rlv_proto_reply *r, const char *key, bool val, rlv_proto_error *err) {
    ADD(val ? msgpack_pack_true(&r->pk) : msgpack_pack_false(&r->pk));
}
rlv_proto_code rlv_proto_reply_add_int(rlv_proto_reply *r, const char *key, int64_t val, rlv_proto_error *err) {
    ADD(msgpack_pack_int64(&r->pk, val));
}
rlv_proto_code rlv_proto_reply_add_uint(rlv_proto_reply *r, const char *key, uint64_t val, rlv_proto_error *err) {
    ADD(msgpack_pack_uint64(&r->pk, val));
}
rlv_proto_code rlv_proto_reply_add_double(rlv_proto_reply *r, const char *key, double val, rlv_proto_error *err) {
    ADD(msgpack_pack_double(&r->pk, val));
}

rlv_proto_code rlv_proto_reply_add_str(rlv_proto_reply *r, const char *key, const char *val, rlv_proto_error *err) {
    rlv_proto_code rc = element(r, key, err);
    if (rc != RLV_PROTO_OK) return rc;
    if (!val) return msgpack_pack_nil(&r->pk) ? oom(r, err) : RLV_PROTO_OK;
    size_t n = strlen(val);
    if (utf8_check((const uint8_t *)val, n) == n)
        return msgpack_pack_str(&r->pk, n) || msgpack_pack_str_body(&r->pk, val, n) ? oom(r, err) : RLV_PROTO_OK;
    /* not UTF-8 (a path in another encoding, say): send a readable approximation, never bad bytes */
    char *tmp = malloc(n + 4);
    if (!tmp) return oom(r, err);
    size_t m = rlv_proto_scrub(tmp, n + 4, val, n);
    int bad = msgpack_pack_str(&r->pk, m) || msgpack_pack_str_body(&r->pk, tmp, m);
    free(tmp);
    return bad ? oom(r, err) : RLV_PROTO_OK;
}

static rlv_proto_code open_nested(rlv_proto_reply *r, const char *key, bool is_map, rlv_proto_error *err) {
    rlv_proto_code rc = element(r, key, err);
    if (rc != RLV_PROTO_OK) return rc;
    if (r->depth == REPLY_MAX_NEST) return misuse(r, err, "nested too deep");
    r->depth++;
    return open_container(r, is_map) ? oom(r, err) : RLV_PROTO_OK;
}

rlv_proto_code rlv_proto_reply_open_map(rlv_proto_reply *r, const char *key, rlv_proto_error *err) {
    return open_nested(r, key, true, err);
}

rlv_proto_code rlv_proto_reply_open_array(rlv_proto_reply *r, const char *key, rlv_proto_error *err) {
    return open_nested(r, key, false, err);
}

static void patch(rlv_proto_reply *r) {
    uint32_t n = r->open[r->depth].count;
    uint8_t *p = (uint8_t *)r->sb.data + r->open[r->depth].off + 1;
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}

rlv_proto_code rlv_proto_reply_close(rlv_proto_reply *r, rlv_proto_error *err) {
    if (!r->building || r->depth == 0) return misuse(r, err, "close without open");
    patch(r);
    r->depth--;
    return RLV_PROTO_OK;
}

rlv_proto_code rlv_proto_reply_add_limits(rlv_proto_reply *r, const char *key, const rlv_proto_limits *lim, rlv_proto_error *err) {
    rlv_proto_code rc = rlv_proto_reply_open_map(r, key, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_add_uint(r, "max_message_bytes", lim->max_message_bytes, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_add_uint(r, "max_image_bytes", lim->max_image_bytes, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_add_uint(r, "max_candidates", lim->max_candidates, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_add_uint(r, "max_candidate_bytes", lim->max_candidate_bytes, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_add_uint(r, "max_prompt_bytes", lim->max_prompt_bytes, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_add_uint(r, "max_id_bytes", lim->max_id_bytes, err);
    if (rc == RLV_PROTO_OK) rc = rlv_proto_reply_close(r, err);
    return rc;
}

rlv_proto_code rlv_proto_reply_end(rlv_proto_reply *r, rlv_proto_error *err) {
    if (!r->building) return misuse(r, err, "end before begin");
    if (r->depth != 0) return misuse(r, err, "end with a map or array still open");
    patch(r);
    r->building = false;
    r->complete = true;
    return RLV_PROTO_OK;
}
