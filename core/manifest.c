/* manifest.c — expected tensors of OmniLMMForCausalLM.state_dict() (tune_clip=True) and the check.
 * 9 per decoder layer + 3, 13 per stored ViT block + 6, 14 in the resampler: 1130 for RLAIF-V-12B. */
#include "manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "q8.h"

typedef struct { manifest_entry *v; int n, cap; } list;

static int add(list *l, int q8, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *fmt, ...) {
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
    e->q8 = q8;
    e->shape[0] = a, e->shape[1] = b, e->shape[2] = c, e->shape[3] = d;
    return RLV_OK;
}

/* V1: a vector (norm, bias); M2: a weight matrix, q8-able; T2: a 2-D table kept as stored. */
#define V1(n, ...) add(&l, 0, 1, n, 0, 0, 0, __VA_ARGS__)
#define M2(r, c, ...) add(&l, 1, 2, r, c, 0, 0, __VA_ARGS__)
#define T2(r, c, ...) add(&l, 0, 2, r, c, 0, 0, __VA_ARGS__)

int manifest_build(const rlv_model_config *cfg, manifest_entry **out, int *n, rlv_err *err) {
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
    rc |= add(&l, 0, 3, 1, 1, D, 0, "model.vision_tower.cls_token");
    rc |= add(&l, 0, 3, 1, 1 + G * G, D, 0, "model.vision_tower.pos_embed");
    rc |= add(&l, 0, 4, D, 3, P, P, "model.vision_tower.patch_embed.proj.weight");
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
    rc |= T2(Q, H, "model.resampler.query");
    rc |= T2(Q, H, "model.resampler.pos_embed");
    rc |= M2(H, H, "model.resampler.proj"); /* used as x.proj: blocks run along its output dim */
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

int manifest_check(const rlv_model_config *cfg, const ckpt *c,
                   void (*cb)(void *ctx, manifest_problem kind, const char *msg), void *ctx,
                   manifest_report *rep, rlv_err *err) {
    manifest_entry *m;
    int n;
    int rc = manifest_build(cfg, &m, &n, err);
    if (rc) return rc;
    manifest_report r = {.expected = n};
    char msg[RLV_ERR_MSG_MAX], first[RLV_ERR_MSG_MAX] = "", a[160], b[160];
    rlv_err qe;
    for (int i = 0; i < n; i++) {
        const rlv_tensor *t = ckpt_find(c, m[i].name);
        manifest_problem kind;
        if (!t) {
            snprintf(msg, sizeof msg, "missing tensor '%s' (expected shape %s)", m[i].name,
                     (rlv_shape_str(m[i].shape, m[i].ndim, a, sizeof a), a));
            r.missing++;
            kind = MANIFEST_MISSING;
        } else if (!same_shape(&m[i], t)) {
            rlv_shape_str(m[i].shape, m[i].ndim, a, sizeof a);
            rlv_shape_str(t->shape, t->ndim, b, sizeof b);
            snprintf(msg, sizeof msg, "tensor '%s' has shape %s, expected %s", m[i].name, b, a);
            r.bad_shape++;
            kind = MANIFEST_BAD_SHAPE;
        } else if (t->dtype == RLV_I8 && !m[i].q8) {
            snprintf(msg, sizeof msg, "tensor '%s' is I8; only weight matrices may be q8, this one keeps "
                     "F32/F16/BF16 (docs/quantization.md)", m[i].name);
            r.bad_dtype++;
            kind = MANIFEST_BAD_DTYPE;
        } else if (t->dtype == RLV_I8 && ckpt_q8(c, t, NULL, NULL, &qe)) {
            snprintf(msg, sizeof msg, "%s", qe.msg);
            r.bad_q8++;
            kind = MANIFEST_BAD_Q8;
        } else {
            r.q8 += t->dtype == RLV_I8;
            continue;
        }
        if (cb) cb(ctx, kind, msg);
        if (!first[0]) snprintf(first, sizeof first, "%s", msg);
    }
    /* Unexpected: names in the checkpoint the manifest does not list (a warning), except the
     * scales of q8 weights; a "_scale" tensor whose weight is not I8 is an error (stray). */
    const size_t sl = strlen(Q8_SCALE_SUFFIX);
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i);
        const char *name = t->name;
        size_t len = strlen(name);
        char base[MANIFEST_NAME_MAX + 8] = "";
        int is_scale = len > sl && !strcmp(name + len - sl, Q8_SCALE_SUFFIX);
        if (is_scale && len - sl < sizeof base) {
            memcpy(base, name, len - sl);
            base[len - sl] = 0;
        }
        if (is_scale) {
            const rlv_tensor *w = base[0] ? ckpt_find(c, base) : NULL;
            if (!w || w->dtype != RLV_I8) {
                snprintf(msg, sizeof msg, "stray scale tensor '%s': %s", name,
                         !base[0] || !w ? "no q8 weight of that name" : "its weight is not I8");
                r.bad_q8++;
                if (cb) cb(ctx, MANIFEST_BAD_Q8, msg);
                if (!first[0]) snprintf(first, sizeof first, "%s", msg);
                continue;
            }
            name = base;
        }
        int found = 0;
        for (int j = 0; j < n && !found; j++) found = !strcmp(m[j].name, name);
        if (!found) {
            r.unexpected++;
            snprintf(msg, sizeof msg, "unexpected tensor '%s' (ignored)", t->name);
            if (cb) cb(ctx, MANIFEST_UNEXPECTED, msg);
        }
    }
    free(m);
    if (rep) *rep = r;
    if (first[0])
        return rlv_errf(err, r.missing ? RLV_EMISSING : r.bad_shape ? RLV_ESHAPE : r.bad_dtype ? RLV_EDTYPE : RLV_EQ8,
                        "checkpoint does not match the manifest: %d missing, %d wrong shape, %d I8 not allowed, "
                        "%d bad q8; first: %s", r.missing, r.bad_shape, r.bad_dtype, r.bad_q8, first);
    return RLV_OK;
}
