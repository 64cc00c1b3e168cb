/* vit.c — EVA02 vision tower forward (see vit.h), docs/model.md §4 and §5.
 *
 * Order of one post-norm block (timm EvaBlockPostNorm), x = [tokens][width]:
 *   qkv = x.Wqkv^T + [q_bias, 0, v_bias]          (k bias is a zero buffer, not saved)
 *   a   = concat_h softmax(q_h.k_h^T / sqrt(hd)).v_h
 *   x  += LN1(a.Wproj^T + b)                       (the norm is on the branch output)
 *   x  += LN2(fc2(GELU_erf(fc1(x))))
 * Every stage runs on the worker's pool: weight products through mm_xwt (weights as stored,
 * widened per panel); attention over (head, row block) items, each on one thread with the serial
 * products mm_xwt_on / mm_xw_on; LayerNorms, adds, GELU and im2col split by rows. Every row and
 * every attention item is computed the same way whatever the thread count, so these stages give
 * the same bits on any pool (test_vision checks nn_attention); the weight products split their
 * columns by the thread count and OpenBLAS does not round a column the same way at every width,
 * so the tower's output agrees across thread counts to rounding, not bitwise.
 * While block j computes, block j + 1's weights are read ahead (ckpt_prefetch), or, with direct
 * reads (vit_model_stream), read by the workspace's wstream into the slot block j does not use:
 * the same bytes at another address, so the same bits. */
#include "vit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "hugemem.h"
#include "manifest.h"
#include "mm.h"
#include "nn.h"
#include "timing.h"
#include "wstream.h"

/* Slots of a workspace's direct reads: the block computing and the next one being read (a
 * full-size block, 135 MB in bf16, reads in ~0.08 s at 1.7 GB/s and computes in ~0.5 s). */
#define VIT_STREAM_SLOTS 2

typedef struct vit_blockw {
    mm_weight qkv, proj, fc1, fc2;  /* [3D, D], [D, D], [M, D], [D, M] as stored (q8 with scales) */
    float *qkv_b;                              /* [3D]: q_bias, 0, v_bias */
    float *proj_b, *n1w, *n1b, *n2w, *n2b, *fc1_b, *fc2_b;
} vit_blockw;

/* A block's matrices in one order, for the loops over them. */
#define BLOCK_NMATS 4
#define BLOCK_MATS(b) {&(b)->qkv, &(b)->proj, &(b)->fc1, &(b)->fc2}

struct vit_model {
    int D, nh, hd, M, P, S, grid, T, nblk; /* width, heads, head width, MLP width, patch, image side */
    float ln_eps;               /* every LayerNorm's eps (rlv_vision_config.ln_eps) */
    mm_weight patch_w;          /* [D, 3, P, P] = [D, 3 P P] (never q8: ckpt_q8 wants 2-D) */
    float *patch_b, *cls;       /* [D] */
    float *pos;                 /* [T][D]: CLS row, then the resampled grid */
    float *norm_w, *norm_b;     /* [D] */
    vit_blockw *blk;            /* [nblk] */
    float *arena;               /* owns every f32 vector above */
    /* Direct reads (vit_model_stream): item j of the plan holds block j's matrices; soff[j][i]
     * is where matrix i (BLOCK_MATS order) lies in the slot, MM_NO_SLOT: read from the mapping.
     * plan NULL: none. */
    wstream_plan *plan;
    size_t (*soff)[BLOCK_NMATS];
};

struct vit_ws {
    int T, D, M, K;
    float *cols;    /* [grid^2][3 P P] im2col patches */
    float *x;       /* [T][D] token rows */
    float *qkv;     /* [T][3D] */
    float *att;     /* [T][D] heads concatenated */
    float *tmp;     /* [T][D] branch output */
    float *hid;     /* [T][M] MLP hidden */
    float *sc;      /* [threads][nn_attention_floats(T)]: each pool thread's attention scores */
    mm_ctx *mm;     /* the worker's products and pool (not owned) */
    wstream *stream; /* the blocks' slots and reader (the model's plan); NULL: none */
    rlv_timing *timing; /* stage times, caller-owned; NULL: not measured */
    double deadline_ms; /* vit_forward stops before a block past it; 0 = none */
};

/* ---- loading -------------------------------------------------------------------------------- */

int vit_model_init(vit_model **out, const ckpt *c, const rlv_model_config *cfg, rlv_err *err) {
    *out = NULL;
    const rlv_vision_config *v = &cfg->vision;
    if (v->embed_dim <= 0 || v->num_heads <= 0 || v->embed_dim % v->num_heads || v->depth < 1 || v->mlp_dim <= 0 ||
        v->patch_size <= 0 || v->base_grid <= 0 || cfg->vit_grid <= 0)
        return rlv_errf(err, RLV_ECONFIG, "vision tower: bad sizes (width %d, heads %d, depth %d, mlp %d, patch %d, grid %d)",
                        v->embed_dim, v->num_heads, v->depth, v->mlp_dim, v->patch_size, v->base_grid);
    vit_model *m = calloc(1, sizeof *m);
    if (!m) return rlv_errf(err, RLV_ENOMEM, "vision tower");
    m->D = v->embed_dim;
    m->nh = v->num_heads;
    m->ln_eps = (float)v->ln_eps;
    m->hd = m->D / m->nh;
    m->M = v->mlp_dim;
    m->P = v->patch_size;
    m->S = cfg->image_size;
    m->grid = cfg->vit_grid;
    m->T = m->grid * m->grid + 1;
    m->nblk = v->depth - 1;
    size_t D = (size_t)m->D, M = (size_t)m->M;
    size_t per_blk = 9 * D + M; /* the qkv bias (3 D), 5 more vectors of D and fc1's bias */
    size_t nf = 4 * D + (size_t)m->T * D + per_blk * (size_t)m->nblk;
    m->arena = malloc(nf * sizeof(float));
    m->blk = calloc(m->nblk > 0 ? (size_t)m->nblk : 1, sizeof *m->blk);
    if (!m->arena || !m->blk) {
        vit_model_free(&m);
        return rlv_errf(err, RLV_ENOMEM, "vision tower: %zu floats", nf);
    }
    float *a = m->arena;
    m->patch_b = a; a += D;
    m->cls = a; a += D;
    m->norm_w = a; a += D;
    m->norm_b = a; a += D;
    m->pos = a; a += (size_t)m->T * D;

    /* every tensor as the manifest names and shapes it; vectors widened into the arena */
    const rlv_tensor *t, *pos;
    size_t n;
    int rc;
#define MAT(dst, id, j) do { if ((rc = manifest_want(cfg, c, id, j, &t, err)) != RLV_OK || \
        (rc = mm_weight_bind(&(dst), c, t, err)) != RLV_OK) goto fail; } while (0)
#define VEC(dst, id, j) do { if ((rc = manifest_want_f32(cfg, c, id, j, dst, &n, err)) != RLV_OK) goto fail; } while (0)
#define ARENA(dst, id, j) do { dst = a; VEC(dst, id, j); a += n; } while (0)
    MAT(m->patch_w, MT_VIT_PATCH_W, 0);
    VEC(m->patch_b, MT_VIT_PATCH_B, 0);
    VEC(m->cls, MT_VIT_CLS, 0);
    VEC(m->norm_w, MT_VIT_NORM_W, 0);
    VEC(m->norm_b, MT_VIT_NORM_B, 0);
    if ((rc = manifest_want(cfg, c, MT_VIT_POS, 0, &pos, err)) != RLV_OK) goto fail;
    half_to_f32_n(m->pos, pos->data, pos->dtype, (size_t)D); /* the CLS row is kept as is */
    if ((rc = nn_resample_table(pos, 1, v->base_grid, m->grid, 1, m->pos + D, err)) != RLV_OK) goto fail;
    for (int j = 0; j < m->nblk; j++) {
        vit_blockw *b = &m->blk[j];
        MAT(b->qkv, MT_VIT_QKV, j);
        MAT(b->proj, MT_VIT_PROJ_W, j);
        MAT(b->fc1, MT_VIT_FC1_W, j);
        MAT(b->fc2, MT_VIT_FC2_W, j);
        b->qkv_b = a; /* q_bias, 0 (no k bias is saved), v_bias */
        a += 3 * D;
        VEC(b->qkv_b, MT_VIT_Q_BIAS, j);
        memset(b->qkv_b + D, 0, (size_t)D * sizeof(float));
        VEC(b->qkv_b + 2 * D, MT_VIT_V_BIAS, j);
        ARENA(b->proj_b, MT_VIT_PROJ_B, j);
        ARENA(b->n1w, MT_VIT_NORM1_W, j);
        ARENA(b->n1b, MT_VIT_NORM1_B, j);
        ARENA(b->n2w, MT_VIT_NORM2_W, j);
        ARENA(b->n2b, MT_VIT_NORM2_B, j);
        ARENA(b->fc1_b, MT_VIT_FC1_B, j);
        ARENA(b->fc2_b, MT_VIT_FC2_B, j);
    }
#undef ARENA
#undef VEC
#undef MAT
    RLV_ASSERT((size_t)(a - m->arena) <= nf);
    *out = m;
    return RLV_OK;
fail:
    vit_model_free(&m);
    return rc;
}

void vit_model_free(vit_model **m) {
    if (!m || !*m) return;
    free((*m)->arena);
    free((*m)->blk);
    wstream_plan_free(&(*m)->plan);
    free((*m)->soff);
    free(*m);
    *m = NULL;
}

int vit_tokens(const vit_model *m) { return m->T; }
int vit_width(const vit_model *m) { return m->D; }
int vit_blocks(const vit_model *m) { return m->nblk; }

int vit_ws_init(vit_ws **out, const vit_model *m, mm_ctx *mm, rlv_err *err) {
    *out = NULL;
    vit_ws *w = calloc(1, sizeof *w);
    if (!w) return rlv_errf(err, RLV_ENOMEM, "vision workspace");
    size_t T = (size_t)m->T, D = (size_t)m->D, M = (size_t)m->M;
    w->T = m->T; w->D = m->D; w->M = m->M;
    w->K = 3 * m->P * m->P;
    w->mm = mm;
    w->cols = hugemem_alloc((T - 1) * (size_t)w->K * sizeof(float), 0);
    w->x = hugemem_alloc(T * D * sizeof(float), 0);
    w->qkv = hugemem_alloc(T * 3 * D * sizeof(float), 0);
    w->att = hugemem_alloc(T * D * sizeof(float), 0);
    w->tmp = hugemem_alloc(T * D * sizeof(float), 0);
    w->hid = hugemem_alloc(T * M * sizeof(float), 0);
    w->sc = hugemem_alloc((size_t)pool_threads(mm_ctx_pool(mm)) * nn_attention_floats(m->T) * sizeof(float), 0);
    if (!w->cols || !w->x || !w->qkv || !w->att || !w->tmp || !w->hid || !w->sc) {
        vit_ws_free(&w);
        return rlv_errf(err, RLV_ENOMEM, "vision workspace for %zu tokens", T);
    }
    /* every product's x packed whole for it, fc2's (T x M) the largest (mm_reserve_pack) */
    int rc = mm_reserve_pack(mm, m->T, m->M > m->D ? m->M : m->D, err);
    if (!rc && m->plan) rc = wstream_open(&w->stream, m->plan, VIT_STREAM_SLOTS, err);
    if (rc) {
        vit_ws_free(&w);
        return rc;
    }
    *out = w;
    return RLV_OK;
}

void vit_ws_free(vit_ws **ws) {
    if (!ws || !*ws) return;
    vit_ws *w = *ws;
    hugemem_free(w->cols), hugemem_free(w->x), hugemem_free(w->qkv), hugemem_free(w->att);
    hugemem_free(w->tmp), hugemem_free(w->hid), hugemem_free(w->sc);
    wstream_close(&w->stream);
    free(w);
    *ws = NULL;
}

void vit_ws_set_timing(vit_ws *ws, rlv_timing *t) { ws->timing = t; }
void vit_ws_set_deadline(vit_ws *ws, double deadline_ms) { ws->deadline_ms = deadline_ms; }

/* ---- kernels -------------------------------------------------------------------------------- */

/* ---- forward -------------------------------------------------------------------------------- */

typedef struct im2col_task {
    const vit_model *m;
    float *cols;
    const float *px;
} im2col_task;

/* im2col of patches [lo, hi): patch (gy, gx) flattened in (c, ky, kx) order = Conv2d weight
 * layout; pixels past the image (dynamic_img_pad, bottom/right) are zero. */
static void im2col_run(void *arg, int lo, int hi, int tid) {
    const im2col_task *t = arg;
    (void)tid;
    int P = t->m->P, S = t->m->S, g = t->m->grid, K = 3 * P * P;
    for (int pi = lo; pi < hi; pi++) {
        int gy = pi / g, gx = pi % g;
        float *col = t->cols + (size_t)pi * K;
        for (int c = 0; c < 3; c++)
            for (int ky = 0; ky < P; ky++) {
                int y = gy * P + ky;
                for (int kx = 0; kx < P; kx++) {
                    int xx = gx * P + kx;
                    *col++ = (y < S && xx < S) ? t->px[((size_t)c * S + y) * S + xx] : 0.0f;
                }
            }
    }
}

int vit_model_repack(vit_model *m, mm_repack *r, const ckpt *c, rlv_err *err) {
    int rc = mm_repack_weight(r, &m->patch_w, c, err);
    for (int j = 0; j < m->nblk && !rc; j++) {
        mm_weight *w[] = BLOCK_MATS(&m->blk[j]);
        for (int i = 0; i < BLOCK_NMATS && !rc; i++) rc = mm_repack_weight(r, w[i], c, err);
    }
    return rc;
}

int vit_model_stream(vit_model *m, const ckpt *c, rlv_err *err) {
    wstream_plan_free(&m->plan);
    free(m->soff);
    if (!(m->soff = malloc((size_t)(m->nblk > 0 ? m->nblk : 1) * sizeof *m->soff)))
        return rlv_errf(err, RLV_ENOMEM, "out of memory for the vision tower's direct reads");
    int rc = m->nblk > 0 ? wstream_plan_new(&m->plan, m->nblk, err) : RLV_OK; /* item j: block j */
    for (int j = 0; j < m->nblk && !rc; j++) {
        const mm_weight *w[] = BLOCK_MATS(&m->blk[j]);
        for (int i = 0; i < BLOCK_NMATS && !rc; i++) rc = mm_weight_plan(m->plan, j, w[i], c, &m->soff[j][i], err);
    }
    if (!rc) rc = wstream_plan_finish(&m->plan, err);
    else wstream_plan_free(&m->plan);
    return rc;
}

size_t vit_model_stream_bytes(const vit_model *m, size_t *slot_bytes) {
    if (slot_bytes) *slot_bytes = m->plan ? wstream_plan_slot_bytes(m->plan) : 0;
    return m->plan ? wstream_plan_bytes(m->plan) : 0;
}

/* Read-ahead of block j's weights that are read from the mapping, from the disk if they are not
 * in memory (the directly read ones come in through the workspace's stream). */
static void block_prefetch(const vit_model *m, int j) {
    if (j < 0 || j >= m->nblk) return;
    const mm_weight *w[] = BLOCK_MATS(&m->blk[j]);
    for (int i = 0; i < BLOCK_NMATS; i++)
        if (!m->plan || m->soff[j][i] == MM_NO_SLOT) mm_weight_prefetch(w[i]);
}

/* Block j's weights as the products read them: from the stream's slot once its reads are in
 * (*tmp holds the copy pointing there), else as bound. */
static const vit_blockw *block_get(const vit_model *m, vit_ws *ws, int j, vit_blockw *tmp) {
    if (!ws->stream) return &m->blk[j];
    const uint8_t *slot = wstream_get(ws->stream, j);
    if (!slot) return &m->blk[j]; /* its reads failed: the mapping (slower, never wrong) */
    *tmp = m->blk[j];
    mm_weight *w[] = BLOCK_MATS(tmp);
    for (int i = 0; i < BLOCK_NMATS; i++)
        if (m->soff[j][i] != MM_NO_SLOT) w[i]->w.p = slot + m->soff[j][i];
    return tmp;
}

void vit_embed(const vit_model *m, vit_ws *ws, const float *px) {
    int g = m->grid, K = ws->K, D = m->D;
    rlv_pool *pool = mm_ctx_pool(ws->mm);
    double t0 = timing_start(ws->timing);
    mm_weight_prefetch(&m->patch_w);
    block_prefetch(m, 0);
    timing_stop(ws->timing, RLV_STAGE_PREFETCH, &t0);
    im2col_task it = {m, ws->cols, px};
    pool_for(pool, g * g, 1, im2col_run, &it);
    timing_stop(ws->timing, RLV_STAGE_IM2COL, &t0);
    memcpy(ws->x, m->cls, (size_t)D * sizeof(float));
    mm_xwt(ws->mm, ws->x + D, D, ws->cols, K, g * g, K, m->patch_w.w, D, m->patch_b, 0);
    timing_stop(ws->timing, RLV_STAGE_MATMUL, &t0);
    nn_add_rows(pool, ws->x, ws->x, m->pos, m->T, D);
    timing_stop(ws->timing, RLV_STAGE_ADD, &t0);
}

void vit_block(const vit_model *m, vit_ws *ws, int j) {
    int T = m->T, D = m->D, M = m->M, hd = m->hd;
    rlv_pool *pool = mm_ctx_pool(ws->mm);
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    vit_blockw streamed;
    const vit_blockw *b = block_get(m, ws, j, &streamed);
    timing_stop(tm, RLV_STAGE_STREAM, &t0);
    /* the next block's weights come in from the disk while this one computes */
    block_prefetch(m, j + 1);
    timing_stop(tm, RLV_STAGE_PREFETCH, &t0);
    mm_xwt(ws->mm, ws->qkv, 3 * D, ws->x, D, T, D, b->qkv.w, 3 * D, b->qkv_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_attention(ws->mm, ws->sc, ws->att, D, ws->qkv, 3 * D, ws->qkv + D, ws->qkv + 2 * D, 3 * D, T, T, m->nh, hd,
                  tm);
    t0 = timing_start(tm);
    mm_xwt(ws->mm, ws->tmp, D, ws->att, D, T, D, b->proj.w, D, b->proj_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_add_layer_norm(pool, ws->x, ws->tmp, T, D, b->n1w, b->n1b, m->ln_eps);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
    mm_xwt(ws->mm, ws->hid, M, ws->x, D, T, D, b->fc1.w, M, b->fc1_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_gelu_rows(pool, ws->hid, T, M);
    timing_stop(tm, RLV_STAGE_ACT, &t0);
    mm_xwt(ws->mm, ws->tmp, D, ws->hid, M, T, M, b->fc2.w, D, b->fc2_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    nn_add_layer_norm(pool, ws->x, ws->tmp, T, D, b->n2w, b->n2b, m->ln_eps);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
    if (ws->stream) wstream_done(ws->stream, j);
}

int vit_forward(const vit_model *m, vit_ws *ws, const float *pixels, float *out) {
    vit_embed(m, ws, pixels);
    for (int j = 0; j < m->nblk; j++) {
        if (timing_past(ws->deadline_ms)) {
            if (ws->stream) wstream_abort(ws->stream); /* the next forward starts at block 0 */
            return RLV_ETIMEOUT;
        }
        vit_block(m, ws, j);
    }
    /* final norm on the patch rows only: the CLS row is dropped and LayerNorm is per row */
    double t0 = timing_start(ws->timing);
    nn_layer_norm_from(mm_ctx_pool(ws->mm), out, ws->x + m->D, m->T - 1, m->D, m->norm_w, m->norm_b, m->ln_eps);
    timing_stop(ws->timing, RLV_STAGE_NORM, &t0);
    return RLV_OK;
}

