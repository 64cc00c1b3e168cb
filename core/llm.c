/* llm.c — the Mistral decoder: shared prefix once, then all candidates in one batch.
 *
 * Design notes.
 * (1) The model is read-only after llm_model_init(); every mutable byte of a job lives in
 *     the worker's llm_ws, sized once from llm_limits. No malloc after llm_ws_init().
 * (2) KV cache rows: [0, P) hold the prefix, [P, P + R) the R rows of the current candidate
 *     batch. Candidate i's rows are the tokens c_0 .. c_{T_i-2} (the last token's output is
 *     never scored); they sit at rows [P + off_i, P + off_i + T_i - 1) and at positions
 *     P, P + 1, ... — every candidate continues from the prefix (model-spec 6).
 * (3) Attention per query head, through BLAS: one product Q·K_prefixᵀ for ALL rows of the
 *     batch (the shared part), one small Q_i·K_iᵀ per candidate (its own causal block); the
 *     softmax runs over [prefix | own block] with the unseen part of the block zeroed, so
 *     P·V_prefix + P_i·V_i gives the block-diagonal causal result. The prefix itself is one
 *     candidate of P rows with no shared part.
 * (4) Scored rows: the last prefix row predicts c_0 of every candidate (its log-softmax is
 *     computed once, in llm_prefix); candidate row j predicts c_{j+1}. lm_head runs on all
 *     scored rows for LLM_VOCAB_COLS vocabulary entries at a time, keeping a running max and
 *     sum per row, so no rows x vocab matrix exists and lm_head is widened once per batch.
 * (5) Weight traffic: with bf16 weights every product widens panels (mm.h); the MLP and
 *     lm_head loop over weight blocks on the outside and rows inside, so each weight byte is
 *     widened once per forward however many rows the batch has. */
#include "llm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "mm.h"
#include "timing.h"

/* Columns of the MLP's intermediate activations computed at once (gate/up rows f0.., the
 * matching down_proj columns): every weight panel is widened once per forward, whatever R. */
#define LLM_FFN_COLS 2048
/* Vocabulary entries of logits computed at once, for every scored row; log-softmax is
 * accumulated over the blocks (running max and sum), so lm_head is widened once per batch. */
#define LLM_VOCAB_COLS 4096

typedef struct llm_w {
    const void *p;  /* row-major [rows, cols] as stored (or an f32 copy, see f32_owned) */
    rlv_dtype dt;
} llm_w;

typedef struct llm_layer {
    llm_w wq, wk, wv, wo, wg, wu, wd;
    float *ln_in, *ln_post;  /* [H] f32, owned */
} llm_layer;

struct llm_model {
    const rlv_config *cfg;
    int H, F, V, L, nh, nkv, hd;
    float eps;
    double theta;
    llm_w embed, lm_head;
    float *norm;            /* [H] f32, owned */
    llm_layer *layers;      /* [L] */
    void **f32_owned;       /* LLM_F32_WEIGHTS copies, n_owned of them */
    int n_owned;
    size_t weight_bytes;
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
    float *scores;     /* [score_floats]: attention probabilities of one head */
    size_t score_floats;
    float *logits;     /* [cap_rows][min(V, LLM_VOCAB_COLS)] */
    float *row_max;    /* [cap_rows] running max of each scored row's logits */
    double *row_sum;   /* [cap_rows] running sum of exp(logit - row_max) */
    float *row_tgt;    /* [cap_rows] logit of the row's scored token */
    int *tgt;          /* [cap_rows] the row's scored token */
    mm_ctx *mm;        /* the worker's products and pool (not owned) */
    int *pos;          /* [cap_rows] position of each row */
    int *seg_off;      /* [max(max_cands, 1) + 1] row offsets of the segments */
    unsigned char *mark; /* [max_prefix] which prefix positions take embedding rows */
    float *prefix_logits; /* [V] logits of the last prefix row */
    double prefix_lse;    /* their log-sum-exp */
    rlv_timing *timing; /* stage times, caller-owned; NULL: not measured */
    int P;             /* prefix rows in the cache; 0 = none */
    size_t kv_bytes, scratch_bytes;
};

/* ------------------------------------------------------------------ model */

static int find_w(const ckpt *c, const char *name, int64_t rows, int64_t cols, const rlv_tensor **out,
                  rlv_err *err) {
    const rlv_tensor *t = ckpt_find(c, name);
    if (!t) return rlv_errf(err, RLV_EMISSING, "decoder tensor '%s' missing", name);
    int ok = cols ? (t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols)
                  : (t->ndim == 1 && t->shape[0] == rows);
    if (!ok) {
        char got[96];
        rlv_shape_str(t->shape, t->ndim, got, sizeof got);
        if (cols)
            return rlv_errf(err, RLV_ESHAPE, "'%s': shape %s, config wants [%lld, %lld]", name, got,
                            (long long)rows, (long long)cols);
        return rlv_errf(err, RLV_ESHAPE, "'%s': shape %s, config wants [%lld]", name, got, (long long)rows);
    }
    if (t->dtype != RLV_F32 && t->dtype != RLV_BF16 && t->dtype != RLV_F16)
        return rlv_errf(err, RLV_EDTYPE, "'%s': unsupported dtype", name);
    *out = t;
    return RLV_OK;
}

static int own_f32(llm_model *m, float **out, const rlv_tensor *t, rlv_err *err) {
    size_t n = (size_t)rlv_tensor_numel(t);
    float *p = malloc(n * sizeof(float));
    if (!p) return rlv_errf(err, RLV_ENOMEM, "'%s': %zu bytes as f32", t->name, n * sizeof(float));
    half_to_f32_n(p, t->data, t->dtype, n);
    m->f32_owned[m->n_owned++] = p;
    *out = p;
    return RLV_OK;
}

static int load_mat(llm_model *m, const ckpt *c, const char *name, int64_t rows, int64_t cols, int flags,
                    llm_w *w, rlv_err *err) {
    const rlv_tensor *t;
    int rc = find_w(c, name, rows, cols, &t, err);
    if (rc) return rc;
    if ((flags & LLM_F32_WEIGHTS) && t->dtype != RLV_F32) {
        float *p;
        if ((rc = own_f32(m, &p, t, err))) return rc;
        w->p = p;
        w->dt = RLV_F32;
        m->weight_bytes += (size_t)rows * (size_t)cols * sizeof(float);
    } else {
        w->p = t->data;
        w->dt = t->dtype;
        m->weight_bytes += t->nbytes;
    }
    return RLV_OK;
}

static int load_vec(llm_model *m, const ckpt *c, const char *name, int64_t n, float **out, rlv_err *err) {
    const rlv_tensor *t;
    int rc = find_w(c, name, n, 0, &t, err);
    if (rc) return rc;
    m->weight_bytes += t->nbytes;
    return own_f32(m, out, t, err);
}

int llm_model_init(llm_model **out, const ckpt *c, const rlv_config *cfg, int flags, rlv_err *err) {
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
    int hd = m->hd, kvd = nkv * hd;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    m->f32_owned = calloc((size_t)L * 9 + 4, sizeof(void *));
    int rc = RLV_OK;
    if (!m->layers || !m->f32_owned) {
        rc = rlv_errf(err, RLV_ENOMEM, "llm_model layers");
        goto fail;
    }
    const rlv_tensor *t;
    if ((rc = find_w(c, "model.embed_tokens.weight", V, H, &t, err))) goto fail;
    m->embed.p = t->data, m->embed.dt = t->dtype;  /* rows are gathered, never multiplied */
    m->weight_bytes += t->nbytes;
    if ((rc = load_mat(m, c, "lm_head.weight", V, H, flags, &m->lm_head, err))) goto fail;
    if ((rc = load_vec(m, c, "model.norm.weight", H, &m->norm, err))) goto fail;
    for (int i = 0; i < L; i++) {
        llm_layer *ly = &m->layers[i];
        char n[128];
#define LLM_MAT(field, suffix, r, cl)                                              \
        snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix);                    \
        if ((rc = load_mat(m, c, n, r, cl, flags, &ly->field, err))) goto fail;
        LLM_MAT(wq, "self_attn.q_proj.weight", nh * hd, H)
        LLM_MAT(wk, "self_attn.k_proj.weight", kvd, H)
        LLM_MAT(wv, "self_attn.v_proj.weight", kvd, H)
        LLM_MAT(wo, "self_attn.o_proj.weight", H, nh * hd)
        LLM_MAT(wg, "mlp.gate_proj.weight", F, H)
        LLM_MAT(wu, "mlp.up_proj.weight", F, H)
        LLM_MAT(wd, "mlp.down_proj.weight", H, F)
#undef LLM_MAT
        snprintf(n, sizeof n, "model.layers.%d.input_layernorm.weight", i);
        if ((rc = load_vec(m, c, n, H, &ly->ln_in, err))) goto fail;
        snprintf(n, sizeof n, "model.layers.%d.post_attention_layernorm.weight", i);
        if ((rc = load_vec(m, c, n, H, &ly->ln_post, err))) goto fail;
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
    for (int i = 0; i < m->n_owned; i++) free(m->f32_owned[i]);
    free(m->f32_owned);
    free(m->layers);
    free(m);
    *mp = NULL;
}

size_t llm_model_weight_bytes(const llm_model *m) { return m->weight_bytes; }
const rlv_config *llm_model_config(const llm_model *m) { return m->cfg; }

/* ------------------------------------------------------------------ workspace */

static void *ws_alloc(llm_ws *ws, size_t n, size_t elem, size_t *acct, int *fail) {
    void *p = calloc(n ? n : 1, elem);
    if (!p) *fail = 1;
    *acct += n * elem;
    (void)ws;
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
    /* scores of one head: the prefix (P x P) or the batch (R x (P + longest candidate)) */
    size_t s1 = (size_t)lim->max_prefix * (size_t)lim->max_prefix;
    size_t s2 = (size_t)lim->max_cand_tokens * kvr;
    ws->score_floats = s1 > s2 ? s1 : s2;
    int fc = m->F < LLM_FFN_COLS ? m->F : LLM_FFN_COLS, vc = m->V < LLM_VOCAB_COLS ? m->V : LLM_VOCAB_COLS;
    int fail = 0;
    size_t *kb = &ws->kv_bytes, *sb = &ws->scratch_bytes;
    ws->k_cache = ws_alloc(ws, (size_t)m->L * kvr * kvd, sizeof(float), kb, &fail);
    ws->v_cache = ws_alloc(ws, (size_t)m->L * kvr * kvd, sizeof(float), kb, &fail);
    ws->rope_cos = ws_alloc(ws, kvr * (size_t)(m->hd / 2), sizeof(float), sb, &fail);
    ws->rope_sin = ws_alloc(ws, kvr * (size_t)(m->hd / 2), sizeof(float), sb, &fail);
    ws->x = ws_alloc(ws, cap * H, sizeof(float), sb, &fail);
    ws->h = ws_alloc(ws, cap * H, sizeof(float), sb, &fail);
    ws->q = ws_alloc(ws, cap * qd, sizeof(float), sb, &fail);
    ws->att = ws->q;
    ws->gate = ws_alloc(ws, cap * fc, sizeof(float), sb, &fail);
    ws->up = ws_alloc(ws, cap * fc, sizeof(float), sb, &fail);
    ws->scores = ws_alloc(ws, ws->score_floats, sizeof(float), sb, &fail);
    ws->logits = ws_alloc(ws, cap * vc, sizeof(float), sb, &fail);
    ws->row_max = ws_alloc(ws, cap, sizeof(float), sb, &fail);
    ws->row_sum = ws_alloc(ws, cap, sizeof(double), sb, &fail);
    ws->row_tgt = ws_alloc(ws, cap, sizeof(float), sb, &fail);
    ws->tgt = ws_alloc(ws, cap, sizeof(int), sb, &fail);
    ws->pos = ws_alloc(ws, cap, sizeof(int), sb, &fail);
    ws->seg_off = ws_alloc(ws, (size_t)lim->max_cands + 2, sizeof(int), sb, &fail);
    ws->mark = ws_alloc(ws, (size_t)lim->max_prefix, 1, sb, &fail);
    ws->prefix_logits = ws_alloc(ws, (size_t)m->V, sizeof(float), sb, &fail);
    if (fail) {
        size_t total = ws->kv_bytes + ws->scratch_bytes;
        llm_ws_free(&ws);
        return rlv_errf(err, RLV_ENOMEM, "llm workspace: %zu bytes for limits %d/%d/%d", total,
                        lim->max_prefix, lim->max_cand_tokens, lim->max_cands);
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
    free(ws->k_cache), free(ws->v_cache), free(ws->rope_cos), free(ws->rope_sin);
    free(ws->x), free(ws->h), free(ws->q), free(ws->gate), free(ws->up);
    free(ws->scores), free(ws->logits), free(ws->pos), free(ws->seg_off);
    free(ws->row_max), free(ws->row_sum), free(ws->row_tgt), free(ws->tgt);
    free(ws->mark), free(ws->prefix_logits);
    free(ws);
    *wp = NULL;
}

size_t llm_ws_kv_bytes(const llm_ws *ws) { return ws->kv_bytes; }
size_t llm_ws_scratch_bytes(const llm_ws *ws) { return ws->scratch_bytes; }
void llm_ws_set_timing(llm_ws *ws, rlv_timing *t) { ws->timing = t; }

/* ------------------------------------------------------------------ forward */

static void rms_norm(float *y, const float *x, const float *w, int rows, int H, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * H;
        float *yr = y + (size_t)r * H;
        double ss = 0;
        for (int i = 0; i < H; i++) ss += (double)xr[i] * xr[i];
        float s = (float)(1.0 / sqrt(ss / H + eps));
        for (int i = 0; i < H; i++) yr[i] = xr[i] * s * w[i];
    }
}

/* Rotates the n_heads heads of hd floats in each row (row stride ld) at the row's position. */
static void rope(const llm_ws *ws, float *a, int ld, int rows, int n_heads, int hd) {
    int half = hd / 2;
    for (int r = 0; r < rows; r++) {
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

/* Attention of layer l for R rows in nseg segments (seg_off[nseg + 1]); every row sees the
 * ctx cached rows [0, ctx) and the earlier rows of its own segment, whose K/V are at cache
 * rows kv0 + r. Writes ws->att. */
static void attention(llm_ws *ws, int l, int R, int ctx, int nseg, const int *seg_off, int kv0) {
    const llm_model *m = ws->m;
    int hd = m->hd, qd = m->nh * m->hd, kvd = m->nkv * m->hd, group = m->nh / m->nkv;
    int maxseg = 0;
    for (int s = 0; s < nseg; s++)
        if (seg_off[s + 1] - seg_off[s] > maxseg) maxseg = seg_off[s + 1] - seg_off[s];
    int ld = ctx + maxseg;
    RLV_ASSERT((size_t)R * ld <= ws->score_floats);
    const float scale = 1.0f / sqrtf((float)hd);
    const float *kc = ws->k_cache + (size_t)l * ws->kv_rows * kvd;
    const float *vc = ws->v_cache + (size_t)l * ws->kv_rows * kvd;
    float *S = ws->scores;
    for (int h = 0; h < m->nh; h++) {
        int g = h / group;
        const float *Q = ws->q + (size_t)h * hd;
        const float *K = kc + (size_t)g * hd, *Vv = vc + (size_t)g * hd;
        float *O = ws->att + (size_t)h * hd;
        if (ctx > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, ctx, hd, scale, Q, qd, K, kvd, 0.0f, S, ld);
        for (int s = 0; s < nseg; s++) {
            int o = seg_off[s], n = seg_off[s + 1] - o;
            if (n == 0) continue;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, hd, scale, Q + (size_t)o * qd, qd,
                        K + (size_t)(kv0 + o) * kvd, kvd, 0.0f, S + (size_t)o * ld + ctx, ld);
            for (int j = 0; j < n; j++) {
                float *row = S + (size_t)(o + j) * ld;
                int w = ctx + j + 1;  /* visible: the context and own rows 0..j */
                float mx = row[0];
                for (int t = 1; t < w; t++) mx = row[t] > mx ? row[t] : mx;
                double sum = 0;
                for (int t = 0; t < w; t++) {
                    row[t] = expf(row[t] - mx);
                    sum += row[t];
                }
                float inv = (float)(1.0 / sum);
                for (int t = 0; t < w; t++) row[t] *= inv;
                for (int t = w; t < ctx + n; t++) row[t] = 0.0f;
            }
        }
        if (ctx > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, hd, ctx, 1.0f, S, ld, Vv, kvd, 0.0f, O, qd);
        for (int s = 0; s < nseg; s++) {
            int o = seg_off[s], n = seg_off[s + 1] - o;
            if (n == 0) continue;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, hd, n, 1.0f, S + (size_t)o * ld + ctx, ld,
                        Vv + (size_t)(kv0 + o) * kvd, kvd, ctx > 0 ? 1.0f : 0.0f, O + (size_t)o * qd, qd);
        }
    }
}

static void mm(llm_ws *ws, float *y, int ldy, const float *x, int ldx, int rows, int k, const llm_w *w, int n,
               int acc) {
    mm_xwt(ws->mm, y, ldy, x, ldx, rows, k, w->p, k, w->dt, n, NULL, acc);
}

/* The sub-matrix of w starting at element (row r0, column c0), row stride ld elements. */
static const void *w_at(const llm_w *w, size_t r0, size_t c0, size_t ld) {
    return (const char *)w->p + (r0 * ld + c0) * rlv_dtype_size(w->dt);
}

/* ws->x holds R embedded rows (positions in ws->pos); runs every layer, K/V of row r going
 * to cache row kv0 + r, and leaves the final-normed rows in ws->h. */
static void forward(llm_ws *ws, int R, int ctx, int nseg, const int *seg_off, int kv0) {
    const llm_model *m = ws->m;
    int H = m->H, F = m->F, qd = m->nh * m->hd, kvd = m->nkv * m->hd;
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    for (int l = 0; l < m->L; l++) {
        const llm_layer *ly = &m->layers[l];
        float *kc = ws->k_cache + ((size_t)l * ws->kv_rows + kv0) * kvd;
        float *vc = ws->v_cache + ((size_t)l * ws->kv_rows + kv0) * kvd;
        rms_norm(ws->h, ws->x, ly->ln_in, R, H, m->eps);
        timing_stop(tm, RLV_STAGE_NORM, &t0);
        mm(ws, ws->q, qd, ws->h, H, R, H, &ly->wq, qd, 0);
        mm(ws, kc, kvd, ws->h, H, R, H, &ly->wk, kvd, 0);
        mm(ws, vc, kvd, ws->h, H, R, H, &ly->wv, kvd, 0);
        timing_stop(tm, RLV_STAGE_MATMUL, &t0);
        rope(ws, ws->q, qd, R, m->nh, m->hd);
        rope(ws, kc, kvd, R, m->nkv, m->hd);
        timing_stop(tm, RLV_STAGE_ROPE, &t0);
        attention(ws, l, R, ctx, nseg, seg_off, kv0);
        timing_stop(tm, RLV_STAGE_ATTENTION, &t0);
        mm(ws, ws->x, H, ws->att, qd, R, qd, &ly->wo, H, 1);
        timing_stop(tm, RLV_STAGE_MATMUL, &t0);
        rms_norm(ws->h, ws->x, ly->ln_post, R, H, m->eps);
        timing_stop(tm, RLV_STAGE_NORM, &t0);
        /* SwiGLU over blocks of intermediate columns: x += silu(h.Wg[f]^T) * (h.Wu[f]^T) . Wd[:, f]^T */
        for (int f0 = 0; f0 < F; f0 += LLM_FFN_COLS) {
            int fc = F - f0 < LLM_FFN_COLS ? F - f0 : LLM_FFN_COLS;
            mm_xwt(ws->mm, ws->gate, fc, ws->h, H, R, H, w_at(&ly->wg, (size_t)f0, 0, (size_t)H), H, ly->wg.dt, fc,
                   NULL, 0);
            mm_xwt(ws->mm, ws->up, fc, ws->h, H, R, H, w_at(&ly->wu, (size_t)f0, 0, (size_t)H), H, ly->wu.dt, fc,
                   NULL, 0);
            timing_stop(tm, RLV_STAGE_MATMUL, &t0);
            size_t n = (size_t)R * fc;
            for (size_t i = 0; i < n; i++) {
                float g = ws->gate[i];
                ws->gate[i] = g / (1.0f + expf(-g)) * ws->up[i];
            }
            timing_stop(tm, RLV_STAGE_ACT, &t0);
            mm_xwt(ws->mm, ws->x, H, ws->gate, fc, R, fc, w_at(&ly->wd, 0, (size_t)f0, (size_t)F), F, ly->wd.dt, H,
                   NULL, 1);
            timing_stop(tm, RLV_STAGE_MATMUL, &t0);
        }
    }
    rms_norm(ws->h, ws->x, m->norm, R, H, m->eps);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
}

static void embed_row(const llm_model *m, float *dst, int id) {
    size_t es = rlv_dtype_size(m->embed.dt);
    half_to_f32_n(dst, (const char *)m->embed.p + (size_t)id * m->H * es, m->embed.dt, (size_t)m->H);
}

static double log_sum_exp(const float *z, int n) {
    float mx = z[0];
    for (int i = 1; i < n; i++) mx = z[i] > mx ? z[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) s += expf(z[i] - mx);  /* each term <= 1: float exp, double sum */
    return mx + log(s);
}

int llm_prefix(llm_ws *ws, const int32_t *ids, int n, const float *emb, const int *emb_pos, int n_emb,
               rlv_err *err) {
    const llm_model *m = ws->m;
    ws->P = 0;
    if (n < 1) return rlv_errf(err, RLV_EINVAL, "prefix: %d tokens", n);
    if (n > ws->lim.max_prefix)
        return rlv_errf(err, RLV_ETOO_LONG, "prefix: %d tokens > limit %d", n, ws->lim.max_prefix);
    if (n_emb < 0 || n_emb > n || (n_emb > 0 && (!emb || !emb_pos)))
        return rlv_errf(err, RLV_EINVAL, "prefix: %d embedding rows for %d tokens", n_emb, n);
    double t0 = timing_start(ws->timing);
    memset(ws->mark, 0, (size_t)n);
    for (int k = 0; k < n_emb; k++) {
        int p = emb_pos[k];
        if (p < 0 || p >= n || ws->mark[p])
            return rlv_errf(err, RLV_EINVAL, "prefix: embedding row %d at position %d (bad or repeated)", k, p);
        ws->mark[p] = 1;
        memcpy(ws->x + (size_t)p * m->H, emb + (size_t)k * m->H, (size_t)m->H * sizeof(float));
    }
    for (int i = 0; i < n; i++) {
        ws->pos[i] = i;
        if (ws->mark[i]) continue;
        if (ids[i] < 0 || ids[i] >= m->V)
            return rlv_errf(err, RLV_EINVAL, "prefix: token %d at position %d outside vocab %d", ids[i], i, m->V);
        embed_row(m, ws->x + (size_t)i * m->H, ids[i]);
    }
    timing_stop(ws->timing, RLV_STAGE_EMBED, &t0);
    int seg[2] = {0, n};
    forward(ws, n, 0, 1, seg, 0);
    t0 = timing_start(ws->timing);
    mm(ws, ws->prefix_logits, m->V, ws->h + (size_t)(n - 1) * m->H, m->H, 1, m->H, &m->lm_head, m->V, 0);
    timing_stop(ws->timing, RLV_STAGE_LM_HEAD, &t0);
    ws->prefix_lse = log_sum_exp(ws->prefix_logits, m->V);
    timing_stop(ws->timing, RLV_STAGE_LOGSOFTMAX, &t0);
    ws->P = n;
    return RLV_OK;
}

int llm_score(llm_ws *ws, const int32_t *const *cand, const int *lens, int n, double *logps, double *sums,
              rlv_err *err) {
    const llm_model *m = ws->m;
    int P = ws->P, H = m->H, V = m->V;
    if (P < 1) return rlv_errf(err, RLV_EINVAL, "score: no prefix (llm_prefix failed or was not run)");
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
    /* rows: c_0 .. c_{T-2} of each candidate, at positions P, P + 1, ... (design note 2) */
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    int *off = ws->seg_off, R = 0;
    for (int i = 0; i < n; i++) {
        off[i] = R;
        for (int j = 0; j < lens[i] - 1; j++, R++) {
            ws->pos[R] = P + j;
            embed_row(m, ws->x + (size_t)R * H, cand[i][j]);
        }
    }
    off[n] = R;
    timing_stop(tm, RLV_STAGE_EMBED, &t0);
    if (R > 0) forward(ws, R, P, n, off, P);
    t0 = timing_start(tm);
    /* c_0 from the prefix's last row; c_{j+1} from row off_i + j (design note 4) */
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        logps[o] = (double)ws->prefix_logits[cand[i][0]] - ws->prefix_lse;
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
    for (int v0 = 0; v0 < V && R > 0; v0 += vc) {
        int nv = V - v0 < vc ? V - v0 : vc;
        mm_xwt(ws->mm, ws->logits, nv, ws->h, H, R, H, w_at(&m->lm_head, (size_t)v0, 0, (size_t)H), H, m->lm_head.dt,
               nv, NULL, 0);
        timing_stop(tm, RLV_STAGE_LM_HEAD, &t0);
        for (int r = 0; r < R; r++) {
            const float *z = ws->logits + (size_t)r * nv;
            float mx = z[0];
            for (int i = 1; i < nv; i++) mx = z[i] > mx ? z[i] : mx;
            if (mx > ws->row_max[r]) {
                ws->row_sum[r] *= exp((double)ws->row_max[r] - mx);  /* exp(-inf) = 0 on the first block */
                ws->row_max[r] = mx;
            }
            double sum = 0;
            float m0 = ws->row_max[r];
            for (int i = 0; i < nv; i++) sum += expf(z[i] - m0);  /* each term <= 1 */
            ws->row_sum[r] += sum;
            int t = ws->tgt[r] - v0;
            if (t >= 0 && t < nv) ws->row_tgt[r] = z[t];
        }
        timing_stop(tm, RLV_STAGE_LOGSOFTMAX, &t0);
    }
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
    return RLV_OK;
}
