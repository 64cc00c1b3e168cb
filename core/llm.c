/* llm.c — the Mistral decoder: shared prefix once, then all candidates in one batch.
 *
 * Design notes.
 * (1) The model is read-only after llm_model_init(); every mutable byte of a job lives in
 *     the worker's llm_ws, sized once from llm_limits. No malloc after llm_ws_init().
 * (2) KV cache rows: [0, P) hold the prefix, [P, P + R) the R rows of the current candidate
 *     batch. Candidate i's rows are the tokens c_0 .. c_{T_i-2} (the last token's output is
 *     never scored); they sit at rows [P + off_i, P + off_i + T_i - 1) and at positions
 *     P, P + 1, ... — every candidate continues from the prefix (docs/model.md §9). The prefix's
 *     K/V (and its last row's logits) are read through pre_k / pre_v / pre_logits: the rows
 *     [0, P) of the worker's own cache after llm_prefix, or a saved state read in place after
 *     llm_prefix_attach (the prefix cache's entries: no copy on a hit).
 * (3) Attention on the pool, over work items (kv head g, block of LLM_ATT_ROWS rows), taken
 *     one at a time by whichever thread is free; an item runs the `group` query heads that
 *     share g's K/V (GQA: the cached K/V of the group stay in cache across them). Per head: one
 *     product Q·K_prefixᵀ for the block's rows (the shared part), one Q_i·K_iᵀ per piece of a
 *     candidate in the block (its own causal keys up to the block's last row); the softmax runs
 *     over [prefix | own keys] with the unseen part zeroed, so P·V_prefix + P_i·V_i gives the
 *     block-diagonal causal result. The prefix itself is one candidate of P rows with no shared
 *     part. Items are fixed whatever the thread count, and every row-wise stage (norms, RoPE,
 *     SwiGLU, gather, log-softmax) computes a row the same way on any thread, so log-probs do
 *     not depend on the thread count unless the weight products do (test_llm_ref checks).
 * (4) Scored rows: the last prefix row predicts c_0 of every candidate (its log-softmax is
 *     computed once, in llm_prefix); candidate row j predicts c_{j+1}. lm_head runs on all
 *     scored rows for LLM_VOCAB_COLS vocabulary entries at a time, keeping a running max and
 *     sum per row, so no rows x vocab matrix exists and lm_head is widened once per batch.
 * (5) Weight traffic: with bf16 weights every product widens panels (mm.h); the MLP and
 *     lm_head loop over weight blocks on the outside and rows inside, so each weight byte is
 *     widened once per forward however many rows the batch has.
 * (6) Read-ahead: layer l + 1's weights (lm_head after the last layer) are handed to
 *     ckpt_prefetch when layer l starts, so a model larger than the page cache streams from
 *     the disk while the layer before computes. The embedding is not: only the gathered rows
 *     are read.
 * (7) Direct reads (llm_model_stream): where the weights do not stay in memory, the layers'
 *     matrices read from the mapping (not repacked, not q8) can instead be read by a worker's
 *     wstream straight from the files into two slots, layer l + 1 while layer l computes: no
 *     page faults on the compute threads and no page cache to reclaim. A layer's products then
 *     read its slot, the same bytes at another address, so results are the same bits; a layer
 *     whose reads failed is read from the mapping. lm_head and the embedding stay mapped. */
#include "llm.h"

#include <math.h>
#include <stdatomic.h>
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

/* Columns of the MLP's intermediate activations computed at once (gate/up rows f0.., the
 * matching down_proj columns): every weight panel is widened once per forward, whatever R. */
#define LLM_FFN_COLS 2048
/* Vocabulary entries of logits computed at once, for every scored row; log-softmax is
 * accumulated over the blocks (running max and sum), so lm_head is widened once per batch. */
#define LLM_VOCAB_COLS 4096
/* Query rows of one attention work item (design note 3): per-thread scores are
 * [LLM_ATT_ROWS][kv_rows] floats, 601 KB for the limits 300 + 2048. */
#define LLM_ATT_ROWS 64

/* Slots of a workspace's direct reads (note 7): the layer computing and the next one being read
 * (a full-size layer, 436 MB in bf16, reads in ~0.25 s at 1.8 GB/s and computes in ~1.3 s). */
#define LLM_STREAM_SLOTS 2

/* row-major [rows, cols] as stored, q8 with its scales */
typedef mm_weight llm_w;

typedef struct llm_layer {
    llm_w wq, wk, wv, wo, wg, wu, wd;
    float *ln_in, *ln_post;  /* [H] f32, in the model's vecs */
} llm_layer;

/* A layer's matrices in one order, for the loops over them. */
#define LAYER_NMATS 7
#define LAYER_MATS(ly) {&(ly)->wq, &(ly)->wk, &(ly)->wv, &(ly)->wo, &(ly)->wg, &(ly)->wu, &(ly)->wd}

struct llm_model {
    const rlv_model_config *cfg;
    int H, F, V, L, nh, nkv, hd;
    float eps;
    double theta;
    llm_w embed, lm_head;
    float *norm;            /* [H] f32, in vecs */
    llm_layer *layers;      /* [L] */
    float *vecs;            /* [(2 L + 1) H]: every norm weight widened to f32 (owned) */
    size_t weight_bytes;
    /* Direct reads (design note 7): the layers' matrices read from the disk into a worker's
     * slots, item l of the plan holding layer l's; NULL when none are. soff[l][j]: where matrix j
     * (LAYER_MATS order) lies in layer l's slot, MM_NO_SLOT: not read directly. */
    wstream_plan *plan;
    size_t (*soff)[LAYER_NMATS];
};

struct llm_ws {
    const llm_model *m;
    llm_limits lim;
    int cap_rows;      /* max(max_prefix, max_cand_tokens): rows through one forward */
    int kv_rows;       /* max_prefix + max_cand_tokens */
    float *k_cache;    /* [L][kv_rows][nkv*hd] */
    float *v_cache;    /* [L][kv_rows][nkv*hd] */
    float *rope_cos;   /* [kv_rows][hd/2] */
    float *rope_sin;   /* [kv_rows][hd/2] */
    float *x;          /* [cap_rows][H] residual stream */
    float *h;          /* [cap_rows][H] normed rows */
    float *q;          /* [cap_rows][nh*hd] */
    float *att;        /* = q: head h's output overwrites head h's queries once its scores exist */
    float *gate, *up;  /* [cap_rows][min(F, LLM_FFN_COLS)] */
    float *scores;     /* [threads][score_floats]: each pool thread's attention probabilities */
    size_t score_floats; /* LLM_ATT_ROWS x kv_rows */
    float *logits;     /* [cap_rows][min(V, LLM_VOCAB_COLS)] */
    float *row_max;    /* [cap_rows] running max of each scored row's logits */
    double *row_sum;   /* [cap_rows] running sum of exp(logit - row_max) */
    float *row_tgt;    /* [cap_rows] logit of the row's scored token */
    int *tgt;          /* [cap_rows] the row's scored token */
    int *row_src;      /* [cap_rows] where a row's embedding comes from: id >= 0, or -(k + 1) = row k of emb */
    mm_ctx *mm;        /* the worker's products and pool (not owned) */
    int *pos;          /* [cap_rows] position of each row */
    int *seg_off;      /* [max(max_cands, 1) + 1] row offsets of the segments */
    float *prefix_logits; /* [V] logits of the last prefix row */
    double prefix_lse;    /* their log-sum-exp */
    const float *pre_k, *pre_v; /* the prefix's K/V, layer l at + l * pre_layer, [P][nkv*hd] (design note 2) */
    size_t pre_layer;
    const float *pre_logits;    /* [V] prefix_logits, or an attached state's */
    rlv_timing *timing; /* stage times, caller-owned; NULL: not measured */
    double deadline_ms; /* forward stops before a layer past it; 0 = none */
    int P;             /* prefix rows in the cache; 0 = none */
    size_t kv_bytes, scratch_bytes;
    wstream *stream;   /* the model's streamed layers' slots and reader (m->plan); NULL: none */
};

/* ------------------------------------------------------------------ model */

/* Matrix id (of layer i) as stored (q8 with its scales). */
static int load_mat(llm_model *m, const ckpt *c, manifest_id id, int i, llm_w *w, rlv_err *err) {
    const rlv_tensor *t = NULL;
    int rc = manifest_want(m->cfg, c, id, i, &t, err);
    if (!rc) rc = mm_weight_bind(w, c, t, err);
    if (!rc) m->weight_bytes += t->nbytes + (w->scale ? w->scale->nbytes : 0);
    return rc;
}

/* Norm weight id (of layer i) widened into the next H floats of *a, which then moves past them. */
static int load_vec(llm_model *m, const ckpt *c, manifest_id id, int i, float **dst, float **a, rlv_err *err) {
    size_t n = 0;
    int rc = manifest_want_f32(m->cfg, c, id, i, *a, &n, err);
    if (rc) return rc;
    *dst = *a;
    *a += n;
    m->weight_bytes += n * sizeof(float);
    return RLV_OK;
}

int llm_model_init(llm_model **out, const ckpt *c, const rlv_model_config *cfg, rlv_err *err) {
    *out = NULL;
    int H = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
    int L = cfg->num_hidden_layers, nh = cfg->num_attention_heads, nkv = cfg->num_key_value_heads;
    if (H < 1 || F < 1 || V < 3 || L < 1 || nh < 1 || nkv < 1)
        return rlv_errf(err, RLV_ECONFIG, "decoder sizes: hidden %d, intermediate %d, vocab %d, layers %d, "
                        "heads %d, kv heads %d", H, F, V, L, nh, nkv);
    if (H % nh || nh % nkv || (H / nh) % 2)
        return rlv_errf(err, RLV_ECONFIG, "hidden_size %d, num_attention_heads %d, num_key_value_heads %d: "
                        "need hidden = heads x even head_dim and heads a multiple of kv heads", H, nh, nkv);
    if (!(cfg->rms_norm_eps > 0) || !(cfg->rope_theta > 0))
        return rlv_errf(err, RLV_ECONFIG, "rms_norm_eps %g, rope_theta %g must be > 0", cfg->rms_norm_eps,
                        cfg->rope_theta);
    llm_model *m = calloc(1, sizeof *m);
    if (!m) return rlv_errf(err, RLV_ENOMEM, "llm_model");
    m->cfg = cfg;
    m->H = H, m->F = F, m->V = V, m->L = L, m->nh = nh, m->nkv = nkv, m->hd = H / nh;
    m->eps = (float)cfg->rms_norm_eps;
    m->theta = cfg->rope_theta;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    m->vecs = malloc((2 * (size_t)L + 1) * (size_t)H * sizeof(float));
    float *a = m->vecs;
    int rc = RLV_OK;
    if (!m->layers || !m->vecs) {
        rc = rlv_errf(err, RLV_ENOMEM, "llm_model layers");
        goto fail;
    }
    /* embedding rows are gathered (widened or dequantised one at a time), never multiplied;
     * tied embeddings (not OmniLMM's) are lm_head too */
    manifest_id head = cfg->tie_word_embeddings ? MT_LLM_EMBED : MT_LLM_HEAD;
    if ((rc = load_mat(m, c, MT_LLM_EMBED, 0, &m->embed, err)) || (rc = mm_weight_rows(&m->embed, err)) ||
        (rc = load_mat(m, c, head, 0, &m->lm_head, err)) ||
        (rc = load_vec(m, c, MT_LLM_NORM, 0, &m->norm, &a, err)))
        goto fail;
    for (int i = 0; i < L; i++) {
        llm_layer *ly = &m->layers[i];
        if ((rc = load_mat(m, c, MT_LLM_Q, i, &ly->wq, err)) ||
            (rc = load_mat(m, c, MT_LLM_K, i, &ly->wk, err)) ||
            (rc = load_mat(m, c, MT_LLM_V, i, &ly->wv, err)) ||
            (rc = load_mat(m, c, MT_LLM_O, i, &ly->wo, err)) ||
            (rc = load_mat(m, c, MT_LLM_GATE, i, &ly->wg, err)) ||
            (rc = load_mat(m, c, MT_LLM_UP, i, &ly->wu, err)) ||
            (rc = load_mat(m, c, MT_LLM_DOWN, i, &ly->wd, err)) ||
            (rc = load_vec(m, c, MT_LLM_LN_IN, i, &ly->ln_in, &a, err)) ||
            (rc = load_vec(m, c, MT_LLM_LN_POST, i, &ly->ln_post, &a, err)))
            goto fail;
    }
    *out = m;
    return RLV_OK;
fail:
    llm_model_free(&m);
    return rc;
}

void llm_model_free(llm_model **mp) {
    if (!mp || !*mp) return;
    llm_model *m = *mp;
    wstream_plan_free(&m->plan);
    free(m->soff);
    free(m->vecs);
    free(m->layers);
    free(m);
    *mp = NULL;
}

size_t llm_model_weight_bytes(const llm_model *m) { return m->weight_bytes; }

/* ------------------------------------------------------------------ workspace */

static void *ws_alloc(size_t n, size_t elem, size_t *acct, int *fail) {
    void *p = hugemem_alloc(n * elem, 0);
    if (!p) *fail = 1;
    *acct += n * elem;
    return p;
}

int llm_ws_init(llm_ws **out, const llm_model *m, const llm_limits *lim, mm_ctx *mm, rlv_err *err) {
    *out = NULL;
    if (lim->max_prefix < 1 || lim->max_cand_tokens < 1 || lim->max_cands < 1)
        return rlv_errf(err, RLV_EINVAL, "llm limits: max_prefix %d, max_cand_tokens %d, max_cands %d must be >= 1",
                        lim->max_prefix, lim->max_cand_tokens, lim->max_cands);
    if ((int64_t)lim->max_prefix + lim->max_cand_tokens > 1 << 24)
        return rlv_errf(err, RLV_EINVAL, "llm limits: %d prefix + %d candidate tokens is beyond 2^24",
                        lim->max_prefix, lim->max_cand_tokens);
    llm_ws *ws = calloc(1, sizeof *ws);
    if (!ws) return rlv_errf(err, RLV_ENOMEM, "llm_ws");
    ws->m = m;
    ws->mm = mm;
    ws->lim = *lim;
    ws->cap_rows = lim->max_prefix > lim->max_cand_tokens ? lim->max_prefix : lim->max_cand_tokens;
    ws->kv_rows = lim->max_prefix + lim->max_cand_tokens;
    size_t H = (size_t)m->H, qd = (size_t)m->nh * m->hd, kvd = (size_t)m->nkv * m->hd;
    size_t cap = (size_t)ws->cap_rows, kvr = (size_t)ws->kv_rows;
    /* scores of one work item: its rows x (cached context + the longest own block), within
     * LLM_ATT_ROWS x kv_rows for the prefix (0 + P) and for the batch (P + longest candidate) */
    ws->score_floats = (size_t)LLM_ATT_ROWS * kvr;
    size_t nth = (size_t)pool_threads(mm_ctx_pool(mm));
    int fc = m->F < LLM_FFN_COLS ? m->F : LLM_FFN_COLS, vc = m->V < LLM_VOCAB_COLS ? m->V : LLM_VOCAB_COLS;
    int fail = 0;
    size_t *kb = &ws->kv_bytes, *sb = &ws->scratch_bytes;
    ws->k_cache = ws_alloc((size_t)m->L * kvr * kvd, sizeof(float), kb, &fail);
    ws->v_cache = ws_alloc((size_t)m->L * kvr * kvd, sizeof(float), kb, &fail);
    ws->rope_cos = ws_alloc(kvr * (size_t)(m->hd / 2), sizeof(float), sb, &fail);
    ws->rope_sin = ws_alloc(kvr * (size_t)(m->hd / 2), sizeof(float), sb, &fail);
    ws->x = ws_alloc(cap * H, sizeof(float), sb, &fail);
    ws->h = ws_alloc(cap * H, sizeof(float), sb, &fail);
    ws->q = ws_alloc(cap * qd, sizeof(float), sb, &fail);
    ws->att = ws->q;
    ws->gate = ws_alloc(cap * fc, sizeof(float), sb, &fail);
    ws->up = ws_alloc(cap * fc, sizeof(float), sb, &fail);
    ws->scores = ws_alloc(nth * ws->score_floats, sizeof(float), sb, &fail);
    ws->logits = ws_alloc(cap * vc, sizeof(float), sb, &fail);
    ws->row_max = ws_alloc(cap, sizeof(float), sb, &fail);
    ws->row_sum = ws_alloc(cap, sizeof(double), sb, &fail);
    ws->row_tgt = ws_alloc(cap, sizeof(float), sb, &fail);
    ws->tgt = ws_alloc(cap, sizeof(int), sb, &fail);
    ws->row_src = ws_alloc(cap, sizeof(int), sb, &fail);
    ws->pos = ws_alloc(cap, sizeof(int), sb, &fail);
    ws->seg_off = ws_alloc((size_t)lim->max_cands + 2, sizeof(int), sb, &fail);
    ws->prefix_logits = ws_alloc((size_t)m->V, sizeof(float), sb, &fail);
    if (fail) {
        size_t total = ws->kv_bytes + ws->scratch_bytes;
        llm_ws_free(&ws);
        return rlv_errf(err, RLV_ENOMEM, "llm workspace: %zu bytes for limits %d/%d/%d", total,
                        lim->max_prefix, lim->max_cand_tokens, lim->max_cands);
    }
    /* the normed rows are held for q/k/v, the FFN's gate and up blocks and the lm_head (mm_hold_x) */
    int rc = mm_reserve_x(mm, ws->cap_rows, m->H, err);
    /* and the x of o_proj and of each down_proj block, packed whole for the product (mm_reserve_pack) */
    if (!rc) rc = mm_reserve_pack(mm, ws->cap_rows, (int)qd > fc ? (int)qd : fc, err);
    if (!rc && m->plan) rc = wstream_open(&ws->stream, m->plan, LLM_STREAM_SLOTS, err);
    if (rc) {
        llm_ws_free(&ws);
        return rc;
    }
    /* RoPE table, rotate_half layout: pair (i, i + hd/2) turns by pos * theta^(-2i/hd) */
    int half = m->hd / 2;
    for (int p = 0; p < ws->kv_rows; p++)
        for (int i = 0; i < half; i++) {
            double inv = pow(m->theta, -2.0 * i / m->hd);
            double phi = (double)p * inv;
            ws->rope_cos[(size_t)p * half + i] = (float)cos(phi);
            ws->rope_sin[(size_t)p * half + i] = (float)sin(phi);
        }
    *out = ws;
    return RLV_OK;
}

void llm_ws_free(llm_ws **wp) {
    if (!wp || !*wp) return;
    llm_ws *ws = *wp;
    wstream_close(&ws->stream);
    void *bufs[] = {ws->k_cache, ws->v_cache, ws->rope_cos, ws->rope_sin, ws->x, ws->h, ws->q, ws->gate, ws->up,
                    ws->scores, ws->logits, ws->pos, ws->seg_off, ws->row_max, ws->row_sum, ws->row_tgt, ws->tgt,
                    ws->row_src, ws->prefix_logits};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) hugemem_free(bufs[i]);
    free(ws);
    *wp = NULL;
}

size_t llm_ws_kv_bytes(const llm_ws *ws) { return ws->kv_bytes; }
size_t llm_ws_stream_bytes(const llm_ws *ws) { return wstream_bytes(ws->stream); }
void llm_ws_stream_stats(llm_ws *ws, wstream_stats *out) {
    if (ws->stream) wstream_get_stats(ws->stream, out);
    else memset(out, 0, sizeof *out);
}
size_t llm_ws_scratch_bytes(const llm_ws *ws) { return ws->scratch_bytes; }
void llm_ws_set_timing(llm_ws *ws, rlv_timing *t) { ws->timing = t; }
void llm_ws_set_deadline(llm_ws *ws, double deadline_ms) { ws->deadline_ms = deadline_ms; }

/* ------------------------------------------------------------------ forward */

/* Row-wise stages (design note 3): each runs rows [lo, hi) of the batch on one pool thread. */
typedef struct rows_task {
    llm_ws *ws;
    float *y;           /* rms_norm: output rows; rope: the K rows (stride kvd) */
    const float *x;     /* rms_norm: input rows */
    const float *w;     /* rms_norm: weights [H] */
    const float *emb;   /* gather: the embedding rows given to llm_prefix */
    int n;              /* silu / log-softmax: columns of the block */
    int v0;             /* log-softmax: first vocabulary entry of the block */
} rows_task;

static void rms_norm_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    int H = t->ws->m->H;
    float eps = t->ws->m->eps;
    for (int r = lo; r < hi; r++) {
        const float *xr = t->x + (size_t)r * H;
        float *yr = t->y + (size_t)r * H;
        float s = (float)(1.0 / sqrt(nn_sum_sq(xr, H, 0) / H + eps));
        for (int i = 0; i < H; i++) yr[i] = xr[i] * s * t->w[i];
    }
}

static void rms_norm(llm_ws *ws, float *y, const float *x, const float *w, int rows) {
    rows_task t = {.ws = ws, .y = y, .x = x, .w = w};
    pool_for(mm_ctx_pool(ws->mm), rows, 1, rms_norm_run, &t);
}

/* Rotates the n_heads heads of hd floats of rows [lo, hi) (row stride ld) at each row's position. */
static void rope_rows(const llm_ws *ws, float *a, int ld, int lo, int hi, int n_heads) {
    int hd = ws->m->hd, half = hd / 2;
    for (int r = lo; r < hi; r++) {
        const float *c = ws->rope_cos + (size_t)ws->pos[r] * half;
        const float *s = ws->rope_sin + (size_t)ws->pos[r] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = a + (size_t)r * ld + (size_t)h * hd;
            for (int i = 0; i < half; i++) {
                float x0 = v[i], x1 = v[i + half];
                v[i] = x0 * c[i] - x1 * s[i];
                v[i + half] = x1 * c[i] + x0 * s[i];
            }
        }
    }
}

/* RoPE of the queries (ws->q) and of the new keys (t->y) of rows [lo, hi). */
static void rope_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    const llm_model *m = t->ws->m;
    rope_rows(t->ws, t->ws->q, m->nh * m->hd, lo, hi, m->nh);
    rope_rows(t->ws, t->y, m->nkv * m->hd, lo, hi, m->nkv);
}

/* gate = silu(gate) * up on rows [lo, hi) of a block of t->n intermediate columns. */
static void silu_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    size_t a = (size_t)lo * t->n;
    nn_silu_mul(t->ws->gate + a, t->ws->up + a, (size_t)(hi - lo) * t->n);
}

/* Attention of layer l (design note 3) for the R rows from row0 of ws->q, in nseg segments
 * (seg_off[nseg + 1], relative to row0); every row sees the ctx cached rows [0, ctx) and the
 * earlier rows of its own segment, whose K/V are at cache rows kv0 + r. Writes those rows of
 * ws->att. */
typedef struct att_task {
    llm_ws *ws;
    int l, row0, R, ctx, nseg, kv0, blocks;
    const int *seg_off;
    atomic_int next;  /* next work item: kv head it / blocks, row block it % blocks */
    int timed;        /* thread 0 adds its seconds in products and in softmax to mm_s, sm_s */
    double mm_s, sm_s;
} att_task;

static void att_run(void *arg, int tid, int nth) {
    att_task *t = arg;
    (void)nth;
    llm_ws *ws = t->ws;
    const llm_model *m = ws->m;
    int hd = m->hd, qd = m->nh * m->hd, kvd = m->nkv * m->hd, group = m->nh / m->nkv, ctx = t->ctx, kv0 = t->kv0;
    const int *off = t->seg_off;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *kc = ws->k_cache + (size_t)t->l * ws->kv_rows * kvd;
    const float *vc = ws->v_cache + (size_t)t->l * ws->kv_rows * kvd;
    const float *kp = ws->pre_k + (size_t)t->l * ws->pre_layer;  /* the context rows [0, ctx) */
    const float *vp = ws->pre_v + (size_t)t->l * ws->pre_layer;
    float *S = ws->scores + (size_t)tid * ws->score_floats;
    int items = m->nkv * t->blocks;
    rlv_timing clk, *tc = tid == 0 && t->timed ? &clk : NULL;  /* thread 0 reads the clock when timed */
    for (int it; (it = atomic_fetch_add(&t->next, 1)) < items;) {
        int g = it / t->blocks, r0 = it % t->blocks * LLM_ATT_ROWS;
        int r1 = t->R - r0 < LLM_ATT_ROWS ? t->R : r0 + LLM_ATT_ROWS, nr = r1 - r0;
        /* segments s0 .. s1-1 meet the block; each piece [a, b) sees its own keys [o, row] */
        int s0 = 0;
        while (off[s0 + 1] <= r0) s0++;
        int s1 = s0, wmax = 0;
        for (; s1 < t->nseg && off[s1] < r1; s1++) {
            int b = off[s1 + 1] < r1 ? off[s1 + 1] : r1;
            if (b - off[s1] > wmax) wmax = b - off[s1];
        }
        int ld = ctx + wmax;
        RLV_ASSERT((size_t)nr * ld <= ws->score_floats);
        const float *K = kc + (size_t)g * hd, *Vv = vc + (size_t)g * hd;
        const float *Kp = kp + (size_t)g * hd, *Vp = vp + (size_t)g * hd;
        double i0 = timing_start(tc), sm0 = t->sm_s;
        for (int h = g * group; h < (g + 1) * group; h++) {
            /* every read of this head's queries in the block precedes the writes of its output
             * there (att aliases q) */
            const float *Q = ws->q + (size_t)t->row0 * qd + (size_t)h * hd;
            float *O = ws->att + (size_t)t->row0 * qd + (size_t)h * hd;
            if (ctx > 0)
                mm_xwt_on(ws->mm, tid, S, ld, Q + (size_t)r0 * qd, qd, nr, hd, mm_w_plain(Kp, RLV_F32, kvd), ctx, scale, 0);
            for (int s = s0; s < s1; s++) {
                int o = off[s], a = o > r0 ? o : r0, b = off[s + 1] < r1 ? off[s + 1] : r1;
                if (b <= a) continue;
                float *Sp = S + (size_t)(a - r0) * ld;
                mm_xwt_on(ws->mm, tid, Sp + ctx, ld, Q + (size_t)a * qd, qd, b - a, hd, mm_w_plain(K + (size_t)(kv0 + o) * kvd, RLV_F32, kvd), b - o, scale, 0);
                double c0 = timing_start(tc);
                for (int j = a; j < b; j++) {
                    float *row = S + (size_t)(j - r0) * ld;
                    int w = ctx + (j - o) + 1;  /* visible: the context and own rows o..j */
                    nn_softmax_rows(row, 1, w, w);
                    for (int i = w; i < ctx + (b - o); i++) row[i] = 0.0f;
                }
                if (tc) t->sm_s += timing_start(tc) - c0;
            }
            if (ctx > 0)
                mm_xw_on(ws->mm, tid, O + (size_t)r0 * qd, qd, S, ld, nr, ctx, mm_w_plain(Vp, RLV_F32, kvd), hd, 1.0f, 0);
            for (int s = s0; s < s1; s++) {
                int o = off[s], a = o > r0 ? o : r0, b = off[s + 1] < r1 ? off[s + 1] : r1;
                if (b <= a) continue;
                mm_xw_on(ws->mm, tid, O + (size_t)a * qd, qd, S + (size_t)(a - r0) * ld + ctx, ld, b - a, b - o,
                         mm_w_plain(Vv + (size_t)(kv0 + o) * kvd, RLV_F32, kvd), hd, 1.0f, ctx > 0);
            }
        }
        if (tc) t->mm_s += timing_start(tc) - i0 - (t->sm_s - sm0);  /* the item but its softmax */
    }
}

static void attention(llm_ws *ws, int l, int row0, int R, int ctx, int nseg, const int *seg_off, int kv0) {
    double t0 = timing_start(ws->timing);
    att_task t = {.ws = ws, .l = l, .row0 = row0, .R = R, .ctx = ctx, .nseg = nseg, .kv0 = kv0,
                  .blocks = (R + LLM_ATT_ROWS - 1) / LLM_ATT_ROWS, .seg_off = seg_off, .timed = ws->timing != NULL};
    atomic_init(&t.next, 0);
    pool_run(mm_ctx_pool(ws->mm), att_run, &t);
    timing_split(ws->timing, RLV_STAGE_ATTENTION, RLV_STAGE_SOFTMAX, &t0, t.mm_s, t.sm_s);
}

static void mm(llm_ws *ws, float *y, int ldy, const float *x, int ldx, int rows, int k, const llm_w *w, int n,
               int acc) {
    mm_xwt(ws->mm, y, ldy, x, ldx, rows, k, w->w, n, NULL, acc);
}

int llm_model_repack(llm_model *m, mm_repack *r, const ckpt *c, rlv_err *err) {
    int rc = mm_repack_weight(r, &m->lm_head, c, err);
    for (int l = 0; l < m->L && !rc; l++) {
        llm_w *w[] = LAYER_MATS(&m->layers[l]);
        for (int j = 0; j < LAYER_NMATS && !rc; j++) rc = mm_repack_weight(r, w[j], c, err);
    }
    return rc;
}

/* Read-ahead of layer l's matrices (design note 6) but those read directly (note 7, a slot's
 * reader brings them in); l == L: lm_head. */
static void layer_prefetch(const llm_model *m, int l) {
    if (l == m->L) {
        mm_weight_prefetch(&m->lm_head);
        return;
    }
    const llm_layer *ly = &m->layers[l];
    const llm_w *w[] = LAYER_MATS(ly);
    for (int j = 0; j < LAYER_NMATS; j++)
        if (!m->plan || m->soff[l][j] == MM_NO_SLOT) mm_weight_prefetch(w[j]);
}

int llm_model_stream(llm_model *m, const ckpt *c, rlv_err *err) {
    wstream_plan_free(&m->plan);
    free(m->soff);
    if (!(m->soff = malloc((size_t)m->L * sizeof *m->soff)))
        return rlv_errf(err, RLV_ENOMEM, "out of memory for the decoder's direct reads");
    int rc = wstream_plan_new(&m->plan, m->L, err); /* item l: layer l (empty when it reads no file) */
    for (int l = 0; l < m->L && !rc; l++) {
        const llm_w *w[] = LAYER_MATS(&m->layers[l]);
        for (int j = 0; j < LAYER_NMATS && !rc; j++) rc = mm_weight_plan(m->plan, l, w[j], c, &m->soff[l][j], err);
    }
    if (!rc) rc = wstream_plan_finish(&m->plan, err);
    else wstream_plan_free(&m->plan);
    return rc;
}

size_t llm_model_stream_bytes(const llm_model *m, size_t *slot_bytes) {
    if (slot_bytes) *slot_bytes = m->plan ? wstream_plan_slot_bytes(m->plan) : 0;
    return m->plan ? wstream_plan_bytes(m->plan) : 0;
}

/* Layer l as the products read it: from its slot once its direct reads are in (note 7; *tmp
 * holds the copy pointing there), else as bound. */
static const llm_layer *layer_get(llm_ws *ws, int l, llm_layer *tmp) {
    const llm_model *m = ws->m;
    if (!ws->stream) return &m->layers[l];
    const uint8_t *slot = wstream_get(ws->stream, l);
    if (!slot) return &m->layers[l];
    *tmp = m->layers[l];
    llm_w *w[] = LAYER_MATS(tmp);
    for (int j = 0; j < LAYER_NMATS; j++)
        if (m->soff[l][j] != MM_NO_SLOT) w[j]->w.p = slot + m->soff[l][j];
    return tmp;
}

static void layer_done(llm_ws *ws, int l) {
    if (ws->stream) wstream_done(ws->stream, l);
}

/* ws->x holds R embedded rows (positions in ws->pos); runs every layer, K/V of row r going
 * to cache row kv0 + r, and leaves the final-normed rows in ws->h. The first npre rows are a
 * prefix (one causal segment, no context; 0: none); the other R - npre rows are nseg segments
 * (seg_off relative to row npre) that see the ctx cached rows [0, ctx) — the prefix, when npre
 * is — and their own earlier rows. Returns the layers run: fewer than L when ws's deadline
 * passed (checked before each layer). */
static int forward(llm_ws *ws, int R, int kv0, int npre, int ctx, int nseg, const int *seg_off) {
    const llm_model *m = ws->m;
    int H = m->H, F = m->F, qd = m->nh * m->hd, kvd = m->nkv * m->hd;
    rlv_pool *pool = mm_ctx_pool(ws->mm);
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    layer_prefetch(m, 0);
    for (int l = 0; l < m->L; l++) {
        if (timing_past(ws->deadline_ms)) {
            if (ws->stream) wstream_abort(ws->stream); /* the next forward starts at layer 0 */
            return l;
        }
        llm_layer streamed;
        const llm_layer *ly = layer_get(ws, l, &streamed);
        timing_stop(tm, RLV_STAGE_STREAM, &t0);
        float *kc = ws->k_cache + ((size_t)l * ws->kv_rows + kv0) * kvd;
        float *vc = ws->v_cache + ((size_t)l * ws->kv_rows + kv0) * kvd;
        layer_prefetch(m, l + 1);
        timing_stop(tm, RLV_STAGE_PREFETCH, &t0);
        rms_norm(ws, ws->h, ws->x, ly->ln_in, R);
        timing_stop(tm, RLV_STAGE_NORM, &t0);
        mm_hold_x(ws->mm, ws->h, H, R, H); /* packed once for q, k and v */
        mm(ws, ws->q, qd, ws->h, H, R, H, &ly->wq, qd, 0);
        mm(ws, kc, kvd, ws->h, H, R, H, &ly->wk, kvd, 0);
        mm(ws, vc, kvd, ws->h, H, R, H, &ly->wv, kvd, 0);
        mm_release_x(ws->mm);
        timing_stop(tm, RLV_STAGE_MATMUL, &t0);
        rows_task rt = {.ws = ws, .y = kc};
        pool_for(pool, R, 1, rope_run, &rt);
        timing_stop(tm, RLV_STAGE_ROPE, &t0);
        /* charges its own two stages: the prefix rows' keys are rotated and cached by now */
        if (npre > 0) attention(ws, l, 0, npre, 0, 1, (const int[2]){0, npre}, kv0);
        if (R > npre) attention(ws, l, npre, R - npre, ctx, nseg, seg_off, kv0 + npre);
        t0 = timing_start(tm);
        mm(ws, ws->x, H, ws->att, qd, R, qd, &ly->wo, H, 1);
        timing_stop(tm, RLV_STAGE_MATMUL, &t0);
        rms_norm(ws, ws->h, ws->x, ly->ln_post, R);
        timing_stop(tm, RLV_STAGE_NORM, &t0);
        /* SwiGLU over blocks of intermediate columns: x += silu(h.Wg[f]^T) * (h.Wu[f]^T) . Wd[:, f]^T;
         * h packed once for every gate and up block */
        mm_hold_x(ws->mm, ws->h, H, R, H);
        for (int f0 = 0; f0 < F; f0 += LLM_FFN_COLS) {
            int fc = F - f0 < LLM_FFN_COLS ? F - f0 : LLM_FFN_COLS;
            mm_xwt(ws->mm, ws->gate, fc, ws->h, H, R, H, mm_w_at(ly->wg.w, (size_t)f0, 0), fc, NULL, 0);
            mm_xwt(ws->mm, ws->up, fc, ws->h, H, R, H, mm_w_at(ly->wu.w, (size_t)f0, 0), fc, NULL, 0);
            timing_stop(tm, RLV_STAGE_MATMUL, &t0);
            rows_task st = {.ws = ws, .n = fc};
            pool_for(pool, R, 1, silu_run, &st);
            timing_stop(tm, RLV_STAGE_ACT, &t0);
            /* a column block of down_proj: q8 views keep their scales whatever f0 (mm_w_at) */
            mm_xwt(ws->mm, ws->x, H, ws->gate, fc, R, fc, mm_w_at(ly->wd.w, 0, (size_t)f0), H, NULL, 1);
            timing_stop(tm, RLV_STAGE_MATMUL, &t0);
        }
        mm_release_x(ws->mm);
        layer_done(ws, l);
    }
    rms_norm(ws, ws->h, ws->x, m->norm, R);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
    return m->L;
}

/* Embedding rows [lo, hi) of ws->x from ws->row_src. */
static void gather_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    const llm_model *m = t->ws->m;
    size_t H = (size_t)m->H;
    for (int r = lo; r < hi; r++) {
        int src = t->ws->row_src[r];
        float *dst = t->ws->x + (size_t)r * H;
        if (src < 0) memcpy(dst, t->emb + (size_t)(-src - 1) * H, H * sizeof(float));
        else mm_w_to_f32(dst, mm_w_at(m->embed.w, (size_t)src, 0), 1, H);
    }
}

static double log_sum_exp(const float *z, int n) {
    float mx = nn_max(z, n);
    return mx + log(nn_exp_sum(NULL, z, n, mx));  /* each term <= 1: float exp, double sum */
}

/* Rows [lo, hi) of a block of t->n logits starting at vocabulary entry t->v0: running max and
 * sum of each row (design note 4), and the logit of the row's target if it is in the block. */
static void logsoftmax_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    llm_ws *ws = t->ws;
    int nv = t->n;
    for (int r = lo; r < hi; r++) {
        const float *z = ws->logits + (size_t)r * nv;
        float mx = nn_max(z, nv);
        if (mx > ws->row_max[r]) {
            ws->row_sum[r] *= exp((double)ws->row_max[r] - mx);  /* exp(-inf) = 0 on the first block */
            ws->row_max[r] = mx;
        }
        ws->row_sum[r] += nn_exp_sum(NULL, z, nv, ws->row_max[r]);  /* each term <= 1 */
        int k = ws->tgt[r] - t->v0;
        if (k >= 0 && k < nv) ws->row_tgt[r] = z[k];
    }
}

/* The prefix lives in the worker's own cache rows [0, P) (design note 2). */
static void own_prefix(llm_ws *ws) {
    ws->P = 0;
    ws->pre_k = ws->k_cache, ws->pre_v = ws->v_cache, ws->pre_logits = ws->prefix_logits;
    ws->pre_layer = (size_t)ws->kv_rows * ws->m->nkv * ws->m->hd;
}

/* Rows [0, n) of a prefix: each row's embedding source (ws->row_src) and position, checked. */
static int prefix_rows(llm_ws *ws, const int32_t *ids, int n, const float *emb, const int *emb_pos, int n_emb,
                       rlv_err *err) {
    const llm_model *m = ws->m;
    if (n < 1) return rlv_errf(err, RLV_EINVAL, "prefix: %d tokens", n);
    if (n > ws->lim.max_prefix)
        return rlv_errf(err, RLV_ETOO_LONG, "prefix: %d tokens > limit %d", n, ws->lim.max_prefix);
    if (n_emb < 0 || n_emb > n || (n_emb > 0 && (!emb || !emb_pos)))
        return rlv_errf(err, RLV_EINVAL, "prefix: %d embedding rows for %d tokens", n_emb, n);
    memset(ws->row_src, 0, (size_t)n * sizeof *ws->row_src);
    for (int k = 0; k < n_emb; k++) {
        int p = emb_pos[k];
        if (p < 0 || p >= n || ws->row_src[p] < 0)
            return rlv_errf(err, RLV_EINVAL, "prefix: embedding row %d at position %d (bad or repeated)", k, p);
        ws->row_src[p] = -(k + 1);
    }
    for (int i = 0; i < n; i++) {
        ws->pos[i] = i;
        if (ws->row_src[i] < 0) continue;
        if (ids[i] < 0 || ids[i] >= m->V)
            return rlv_errf(err, RLV_EINVAL, "prefix: token %d at position %d outside vocab %d", ids[i], i, m->V);
        ws->row_src[i] = ids[i];
    }
    return RLV_OK;
}

/* The rows of ws->x from ws->row_src (rows [0, R)); emb: the prefix's embedding rows. */
static void gather(llm_ws *ws, int R, const float *emb) {
    rows_task gt = {.ws = ws, .emb = emb};
    pool_for(mm_ctx_pool(ws->mm), R, 1, gather_run, &gt);
}

/* After a forward whose rows [0, n) were the prefix: its last row's logits, and ws holds it. */
static void prefix_done(llm_ws *ws, int n) {
    const llm_model *m = ws->m;
    double t0 = timing_start(ws->timing);
    mm(ws, ws->prefix_logits, m->V, ws->h + (size_t)(n - 1) * m->H, m->H, 1, m->H, &m->lm_head, m->V, 0);
    timing_stop(ws->timing, RLV_STAGE_LM_HEAD, &t0);
    ws->prefix_lse = log_sum_exp(ws->prefix_logits, m->V);
    timing_stop(ws->timing, RLV_STAGE_LOGSOFTMAX, &t0);
    ws->P = n;
}

int llm_prefix(llm_ws *ws, const int32_t *ids, int n, const float *emb, const int *emb_pos, int n_emb,
               rlv_err *err) {
    own_prefix(ws);
    double t0 = timing_start(ws->timing);
    int rc = prefix_rows(ws, ids, n, emb, emb_pos, n_emb, err);
    if (rc) return rc;
    gather(ws, n, emb);
    timing_stop(ws->timing, RLV_STAGE_EMBED, &t0);
    int seg[2] = {0, n}, done = forward(ws, n, 0, 0, 0, 1, seg);
    if (done < ws->m->L)
        return rlv_errf(err, RLV_ETIMEOUT, "prefix: the time limit passed after %d of %d decoder layers", done, ws->m->L);
    prefix_done(ws, n);
    return RLV_OK;
}

/* ------------------------------------------------------------------ saved prefixes */

/* A saved prefix state: this header, then logits [V], K [L][n][nkv*hd], V [L][n][nkv*hd]. */
typedef struct prefix_hdr {
    int32_t n, V, L, kvd;  /* the sizes it was saved with, checked by llm_prefix_attach */
    double lse;            /* log-sum-exp of the logits */
} prefix_hdr;

size_t llm_prefix_state_bytes(const llm_model *m, int n) {
    size_t kvd = (size_t)m->nkv * m->hd;
    return sizeof(prefix_hdr) + ((size_t)m->V + 2 * (size_t)m->L * (size_t)n * kvd) * sizeof(float);
}

int llm_prefix_save(const llm_ws *ws, void *dst, size_t bytes, rlv_err *err) {
    const llm_model *m = ws->m;
    int P = ws->P;
    if (P < 1) return rlv_errf(err, RLV_EINVAL, "prefix save: no prefix");
    if (bytes != llm_prefix_state_bytes(m, P))
        return rlv_errf(err, RLV_EINVAL, "prefix save: %zu bytes, a %d-token prefix needs %zu", bytes, P,
                        llm_prefix_state_bytes(m, P));
    size_t kvd = (size_t)m->nkv * m->hd, rows = (size_t)P * kvd;
    prefix_hdr h = {P, m->V, m->L, (int32_t)kvd, ws->prefix_lse};
    memcpy(dst, &h, sizeof h);
    float *logits = (float *)((char *)dst + sizeof h), *k = logits + m->V, *v = k + (size_t)m->L * rows;
    memcpy(logits, ws->pre_logits, (size_t)m->V * sizeof(float));
    for (int l = 0; l < m->L; l++) {
        memcpy(k + l * rows, ws->pre_k + l * ws->pre_layer, rows * sizeof(float));
        memcpy(v + l * rows, ws->pre_v + l * ws->pre_layer, rows * sizeof(float));
    }
    return RLV_OK;
}

int llm_prefix_attach(llm_ws *ws, const void *src, size_t bytes, rlv_err *err) {
    const llm_model *m = ws->m;
    own_prefix(ws);
    prefix_hdr h;
    if (bytes < sizeof h) return rlv_errf(err, RLV_EINVAL, "prefix attach: %zu bytes", bytes);
    memcpy(&h, src, sizeof h);
    size_t kvd = (size_t)m->nkv * m->hd;
    if (h.V != m->V || h.L != m->L || h.kvd != (int32_t)kvd || h.n < 1 || bytes != llm_prefix_state_bytes(m, h.n))
        return rlv_errf(err, RLV_EINVAL, "prefix attach: a state of %d tokens, vocab %d, %d layers, kv width %d "
                        "in %zu bytes does not fit this model", h.n, h.V, h.L, h.kvd, bytes);
    if (h.n > ws->lim.max_prefix)
        return rlv_errf(err, RLV_ETOO_LONG, "prefix attach: %d tokens > limit %d", h.n, ws->lim.max_prefix);
    ws->pre_logits = (const float *)((const char *)src + sizeof h);
    ws->pre_k = ws->pre_logits + m->V;
    ws->pre_v = ws->pre_k + (size_t)m->L * h.n * kvd;
    ws->pre_layer = (size_t)h.n * kvd;
    ws->prefix_lse = h.lse;
    ws->P = h.n;
    return RLV_OK;
}

void llm_prefix_detach(llm_ws *ws) { own_prefix(ws); }

/* The candidates' limits and ids; *R gets the rows they take (each candidate's tokens but its last). */
static int cands_check(const llm_ws *ws, const int32_t *const *cand, const int *lens, int n, int *R, rlv_err *err) {
    int V = ws->m->V;
    if (n < 1) return rlv_errf(err, RLV_EINVAL, "score: %d candidates", n);
    if (n > ws->lim.max_cands) return rlv_errf(err, RLV_ELIMIT, "score: %d candidates > limit %d", n, ws->lim.max_cands);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (lens[i] < 1) return rlv_errf(err, RLV_EINVAL, "score: candidate %d has %d tokens", i, lens[i]);
        total += lens[i];
        if (total > ws->lim.max_cand_tokens)
            return rlv_errf(err, RLV_ETOO_LONG, "score: candidates 0..%d hold more than %d tokens", i,
                            ws->lim.max_cand_tokens);
        for (int j = 0; j < lens[i]; j++)
            if (cand[i][j] < 0 || cand[i][j] >= V)
                return rlv_errf(err, RLV_EINVAL, "score: candidate %d token %d = %d outside vocab %d", i, j,
                                cand[i][j], V);
    }
    *R = (int)total - n;
    return RLV_OK;
}

/* Rows from `base`: c_0 .. c_{T-2} of each candidate, at positions P, P + 1, ... (design note 2);
 * ws->seg_off gets their segments, relative to base. */
static void cands_rows(llm_ws *ws, int base, int P, const int32_t *const *cand, const int *lens, int n) {
    int *off = ws->seg_off, R = 0;
    for (int i = 0; i < n; i++) {
        off[i] = R;
        for (int j = 0; j < lens[i] - 1; j++, R++) {
            ws->pos[base + R] = P + j;
            ws->row_src[base + R] = cand[i][j];
        }
    }
    off[n] = R;
}

/* After a forward whose rows from `base` were the R candidate rows: the log-probs and sums. */
static void cands_done(llm_ws *ws, int base, int R, const int32_t *const *cand, const int *lens, int n,
                       double *logps, double *sums) {
    const llm_model *m = ws->m;
    int H = m->H, V = m->V;
    const int *off = ws->seg_off;
    const float *h = ws->h + (size_t)base * H;
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    /* c_0 from the prefix's last row; c_{j+1} from row off_i + j (design note 4) */
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        logps[o] = (double)ws->pre_logits[cand[i][0]] - ws->prefix_lse;
        o += (size_t)lens[i];
    }
    int seg = 0;
    for (int r = 0; r < R; r++) {
        while (r >= off[seg + 1]) seg++;
        ws->tgt[r] = cand[seg][r - off[seg] + 1];  /* row j of candidate seg predicts its token j + 1 */
        ws->row_max[r] = -INFINITY;
        ws->row_sum[r] = 0;
    }
    /* lm_head over vocabulary blocks, all scored rows at once; log-sum-exp accumulated online */
    int vc = V < LLM_VOCAB_COLS ? V : LLM_VOCAB_COLS;
    mm_hold_x(ws->mm, h, H, R, H); /* packed once for every vocabulary block */
    for (int v0 = 0; v0 < V && R > 0; v0 += vc) {
        int nv = V - v0 < vc ? V - v0 : vc;
        mm_xwt(ws->mm, ws->logits, nv, h, H, R, H, mm_w_at(m->lm_head.w, (size_t)v0, 0), nv, NULL, 0);
        timing_stop(tm, RLV_STAGE_LM_HEAD, &t0);
        rows_task lt = {.ws = ws, .n = nv, .v0 = v0};
        pool_for(mm_ctx_pool(ws->mm), R, 1, logsoftmax_run, &lt);
        timing_stop(tm, RLV_STAGE_LOGSOFTMAX, &t0);
    }
    mm_release_x(ws->mm);
    for (int r = 0, s = 0; r < R; r++) {
        while (r >= off[s + 1]) s++;
        /* logps index of token j+1 of candidate s: its start (= off[s] + s) + j + 1 */
        logps[(size_t)r + s + 1] = (double)ws->row_tgt[r] - (ws->row_max[r] + log(ws->row_sum[r]));
    }
    if (sums) {
        o = 0;
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < lens[i]; j++) s += logps[o + j];
            sums[i] = s;
            o += (size_t)lens[i];
        }
    }
}

int llm_score(llm_ws *ws, const int32_t *const *cand, const int *lens, int n, double *logps, double *sums,
              rlv_err *err) {
    int P = ws->P, R;
    if (P < 1) return rlv_errf(err, RLV_EINVAL, "score: no prefix (llm_prefix failed or was not run)");
    int rc = cands_check(ws, cand, lens, n, &R, err);
    if (rc) return rc;
    double t0 = timing_start(ws->timing);
    cands_rows(ws, 0, P, cand, lens, n);
    gather(ws, R, NULL);
    timing_stop(ws->timing, RLV_STAGE_EMBED, &t0);
    int done = R > 0 ? forward(ws, R, P, 0, P, n, ws->seg_off) : ws->m->L;
    if (done < ws->m->L)
        return rlv_errf(err, RLV_ETIMEOUT, "candidates: the time limit passed after %d of %d decoder layers", done,
                        ws->m->L);
    cands_done(ws, 0, R, cand, lens, n, logps, sums);
    return RLV_OK;
}

int llm_prefix_score(llm_ws *ws, const int32_t *ids, int np, const float *emb, const int *emb_pos, int n_emb,
                     const int32_t *const *cand, const int *lens, int n, double *logps, double *sums, rlv_err *err) {
    own_prefix(ws);
    double t0 = timing_start(ws->timing);
    int R, rc = prefix_rows(ws, ids, np, emb, emb_pos, n_emb, err);
    if (!rc) rc = cands_check(ws, cand, lens, n, &R, err);
    if (rc) return rc;
    if (np + R > ws->cap_rows) {  /* more rows than one forward holds: the prefix, then the candidates */
        rc = llm_prefix(ws, ids, np, emb, emb_pos, n_emb, err);
        if (!rc && (rc = llm_score(ws, cand, lens, n, logps, sums, err))) own_prefix(ws);
        return rc;
    }
    cands_rows(ws, np, np, cand, lens, n);
    gather(ws, np + R, emb);
    timing_stop(ws->timing, RLV_STAGE_EMBED, &t0);
    int done = forward(ws, np + R, 0, np, np, n, ws->seg_off);
    if (done < ws->m->L)
        return rlv_errf(err, RLV_ETIMEOUT, "prefix and candidates: the time limit passed after %d of %d decoder layers",
                        done, ws->m->L);
    prefix_done(ws, np);
    cands_done(ws, np, R, cand, lens, n, logps, sums);
    return RLV_OK;
}
