/* reply_json.c — msgpack reply -> JSON with jansson, a score reply's JSON <-> its typed result (see reply_json.h). */
#include "reply_json.h"

#include <limits.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rlaifv_proto.h"

static json_t *to_json(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++) json_array_append_new(a, to_json(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (k->type != MSGPACK_OBJECT_STR) continue;
            char key[128];
            snprintf(key, sizeof key, "%.*s", (int)(k->via.str.size < 127 ? k->via.str.size : 127), k->via.str.ptr);
            json_object_set_new(m, key, to_json(&o->via.map.ptr[i].val));
        }
        return m;
    }
    default: return json_null();
    }
}

json_t *reply_to_json(const void *data, size_t len) {
    if (rlv_proto_check_msgpack(data, len) != 0) return NULL;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    json_t *r = NULL;
    if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS && u.data.type == MSGPACK_OBJECT_MAP)
        r = to_json(&u.data);
    msgpack_unpacked_destroy(&u);
    return r;
}

/* Filling a score result: where the next token_logps go (NULL: a counting pass, nothing written). */
typedef struct fill {
    float *tok;
    size_t floats; /* token_logps entries seen */
} fill;

/* One model's log-likelihoods of a ranking entry into l (NULL: count only); false when o is not
 * their shape. */
static bool logps_of(const json_t *o, int tokens, rlv_proto_logps *l, fill *f) {
    const json_t *sum = json_object_get(o, "logp_sum"), *mean = json_object_get(o, "logp_mean"),
                 *tl = json_object_get(o, "token_logps"), *x;
    if (!json_is_number(sum) || !json_is_number(mean) || (tl && (!json_is_array(tl) || json_array_size(tl) != (size_t)tokens)))
        return false;
    size_t i;
    json_array_foreach(tl, i, x) {
        if (!json_is_number(x)) return false;
        if (l) f->tok[i] = (float)json_number_value(x); /* the daemon sent float32: exact */
    }
    if (l) {
        *l = (rlv_proto_logps){json_number_value(sum), json_number_value(mean), tl ? f->tok : NULL};
        if (tl) f->tok += tokens;
    }
    if (tl) f->floats += (size_t)tokens;
    return true;
}

/* One pass over the reply r: checks its shape and counts (out NULL), or fills out, rk[n] and f's
 * floats (kind: the reward kind's copy). */
static bool score_pass(const json_t *r, rlv_proto_score_result *out, rlv_proto_ranked *rk, char *kind, fill *f) {
    static const char *const step[4] = {"image", "prefix", "candidates", "total"};
    const json_t *rank = json_object_get(r, "ranking"), *t = json_object_get(r, "timing_ms"), *beta = json_object_get(r, "beta");
    const json_t *cached = json_object_get(t, "cached"), *x;
    const char *k = json_string_value(json_object_get(r, "reward_kind"));
    double ms[4];
    for (int i = 0; i < 4; i++) {
        x = json_object_get(t, step[i]);
        if (!json_is_number(x)) return false;
        ms[i] = json_number_value(x);
    }
    if (!k || !json_is_number(beta) || !json_is_array(rank) || (cached && !json_is_array(cached))) return false;
    size_t n = json_array_size(rank), i;
    bool has_ref = json_object_get(json_array_get(rank, 0), "reference") != NULL;
    for (i = 0; i < n; i++) {
        const json_t *e = json_array_get(rank, i), *idx = json_object_get(e, "index"), *tk = json_object_get(e, "tokens");
        const json_t *rw = json_object_get(e, "reward"), *ref = json_object_get(e, "reference");
        if (!json_is_integer(idx) || json_integer_value(idx) < 0 || json_integer_value(idx) > INT_MAX || !json_is_number(rw) ||
            !json_is_integer(tk) || json_integer_value(tk) < 0 || json_integer_value(tk) > INT_MAX || (ref != NULL) != has_ref)
            return false;
        int tokens = (int)json_integer_value(tk);
        rlv_proto_ranked *d = rk ? &rk[i] : NULL;
        if (!logps_of(json_object_get(e, "policy"), tokens, d ? &d->policy : NULL, f) ||
            (has_ref && !logps_of(ref, tokens, d ? &d->reference : NULL, f)))
            return false;
        if (d) {
            d->index = (int)json_integer_value(idx);
            d->reward = json_number_value(rw);
            d->tokens = tokens;
            if (!has_ref) d->reference = (rlv_proto_logps){0};
        }
    }
    if (!out) return true;
    bool image = false, prefix = false;
    json_array_foreach(cached, i, x) {
        const char *s = json_string_value(x);
        image |= s && !strcmp(s, "image");
        prefix |= s && !strcmp(s, "prefix");
    }
    memcpy(kind, k, strlen(k) + 1);
    *out = (rlv_proto_score_result){.reward_kind = kind, .beta = json_number_value(beta), .has_reference = has_ref, .n = n,
                                    .ranking = rk, .image_ms = ms[0], .prefix_ms = ms[1], .candidates_ms = ms[2],
                                    .total_ms = ms[3], .image_cached = image, .prefix_cached = prefix, .v = cached ? 2 : 1};
    return true;
}

/* The block reply_score_result returns: the result, its ranking, then the floats and the name. */
typedef struct score_block {
    rlv_proto_score_result res;
    rlv_proto_ranked rk[];
} score_block;

rlv_proto_score_result *reply_score_result(const json_t *r) {
    fill count = {0};
    if (!score_pass(r, NULL, NULL, NULL, &count)) return NULL;
    size_t n = json_array_size(json_object_get(r, "ranking"));
    size_t kind_len = strlen(json_string_value(json_object_get(r, "reward_kind"))) + 1;
    score_block *b = malloc(sizeof *b + n * sizeof b->rk[0] + count.floats * sizeof(float) + kind_len);
    if (!b) return NULL;
    fill f = {.tok = (float *)(void *)&b->rk[n]};
    if (!score_pass(r, &b->res, b->rk, (char *)(f.tok + count.floats), &f)) { /* cannot fail: the same checks passed */
        free(b);
        return NULL;
    }
    return &b->res;
}

static json_t *logps_json(const rlv_proto_logps *l, int tokens) {
    json_t *o = json_object();
    json_object_set_new(o, "logp_sum", json_real(l->logp_sum));
    json_object_set_new(o, "logp_mean", json_real(l->logp_mean));
    if (l->token_logps) {
        json_t *a = json_array();
        for (int t = 0; t < tokens; t++) json_array_append_new(a, json_real(l->token_logps[t]));
        json_object_set_new(o, "token_logps", a);
    }
    return o;
}

json_t *score_result_json(const rlv_proto_score_result *r) {
    json_t *o = json_object();
    json_object_set_new(o, "reward_kind", json_string(r->reward_kind));
    json_object_set_new(o, "beta", json_real(r->beta));
    json_t *rank = json_array();
    for (size_t i = 0; i < r->n; i++) {
        const rlv_proto_ranked *c = &r->ranking[i];
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer(c->index));
        json_object_set_new(e, "reward", json_real(c->reward));
        json_object_set_new(e, "tokens", json_integer(c->tokens));
        json_object_set_new(e, "policy", logps_json(&c->policy, c->tokens));
        if (r->has_reference) json_object_set_new(e, "reference", logps_json(&c->reference, c->tokens));
        json_array_append_new(rank, e);
    }
    json_object_set_new(o, "ranking", rank);
    json_t *t = json_object();
    json_object_set_new(t, "image", json_real(r->image_ms));
    json_object_set_new(t, "prefix", json_real(r->prefix_ms));
    json_object_set_new(t, "candidates", json_real(r->candidates_ms));
    json_object_set_new(t, "total", json_real(r->total_ms));
    if (r->v >= 2) { /* the steps served from cache, as the daemon's reply names them (v2 on) */
        json_t *cached = json_array();
        if (r->image_cached) json_array_append_new(cached, json_string("image"));
        if (r->prefix_cached) json_array_append_new(cached, json_string("prefix"));
        json_object_set_new(t, "cached", cached);
    }
    json_object_set_new(o, "timing_ms", t);
    return o;
}
