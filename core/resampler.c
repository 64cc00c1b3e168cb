/* resampler.c — cross-attention of num_query learned queries over the ViT features (resampler.h).
 *
 * With x = ViT features [N][Dv], E = hidden, heads = cfg.resampler_heads of width hd = E / heads
 * (128, RLV_RESAMPLER_HEAD_DIM) (docs/model.md §6):
 *   kv = LN_kv(x.Wkv^T)                         [N][E]
 *   K' = (kv + pos_k).Wk^T + bk,  V' = kv.Wv^T + bv   (the key table is added to keys only)
 *   Q' = (LN_q(query) + pos_q).Wq^T + bq        [Q][E]   image-independent: computed at load
 *   o  = concat_h softmax(Q'_h.K'_h^T / sqrt(hd)).V'_h . Wout^T + bout
 *   y  = LN_post(o) . proj                      (proj used as stored, not transposed)
 * Wq, Wk, Wv are the three row blocks of the packed in_proj_weight; no copy is made of them. */
#include "resampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "hugemem.h"
#include "manifest.h"
#include "mm.h"
#include "timing.h"
#include "nn.h"

struct resampler_model {
    int E, Q, N, Dv, heads, hd;
    float ln_eps;        /* every LayerNorm's eps (rlv_vision_config.ln_eps) */
    mm_weight kv_proj;   /* [E, Dv] (each matrix as stored, q8 with its scales) */
    mm_weight in_proj;   /* [3E, E]: Wq, Wk, Wv */
    mm_weight out_proj;  /* [E, E] */
    mm_weight proj;      /* [E, E], used as x.proj: q8 blocks run along its rows (the output) */
    float *in_b;                 /* [3E] */
    float *out_b, *ln_kv_w, *ln_kv_b, *ln_post_w, *ln_post_b; /* [E] */
    float *pos_k;                /* [N][E] plain-bicubic resized key table */
    float *qp;                   /* [Q][E] projected queries */
    float *arena;
};

struct resampler_ws {
    float *kv;      /* [N][E] */
    float *kp;      /* [N][E] kv + pos_k, then reused */
    float *K, *V;   /* [N][E] */
    float *sc;      /* [threads][nn_attention_floats(N)]: each pool thread's attention scores */
    float *att;     /* [Q][E] */
    float *o;       /* [Q][E] */
    mm_ctx *mm;     /* the worker's products and pool (not owned) */
    rlv_timing *timing; /* stage times, caller-owned; NULL: not measured */
};

int resampler_model_init(resampler_model **out, const ckpt *c, const rlv_model_config *cfg, rlv_err *err) {
    *out = NULL;
    int E = cfg->hidden_size, Q = cfg->num_query, qg = cfg->query_grid, vg = cfg->vit_grid;
    int heads = cfg->resampler_heads;
    if (E <= 0 || heads < 1 || E % heads || Q <= 0 || qg * qg != Q || vg <= 0)
        return rlv_errf(err, RLV_ECONFIG, "resampler: hidden %d (a multiple of its %d heads), num_query %d (a square)",
                        E, heads, Q);
    resampler_model *m = calloc(1, sizeof *m);
    if (!m) return rlv_errf(err, RLV_ENOMEM, "resampler");
    m->E = E; m->Q = Q; m->N = vg * vg; m->Dv = cfg->vision.embed_dim;
    m->ln_eps = (float)cfg->vision.ln_eps;
    m->heads = heads;
    m->hd = E / m->heads;
    size_t nf = 8 * (size_t)E + (size_t)m->N * E + (size_t)Q * E;
    m->arena = malloc(nf * sizeof(float));
    float *tq = malloc((size_t)Q * E * sizeof(float)), *tpos = malloc((size_t)Q * E * sizeof(float));
    mm_ctx *mm = NULL;  /* load time: products on this thread alone */
    float *lqw = malloc((size_t)E * sizeof(float)), *lqb = malloc((size_t)E * sizeof(float));
    int rc = RLV_OK;
    if (!m->arena || !tq || !tpos || !lqw || !lqb || mm_ctx_init(&mm, NULL, MM_COMPUTE_F32, err)) { rc = rlv_errf(err, RLV_ENOMEM, "resampler: %zu floats", nf); goto done; }
    float *a = m->arena;
    m->in_b = a; a += 3 * (size_t)E;
    m->out_b = a; a += E;
    m->ln_kv_w = a; a += E;
    m->ln_kv_b = a; a += E;
    m->ln_post_w = a; a += E;
    m->ln_post_b = a; a += E;
    m->pos_k = a; a += (size_t)m->N * E;
    m->qp = a;
    /* every tensor as the manifest names and shapes it */
    const rlv_tensor *t, *pos;
#define M(dst, id) do { if ((rc = manifest_want(cfg, c, id, 0, &t, err)) != RLV_OK || \
        (rc = mm_weight_bind(&(dst), c, t, err)) != RLV_OK) goto done; } while (0)
#define V(dst, id) do { if ((rc = manifest_want_f32(cfg, c, id, 0, dst, NULL, err)) != RLV_OK) goto done; } while (0)
    M(m->kv_proj, MT_RS_KV_PROJ);
    M(m->in_proj, MT_RS_IN_PROJ_W);
    M(m->out_proj, MT_RS_OUT_PROJ_W);
    M(m->proj, MT_RS_PROJ);
    if ((rc = mm_weight_rows(&m->proj, err)) != RLV_OK) goto done; /* x . proj */
    V(tq, MT_RS_QUERY);
    if ((rc = manifest_want(cfg, c, MT_RS_POS, 0, &pos, err)) != RLV_OK) goto done;
    V(m->in_b, MT_RS_IN_PROJ_B);
    V(m->out_b, MT_RS_OUT_PROJ_B);
    V(m->ln_kv_w, MT_RS_LN_KV_W);
    V(m->ln_kv_b, MT_RS_LN_KV_B);
    V(m->ln_post_w, MT_RS_LN_POST_W);
    V(m->ln_post_b, MT_RS_LN_POST_B);
    V(lqw, MT_RS_LN_Q_W);
    V(lqb, MT_RS_LN_Q_B);
#undef V
#undef M
    /* key table: plain bicubic query_grid -> vit_grid (an identity when they are equal) */
    if ((rc = nn_resample_table(pos, 0, qg, vg, 0, m->pos_k, err)) != RLV_OK) goto done;
    /* queries: (LN_q(query) + pos_q).Wq^T + bq, pos_q as stored */
    half_to_f32_n(tpos, pos->data, pos->dtype, (size_t)Q * E);
    nn_layer_norm(NULL, tq, Q, E, lqw, lqb, m->ln_eps);
    for (size_t i = 0; i < (size_t)Q * E; i++) tq[i] += tpos[i];
    mm_w wq = m->in_proj.w;
    float *wf = NULL;
    if (wq.panel) { /* stored as panels for the workers' kernel, maybe not this f32 one: widened rows, the same floats */
        if (!(wf = malloc((size_t)E * E * sizeof *wf))) { rc = rlv_errf(err, RLV_ENOMEM, "resampler: %d x %d floats", E, E); goto done; }
        mm_w_to_f32(wf, wq, (size_t)E, (size_t)E);
        wq = mm_w_plain(wf, RLV_F32, E);
    }
    mm_xwt(mm, m->qp, E, tq, E, Q, E, wq, E, m->in_b, 0);
    free(wf);
done:
    free(tq); free(tpos); free(lqw); free(lqb);
    mm_ctx_free(&mm);
    if (rc != RLV_OK) resampler_model_free(&m);
    *out = m;
    return rc;
}

void resampler_model_free(resampler_model **m) {
    if (!m || !*m) return;
    free((*m)->arena);
    free(*m);
    *m = NULL;
}

int resampler_rows(const resampler_model *m) { return m->Q; }

int resampler_ws_init(resampler_ws **out, const resampler_model *m, mm_ctx *mm, rlv_err *err) {
    *out = NULL;
    resampler_ws *w = calloc(1, sizeof *w);
    if (!w) return rlv_errf(err, RLV_ENOMEM, "resampler workspace");
    size_t NE = (size_t)m->N * m->E, QE = (size_t)m->Q * m->E;
    w->kv = hugemem_alloc(NE * sizeof(float), 0);
    w->kp = hugemem_alloc(NE * sizeof(float), 0);
    w->K = hugemem_alloc(NE * sizeof(float), 0);
    w->V = hugemem_alloc(NE * sizeof(float), 0);
    w->sc = hugemem_alloc((size_t)pool_threads(mm_ctx_pool(mm)) * nn_attention_floats(m->N) * sizeof(float), 0);
    w->att = hugemem_alloc(QE * sizeof(float), 0);
    w->o = hugemem_alloc(QE * sizeof(float), 0);
    w->mm = mm;
    if (!w->kv || !w->kp || !w->K || !w->V || !w->sc || !w->att || !w->o) {
        resampler_ws_free(&w);
        return rlv_errf(err, RLV_ENOMEM, "resampler workspace");
    }
    /* x packed whole for each product (mm_reserve_pack): the image rows by Dv, then by E */
    int rc = mm_reserve_pack(mm, m->N, m->Dv > m->E ? m->Dv : m->E, err);
    if (rc) {
        resampler_ws_free(&w);
        return rc;
    }
    *out = w;
    return RLV_OK;
}

void resampler_ws_free(resampler_ws **ws) {
    if (!ws || !*ws) return;
    resampler_ws *w = *ws;
    hugemem_free(w->kv), hugemem_free(w->kp), hugemem_free(w->K), hugemem_free(w->V);
    hugemem_free(w->sc), hugemem_free(w->att), hugemem_free(w->o);
    free(w);
    *ws = NULL;
}

void resampler_ws_set_timing(resampler_ws *ws, rlv_timing *t) { ws->timing = t; }

int resampler_model_repack(resampler_model *m, mm_repack *r, const ckpt *c, rlv_err *err) {
    int rc = mm_repack_weight(r, &m->kv_proj, c, err);
    if (!rc) rc = mm_repack_weight(r, &m->out_proj, c, err);
    if (!rc && mm_repack_panel(r) && m->E % mm_repack_panel(r) == 0) rc = mm_repack_weight(r, &m->in_proj, c, err);
    return rc;
}

/* Read-ahead of the resampler's four matrices (150 MB at the real widths), e.g. while the last ViT
 * blocks compute. */
void resampler_prefetch(const resampler_model *m) {
    mm_weight_prefetch(&m->kv_proj);
    mm_weight_prefetch(&m->in_proj);
    mm_weight_prefetch(&m->out_proj);
    mm_weight_prefetch(&m->proj);
}

void resampler_forward(const resampler_model *m, resampler_ws *ws, const float *x, float *out) {
    int E = m->E, N = m->N, Q = m->Q, hd = m->hd;
    rlv_pool *pool = mm_ctx_pool(ws->mm);
    mm_w Wk = mm_w_at(m->in_proj.w, (size_t)E, 0), Wv = mm_w_at(m->in_proj.w, 2 * (size_t)E, 0);
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    mm_xwt(ws->mm, ws->kv, E, x, m->Dv, N, m->Dv, m->kv_proj.w, E, NULL, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_layer_norm(pool, ws->kv, N, E, m->ln_kv_w, m->ln_kv_b, m->ln_eps);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
    nn_add_rows(pool, ws->kp, ws->kv, m->pos_k, N, E);
    timing_stop(tm, RLV_STAGE_ADD, &t0);
    mm_xwt(ws->mm, ws->K, E, ws->kp, E, N, E, Wk, E, m->in_b + E, 0);
    mm_xwt(ws->mm, ws->V, E, ws->kv, E, N, E, Wv, E, m->in_b + 2 * E, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_attention(ws->mm, ws->sc, ws->att, E, m->qp, E, ws->K, ws->V, E, Q, N, m->heads, hd, tm);
    t0 = timing_start(tm);
    mm_xwt(ws->mm, ws->o, E, ws->att, E, Q, E, m->out_proj.w, E, m->out_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_layer_norm(pool, ws->o, Q, E, m->ln_post_w, m->ln_post_b, m->ln_eps);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
    mm_xw(ws->mm, out, E, ws->o, E, Q, E, m->proj.w, E, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
}
