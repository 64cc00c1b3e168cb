/* manifest.c — expected tensors of OmniLMMForCausalLM.state_dict() (tune_clip=True) and the check.
 * 9 per decoder layer + 3, 13 per stored ViT block + 6, 14 in the resampler: 1130 for RLAIF-V-12B. */
#include "manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "prefix.h"
#include "q8.h"

/* A size of the manifest, in terms of cfg (sizes_of). */
typedef enum {
    S_1, S_3,
    S_H, S_F, S_V, S_QD, S_KV,  /* decoder: hidden, intermediate, vocab, heads x head_dim, kv_dim */
    S_D, S_M, S_P, S_POS, S_3D, /* ViT: width, MLP width, patch, 1 + base_grid^2 rows, 3 x width */
    S_Q, S_3H,                  /* resampler: num_query, 3 x hidden */
    S_COUNT
} size_id;

static void sizes_of(const rlv_model_config *cfg, int64_t s[S_COUNT]) {
    const rlv_vision_config *v = &cfg->vision;
    s[S_1] = 1, s[S_3] = 3;
    s[S_H] = cfg->hidden_size, s[S_F] = cfg->intermediate_size, s[S_V] = cfg->vocab_size;
    s[S_QD] = (int64_t)cfg->num_attention_heads * cfg->head_dim, s[S_KV] = cfg->kv_dim;
    s[S_D] = v->embed_dim, s[S_M] = v->mlp_dim, s[S_P] = v->patch_size;
    s[S_POS] = 1 + (int64_t)v->base_grid * v->base_grid, s[S_3D] = 3 * (int64_t)v->embed_dim;
    s[S_Q] = cfg->num_query, s[S_3H] = 3 * (int64_t)cfg->hidden_size;
}

/* How many of a tensor there are: one, one per decoder layer, one per stored ViT block (depth - 1),
 * or one unless the embeddings are tied. */
typedef enum { ONCE, PER_LAYER, PER_BLOCK, UNTIED } multiplicity;

static int count_of(const rlv_model_config *cfg, multiplicity m) {
    switch (m) {
    case PER_LAYER: return cfg->num_hidden_layers;
    case PER_BLOCK: return cfg->vision.depth - 1;
    case UNTIED: return !cfg->tie_word_embeddings;
    default: return 1;
    }
}

/* The prefixes of the vision tower's and the resampler's tensors (manifest_is_vision). */
#define VT "model.vision_tower."
#define RS "model.resampler."

/* VEC: a vector (norm, bias); MAT: a weight matrix, q8-able; TAB: a table or a 3-D/4-D tensor
 * kept as stored. */
enum { VEC, MAT, TAB };

static const struct spec {
    const char *name; /* printf format; %d is the layer / block */
    multiplicity per;
    int kind, ndim;
    size_id shape[4];
} SPEC[MT_COUNT] = {
    [MT_LLM_EMBED] = {"model.embed_tokens.weight", ONCE, MAT, 2, {S_V, S_H}},
    [MT_LLM_Q] = {"model.layers.%d.self_attn.q_proj.weight", PER_LAYER, MAT, 2, {S_QD, S_H}},
    [MT_LLM_K] = {"model.layers.%d.self_attn.k_proj.weight", PER_LAYER, MAT, 2, {S_KV, S_H}},
    [MT_LLM_V] = {"model.layers.%d.self_attn.v_proj.weight", PER_LAYER, MAT, 2, {S_KV, S_H}},
    [MT_LLM_O] = {"model.layers.%d.self_attn.o_proj.weight", PER_LAYER, MAT, 2, {S_H, S_QD}},
    [MT_LLM_GATE] = {"model.layers.%d.mlp.gate_proj.weight", PER_LAYER, MAT, 2, {S_F, S_H}},
    [MT_LLM_UP] = {"model.layers.%d.mlp.up_proj.weight", PER_LAYER, MAT, 2, {S_F, S_H}},
    [MT_LLM_DOWN] = {"model.layers.%d.mlp.down_proj.weight", PER_LAYER, MAT, 2, {S_H, S_F}},
    [MT_LLM_LN_IN] = {"model.layers.%d.input_layernorm.weight", PER_LAYER, VEC, 1, {S_H}},
    [MT_LLM_LN_POST] = {"model.layers.%d.post_attention_layernorm.weight", PER_LAYER, VEC, 1, {S_H}},
    [MT_LLM_NORM] = {"model.norm.weight", ONCE, VEC, 1, {S_H}},
    [MT_VIT_CLS] = {VT "cls_token", ONCE, TAB, 3, {S_1, S_1, S_D}},
    [MT_VIT_POS] = {VT "pos_embed", ONCE, TAB, 3, {S_1, S_POS, S_D}},
    [MT_VIT_PATCH_W] = {VT "patch_embed.proj.weight", ONCE, TAB, 4, {S_D, S_3, S_P, S_P}},
    [MT_VIT_PATCH_B] = {VT "patch_embed.proj.bias", ONCE, VEC, 1, {S_D}},
    [MT_VIT_NORM1_W] = {VT "blocks.%d.norm1.weight", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_NORM1_B] = {VT "blocks.%d.norm1.bias", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_Q_BIAS] = {VT "blocks.%d.attn.q_bias", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_V_BIAS] = {VT "blocks.%d.attn.v_bias", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_QKV] = {VT "blocks.%d.attn.qkv.weight", PER_BLOCK, MAT, 2, {S_3D, S_D}},
    [MT_VIT_PROJ_W] = {VT "blocks.%d.attn.proj.weight", PER_BLOCK, MAT, 2, {S_D, S_D}},
    [MT_VIT_PROJ_B] = {VT "blocks.%d.attn.proj.bias", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_NORM2_W] = {VT "blocks.%d.norm2.weight", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_NORM2_B] = {VT "blocks.%d.norm2.bias", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_FC1_W] = {VT "blocks.%d.mlp.fc1.weight", PER_BLOCK, MAT, 2, {S_M, S_D}},
    [MT_VIT_FC1_B] = {VT "blocks.%d.mlp.fc1.bias", PER_BLOCK, VEC, 1, {S_M}},
    [MT_VIT_FC2_W] = {VT "blocks.%d.mlp.fc2.weight", PER_BLOCK, MAT, 2, {S_D, S_M}},
    [MT_VIT_FC2_B] = {VT "blocks.%d.mlp.fc2.bias", PER_BLOCK, VEC, 1, {S_D}},
    [MT_VIT_NORM_W] = {VT "norm.weight", ONCE, VEC, 1, {S_D}},
    [MT_VIT_NORM_B] = {VT "norm.bias", ONCE, VEC, 1, {S_D}},
    [MT_RS_QUERY] = {RS "query", ONCE, TAB, 2, {S_Q, S_H}},
    [MT_RS_POS] = {RS "pos_embed", ONCE, TAB, 2, {S_Q, S_H}},
    /* used as x.proj: its q8 blocks run along its output dim */
    [MT_RS_PROJ] = {RS "proj", ONCE, MAT, 2, {S_H, S_H}},
    [MT_RS_KV_PROJ] = {RS "kv_proj.weight", ONCE, MAT, 2, {S_H, S_D}},
    [MT_RS_IN_PROJ_W] = {RS "attn.in_proj_weight", ONCE, MAT, 2, {S_3H, S_H}},
    [MT_RS_IN_PROJ_B] = {RS "attn.in_proj_bias", ONCE, VEC, 1, {S_3H}},
    [MT_RS_OUT_PROJ_W] = {RS "attn.out_proj.weight", ONCE, MAT, 2, {S_H, S_H}},
    [MT_RS_OUT_PROJ_B] = {RS "attn.out_proj.bias", ONCE, VEC, 1, {S_H}},
    [MT_RS_LN_Q_W] = {RS "ln_q.weight", ONCE, VEC, 1, {S_H}},
    [MT_RS_LN_Q_B] = {RS "ln_q.bias", ONCE, VEC, 1, {S_H}},
    [MT_RS_LN_KV_W] = {RS "ln_kv.weight", ONCE, VEC, 1, {S_H}},
    [MT_RS_LN_KV_B] = {RS "ln_kv.bias", ONCE, VEC, 1, {S_H}},
    [MT_RS_LN_POST_W] = {RS "ln_post.weight", ONCE, VEC, 1, {S_H}},
    [MT_RS_LN_POST_B] = {RS "ln_post.bias", ONCE, VEC, 1, {S_H}},
    [MT_LLM_HEAD] = {"lm_head.weight", UNTIED, MAT, 2, {S_V, S_H}},
};

/* The entry of tensor id, layer / block index, under sizes s. */
static void entry_of(const int64_t s[S_COUNT], manifest_id id, int index, manifest_entry *e) {
    const struct spec *p = &SPEC[id];
    RLV_ASSERT(p->name); /* every id has its row */
    snprintf(e->name, sizeof e->name, p->name, index); /* a name without %d ignores index */
    e->id = id;
    e->index = index;
    e->ndim = p->ndim;
    e->q8 = p->kind == MAT;
    for (int i = 0; i < 4; i++) e->shape[i] = i < p->ndim ? s[p->shape[i]] : 0;
}

int manifest_build(const rlv_model_config *cfg, manifest_entry **out, int *n, rlv_err *err) {
    int64_t s[S_COUNT];
    sizes_of(cfg, s);
    /* ids are in state_dict order; a run of ids of one multiplicity repeats layer by layer */
    int total = 0;
    for (int id = 0; id < MT_COUNT; id++) total += count_of(cfg, SPEC[id].per);
    manifest_entry *v = malloc((size_t)(total ? total : 1) * sizeof *v);
    if (!v) return rlv_errf(err, RLV_ENOMEM, "manifest: out of memory");
    int k = 0;
    for (int id = 0; id < MT_COUNT;) {
        int end = id + 1;
        while (end < MT_COUNT && SPEC[id].per != ONCE && SPEC[end].per == SPEC[id].per) end++;
        for (int i = 0; i < count_of(cfg, SPEC[id].per); i++)
            for (int j = id; j < end; j++) entry_of(s, (manifest_id)j, i, &v[k++]);
        id = end;
    }
    RLV_ASSERT(k == total);
    *out = v;
    *n = total;
    return RLV_OK;
}

static int same_shape(const manifest_entry *e, const rlv_tensor *t) {
    if (e->ndim != t->ndim) return 0;
    for (int i = 0; i < e->ndim; i++)
        if (e->shape[i] != t->shape[i]) return 0;
    return 1;
}

/* The check of one expected tensor: -1 and *out = the tensor when it passes, else the problem
 * (MANIFEST_MISSING .. MANIFEST_BAD_Q8) with its one-line message in msg. */
static int check_entry(const ckpt *c, const manifest_entry *e, const rlv_tensor **out, char *msg, size_t cap) {
    const rlv_tensor *t = ckpt_find(c, e->name);
    char a[160], b[160];
    rlv_err qe;
    if (!t) {
        rlv_shape_str(e->shape, e->ndim, a, sizeof a);
        snprintf(msg, cap, "missing tensor '%s' (expected shape %s)", e->name, a);
        return MANIFEST_MISSING;
    }
    if (!same_shape(e, t)) {
        rlv_shape_str(e->shape, e->ndim, a, sizeof a);
        rlv_shape_str(t->shape, t->ndim, b, sizeof b);
        snprintf(msg, cap, "tensor '%s' has shape %s, expected %s", e->name, b, a);
        return MANIFEST_BAD_SHAPE;
    }
    if (t->dtype == RLV_I8 && !e->q8) {
        snprintf(msg, cap, "tensor '%s' is I8; only weight matrices may be q8, this one keeps "
                 "F32/F16/BF16 (docs/quantization.md)", e->name);
        return MANIFEST_BAD_DTYPE;
    }
    if (t->dtype == RLV_I8 && ckpt_q8(c, t, NULL, NULL, &qe)) {
        snprintf(msg, cap, "%s", qe.msg);
        return MANIFEST_BAD_Q8;
    }
    *out = t;
    return -1;
}

/* The error code of each problem. */
static const int PROBLEM_CODE[] = {
    [MANIFEST_MISSING] = RLV_EMISSING, [MANIFEST_BAD_SHAPE] = RLV_ESHAPE,
    [MANIFEST_BAD_DTYPE] = RLV_EDTYPE, [MANIFEST_BAD_Q8] = RLV_EQ8,
};

int manifest_want(const rlv_model_config *cfg, const ckpt *c, manifest_id id, int index, const rlv_tensor **out,
                  rlv_err *err) {
    RLV_ASSERT(id >= 0 && id < MT_COUNT && index >= 0 && index < count_of(cfg, SPEC[id].per));
    int64_t s[S_COUNT];
    sizes_of(cfg, s);
    manifest_entry e;
    entry_of(s, id, index, &e);
    char msg[RLV_ERR_MSG_MAX];
    int kind = check_entry(c, &e, out, msg, sizeof msg);
    return kind < 0 ? RLV_OK : rlv_errf(err, PROBLEM_CODE[kind], "%s", msg);
}

int manifest_want_f32(const rlv_model_config *cfg, const ckpt *c, manifest_id id, int index, float *dst, size_t *n,
                      rlv_err *err) {
    RLV_ASSERT(SPEC[id].kind != MAT);
    const rlv_tensor *t = NULL;
    int rc = manifest_want(cfg, c, id, index, &t, err);
    if (rc) return rc;
    size_t k = (size_t)rlv_tensor_numel(t);
    half_to_f32_n(dst, t->data, t->dtype, k);
    if (n) *n = k;
    return RLV_OK;
}

int manifest_check(const rlv_model_config *cfg, const ckpt *c,
                   void (*cb)(void *ctx, manifest_problem kind, const char *msg), void *ctx,
                   manifest_report *rep, rlv_err *err) {
    manifest_entry *m;
    int n;
    int rc = manifest_build(cfg, &m, &n, err);
    if (rc) return rc;
    manifest_report r = {.expected = n};
    char msg[RLV_ERR_MSG_MAX], first[RLV_ERR_MSG_MAX] = "";
    int *tally[] = {[MANIFEST_MISSING] = &r.missing, [MANIFEST_BAD_SHAPE] = &r.bad_shape,
                    [MANIFEST_BAD_DTYPE] = &r.bad_dtype, [MANIFEST_BAD_Q8] = &r.bad_q8};
    for (int i = 0; i < n; i++) {
        const rlv_tensor *t = NULL;
        int kind = check_entry(c, &m[i], &t, msg, sizeof msg);
        if (kind < 0) {
            r.q8 += t->dtype == RLV_I8;
            continue;
        }
        (*tally[kind])++;
        if (cb) cb(ctx, (manifest_problem)kind, msg);
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

int manifest_is_vision(const char *name) { return prefix_skip(name, VT) || prefix_skip(name, RS); }
