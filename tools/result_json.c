/* result_json.c — rlv_result -> JSON with jansson (see result_json.h). */
#include "result_json.h"

static json_t *logps_json(const rlv_logps *l, int tokens) {
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

json_t *result_to_json(const rlv_result *r) {
    json_t *o = json_object();
    json_object_set_new(o, "reward_kind", json_string(rlv_reward_name(r->reward)));
    json_object_set_new(o, "beta", json_real(r->beta));
    json_t *rank = json_array();
    for (int i = 0; i < r->n; i++) {
        const rlv_ranked *c = &r->ranking[i];
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
    json_t *cached = json_array(); /* the steps served from cache, as the daemon's reply names them */
    if (r->image_cache_hit) json_array_append_new(cached, json_string("image"));
    if (r->prefix_cache_hit) json_array_append_new(cached, json_string("prefix"));
    json_object_set_new(t, "cached", cached);
    json_object_set_new(o, "timing_ms", t);
    return o;
}
