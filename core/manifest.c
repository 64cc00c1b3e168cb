/* manifest.c — expected tensors of OmniLMMForCausalLM.state_dict() (tune_clip=True) and the check.
 * 9 per decoder layer + 3, 13 per stored ViT block + 6, 14 in the resampler: 1130 for RLAIF-V-12B. */
#include "manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { manifest_entry *v; int n, cap; } list;

static int add(list *l, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt, ...) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        manifest_entry *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return RLV_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    manifest_entry *e = &l->v[l->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->name, sizeof e->name, fmt, ap);
    va_end(ap);
    e->ndim = ndim;
    e->shape[0] = a, e->shape[1] = b, e->shape[2] = c, e->shape[3] = d;
    return RLV_OK;
}

#define V1(n, ...) add(&l, 1, n, 0, 0, 0, __VA_ARGS__)
#define M2(r, c, ...) add(&l, 2, r, c, 0, 0, __VA_ARGS__)

int manifest_build(const rlv_config *cfg, manifest_entry **out, int *n, rlv_err *err) {
    list l = {0};
    const int64_t H = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
    const int64_t Q = cfg->num_query, KV = cfg->kv_dim, QD = (int64_t)cfg->num_attention_heads * cfg->head_dim;
    const int64_t D = cfg->vision.embed_dim, M = cfg->vision.mlp_dim, P = cfg->vision.patch_size;
    const int64_t G = cfg->vision.base_grid;
    int rc = M2(V, H, "model.embed_tokens.weight");
    for (int i = 0; i < cfg->num_hidden_layers && !rc; i++) {
        rc |= M2(QD, H, "model.layers.%d.self_attn.q_proj.weight", i);
        rc |= M2(KV, H, "model.layers.%d.self_attn.k_proj.weight", i);
        rc |= M2(KV, H, "model.layers.%d.self_attn.v_proj.weight", i);
        rc |= M2(H, QD, "model.layers.%d.self_attn.o_proj.weight", i);
        rc |= M2(F, H, "model.layers.%d.mlp.gate_proj.weight", i);
        rc |= M2(F, H, "model.layers.%d.mlp.up_proj.weight", i);
        rc |= M2(H, F, "model.layers.%d.mlp.down_proj.weight", i);
        rc |= V1(H, "model.layers.%d.input_layernorm.weight", i);
        rc |= V1(H, "model.layers.%d.post_attention_layernorm.weight", i);
    }
    rc |= V1(H, "model.norm.weight");
    rc |= add(&l, 3, 1, 1, D, 0, "model.vision_tower.cls_token");
    rc |= add(&l, 3, 1, 1 + G * G, D, 0, "model.vision_tower.pos_embed");
    rc |= add(&l, 4, D, 3, P, P, "model.vision_tower.patch_embed.proj.weight");
    rc |= V1(D, "model.vision_tower.patch_embed.proj.bias");
    for (int j = 0; j < cfg->vision.depth - 1 && !rc; j++) {
        const char *b = "model.vision_tower.blocks";
        rc |= V1(D, "%s.%d.norm1.weight", b, j);
        rc |= V1(D, "%s.%d.norm1.bias", b, j);
        rc |= V1(D, "%s.%d.attn.q_bias", b, j);
        rc |= V1(D, "%s.%d.attn.v_bias", b, j);
        rc |= M2(3 * D, D, "%s.%d.attn.qkv.weight", b, j);
        rc |= M2(D, D, "%s.%d.attn.proj.weight", b, j);
        rc |= V1(D, "%s.%d.attn.proj.bias", b, j);
        rc |= V1(D, "%s.%d.norm2.weight", b, j);
        rc |= V1(D, "%s.%d.norm2.bias", b, j);
        rc |= M2(M, D, "%s.%d.mlp.fc1.weight", b, j);
        rc |= V1(M, "%s.%d.mlp.fc1.bias", b, j);
        rc |= M2(D, M, "%s.%d.mlp.fc2.weight", b, j);
        rc |= V1(D, "%s.%d.mlp.fc2.bias", b, j);
    }
    rc |= V1(D, "model.vision_tower.norm.weight");
    rc |= V1(D, "model.vision_tower.norm.bias");
    rc |= M2(Q, H, "model.resampler.query");
    rc |= M2(Q, H, "model.resampler.pos_embed");
    rc |= M2(H, H, "model.resampler.proj");
    rc |= M2(H, D, "model.resampler.kv_proj.weight");
    rc |= M2(3 * H, H, "model.resampler.attn.in_proj_weight");
    rc |= V1(3 * H, "model.resampler.attn.in_proj_bias");
    rc |= M2(H, H, "model.resampler.attn.out_proj.weight");
    rc |= V1(H, "model.resampler.attn.out_proj.bias");
    const char *ln[] = {"ln_q", "ln_kv", "ln_post"};
    for (int k = 0; k < 3; k++) {
        rc |= V1(H, "model.resampler.%s.weight", ln[k]);
        rc |= V1(H, "model.resampler.%s.bias", ln[k]);
    }
    if (!cfg->tie_word_embeddings) rc |= M2(V, H, "lm_head.weight");
    if (rc) {
        free(l.v);
        return rlv_errf(err, RLV_ENOMEM, "manifest: out of memory");
    }
    *out = l.v;
    *n = l.n;
    return RLV_OK;
}

static int same_shape(const manifest_entry *e, const rlv_tensor *t) {
    if (e->ndim != t->ndim) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] != t->shape[i]) return 0;
    return 1;
}

int manifest_check(const rlv_config *cfg, const ckpt *c,
                   void (*cb)(void *ctx, manifest_problem kind, const char *msg), void *ctx,
                   manifest_report *rep, rlv_err *err) {
    manifest_entry *m;
    int n;
    int rc = manifest_build(cfg, &m, &n, err);
    if (rc) return rc;
    manifest_report r = {.expected = n};
    char msg[512], first[512] = "", a[160], b[160];
    for (int i = 0; i < n; i++) {
        const rlv_tensor *t = ckpt_find(c, m[i].name);
        if (!t) {
            snprintf(msg, sizeof msg, "missing tensor '%s' (expected shape %s)", m[i].name,
                     (rlv_shape_str(m[i].shape, m[i].ndim, a, sizeof a), a));
            r.missing++;
            if (cb) cb(ctx, MANIFEST_MISSING, msg);
        } else if (!same_shape(&m[i], t)) {
            rlv_shape_str(m[i].shape, m[i].ndim, a, sizeof a);
            rlv_shape_str(t->shape, t->ndim, b, sizeof b);
            snprintf(msg, sizeof msg, "tensor '%s' has shape %s, expected %s", m[i].name, b, a);
            r.bad_shape++;
            if (cb) cb(ctx, MANIFEST_BAD_SHAPE, msg);
        } else {
            continue;
        }
        if (!first[0]) snprintf(first, sizeof first, "%s", msg);
    }
    /* Unexpected: names in the checkpoint the manifest does not list (a warning). */
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = !strcmp(m[j].name, t->name);
        if (!found) {
            r.unexpected++;
            snprintf(msg, sizeof msg, "unexpected tensor '%s' (ignored)", t->name);
            if (cb) cb(ctx, MANIFEST_UNEXPECTED, msg);
        }
    }
    free(m);
    if (rep) *rep = r;
    if (r.missing || r.bad_shape)
        return rlv_errf(err, r.missing ? RLV_EMISSING : RLV_ESHAPE,
                        "checkpoint does not match the manifest: %d missing, %d wrong shape; first: %s",
                        r.missing, r.bad_shape, first);
    return RLV_OK;
}
