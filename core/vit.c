/* vit.c — EVA02 vision tower forward (see vit.h), docs/model.md §4 and §5.
 *
 * Order of one post-norm block (timm EvaBlockPostNorm), x = [tokens][width]:
 *   qkv = x.Wqkv^T + [q_bias, 0, v_bias]          (k bias is a zero buffer, not saved)
 *   a   = concat_h softmax(q_h.k_h^T / sqrt(hd)).v_h
 *   x  += LN1(a.Wproj^T + b)                       (the norm is on the branch output)
 *   x  += LN2(fc2(GELU_erf(fc1(x))))
 * Every stage runs on the worker's pool: weight products through mm_xwt (weights as stored,
 * widened per panel); attention over (head, 64-row block) items, each on one thread with the serial
 * products mm_xwt_on / mm_xw_on; LayerNorms, adds, GELU and im2col split by rows. Every row and
 * every attention item is computed the same way whatever the thread count, so these stages give
 * the same bits on any pool (test_vision checks vit_attention); the weight products split their
 * columns by the thread count and OpenBLAS does not round a column the same way at every width,
 * so the tower's output agrees across thread counts to rounding, not bitwise.
 * While block j computes, block j + 1's weights are read ahead (ckpt_prefetch). */
#include "vit.h"

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"
#include "mm.h"
#include "timing.h"

#if defined(RLV_HAVE_MVEC) && defined(__x86_64__)
#include <immintrin.h>
/* glibc's libmvec, AVX2 variants (8 lanes, max error 4 ulp): GELU's erf and softmax's exp are
 * the only per-element transcendental work of a block, about 8% of it when done one at a time. */
__attribute__((target("avx2,fma"))) __m256 _ZGVdN8v_erff(__m256);
__attribute__((target("avx2,fma"))) __m256 _ZGVdN8v_expf(__m256);
#define VIT_MVEC 1
static int vit_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

__attribute__((target("avx2,fma"))) static size_t gelu_avx2(float *x, size_t n) {
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), r2 = _mm256_set1_ps(0.70710678118654752f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 e = _ZGVdN8v_erff(_mm256_mul_ps(v, r2));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, e)));
    }
    return i;
}

/* r[j] = exp(r[j] - mx) for j < the returned count (a multiple of 8); *sum gets their sum. */
__attribute__((target("avx2,fma"))) static int exp_sub_avx2(float *r, int d, float mx, float *sum) {
    __m256 m = _mm256_set1_ps(mx), acc = _mm256_setzero_ps();
    int j = 0;
    for (; j + 8 <= d; j += 8) {
        __m256 e = _ZGVdN8v_expf(_mm256_sub_ps(_mm256_loadu_ps(r + j), m));
        _mm256_storeu_ps(r + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    float t[8];
    _mm256_storeu_ps(t, acc);
    *sum = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    return j;
}
#endif

typedef struct vit_blockw {
    mm_weight qkv, proj, fc1, fc2;  /* [3D, D], [D, D], [M, D], [D, M] as stored (q8 with scales) */
    float *qkv_b;                              /* [3D]: q_bias, 0, v_bias */
    float *proj_b, *n1w, *n1b, *n2w, *n2b, *fc1_b, *fc2_b;
} vit_blockw;

struct vit_model {
    int D, H, hd, M, P, S, grid, T, nblk;
    mm_weight patch_w;          /* [D, 3, P, P] = [D, 3 P P] (never q8: ckpt_q8 wants 2-D) */
    float *patch_b, *cls;       /* [D] */
    float *pos;                 /* [T][D]: CLS row, then the resampled grid */
    float *norm_w, *norm_b;     /* [D] */
    vit_blockw *blk;            /* [nblk] */
    float *arena;               /* owns every f32 vector above */
};

struct vit_ws {
    int T, D, M, K;
    float *cols;    /* [grid^2][3 P P] im2col patches */
    float *x;       /* [T][D] token rows */
    float *qkv;     /* [T][3D] */
    float *att;     /* [T][D] heads concatenated */
    float *tmp;     /* [T][D] branch output */
    float *hid;     /* [T][M] MLP hidden */
    float *sc;      /* [threads][vit_attention_floats(T)]: each pool thread's attention scores */
    mm_ctx *mm;     /* the worker's products and pool (not owned) */
    rlv_timing *timing; /* stage times, caller-owned; NULL: not measured */
    double deadline_ms; /* vit_forward stops before a block past it; 0 = none */
};

/* ---- loading -------------------------------------------------------------------------------- */

/* The tensor called name with exactly the given shape (ndim values after ndim). */
static int want(const ckpt *c, const rlv_tensor **out, rlv_err *err, const char *name, int ndim, ...) {
    const rlv_tensor *t = ckpt_find(c, name);
    if (!t) return rlv_errf(err, RLV_EMISSING, "vision tower: tensor '%s' is missing", name);
    int64_t sh[RLV_MAX_DIMS];
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) sh[i] = va_arg(ap, int64_t);
    va_end(ap);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == sh[i];
    if (!ok) {
        char got[96], exp[96];
        rlv_shape_str(t->shape, t->ndim, got, sizeof got);
        rlv_shape_str(sh, ndim, exp, sizeof exp);
        return rlv_errf(err, RLV_ESHAPE, "vision tower: tensor '%s' has shape %s, expected %s", name, got, exp);
    }
    *out = t;
    return RLV_OK;
}

/* A vector or table widened to f32; q8 is for the matrices only (an I8 one would be bare integers). */
static int to_f32(float *dst, const rlv_tensor *t, rlv_err *err) {
    if (t->dtype == RLV_I8) return rlv_errf(err, RLV_EDTYPE, "vision tower: tensor '%s' is I8; only weight matrices may be q8", t->name);
    half_to_f32_n(dst, t->data, t->dtype, (size_t)rlv_tensor_numel(t));
    return RLV_OK;
}

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
    m->H = v->num_heads;
    m->hd = m->D / m->H;
    m->M = v->mlp_dim;
    m->P = v->patch_size;
    m->S = cfg->image_size;
    m->grid = cfg->vit_grid;
    m->T = m->grid * m->grid + 1;
    m->nblk = v->depth - 1;
    int64_t D = m->D, M = m->M, P = m->P, G = v->base_grid;
    size_t per_blk = 9 * (size_t)D + (size_t)M;
    size_t nf = 4 * (size_t)D + (size_t)m->T * D + per_blk * m->nblk;
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

    const char *vt = "model.vision_tower.";
    char nm[160];
    const rlv_tensor *t, *pos;
    int rc;
#define WANT(dst, n, ...) do { snprintf(nm, sizeof nm, "%s%s", vt, n); \
        if ((rc = want(c, &(dst), err, nm, __VA_ARGS__)) != RLV_OK) goto fail; } while (0)
#define F32(dst, t) do { if ((rc = to_f32(dst, t, err)) != RLV_OK) goto fail; } while (0)
#define MAT(dst, n, ...) do { WANT(t, n, __VA_ARGS__); if ((rc = mm_weight_bind(&(dst), c, t, err)) != RLV_OK) goto fail; } while (0)
    MAT(m->patch_w, "patch_embed.proj.weight", 4, D, (int64_t)3, P, P);
    WANT(t, "patch_embed.proj.bias", 1, D);
    F32(m->patch_b, t);
    WANT(t, "cls_token", 3, (int64_t)1, (int64_t)1, D);
    F32(m->cls, t);
    WANT(t, "norm.weight", 1, D);
    F32(m->norm_w, t);
    WANT(t, "norm.bias", 1, D);
    F32(m->norm_b, t);
    WANT(pos, "pos_embed", 3, (int64_t)1, 1 + G * G, D);
    if (pos->dtype == RLV_I8) {
        rc = rlv_errf(err, RLV_EDTYPE, "vision tower: tensor '%s' is I8; only weight matrices may be q8", pos->name);
        goto fail;
    }
    half_to_f32_n(m->pos, pos->data, pos->dtype, (size_t)D); /* the CLS row is kept as is */
    if ((rc = vit_resample_table(pos, 1, (int)G, m->grid, 1, m->pos + D, err)) != RLV_OK) goto fail;
    for (int j = 0; j < m->nblk; j++) {
        vit_blockw *b = &m->blk[j];
        char bn[64];
#define BW(dst, n, ...) do { snprintf(bn, sizeof bn, "blocks.%d.%s", j, n); WANT(dst, bn, __VA_ARGS__); } while (0)
#define BM(dst, n, ...) do { snprintf(bn, sizeof bn, "blocks.%d.%s", j, n); MAT(dst, bn, __VA_ARGS__); } while (0)
#define BV(dst, n, len) do { BW(t, n, 1, (int64_t)(len)); dst = a; a += (len); F32(dst, t); } while (0)
        BM(b->qkv, "attn.qkv.weight", 2, 3 * D, D);
        BM(b->proj, "attn.proj.weight", 2, D, D);
        BM(b->fc1, "mlp.fc1.weight", 2, M, D);
        BM(b->fc2, "mlp.fc2.weight", 2, D, M);
        b->qkv_b = a;
        a += 3 * D;
        BW(t, "attn.q_bias", 1, D);
        F32(b->qkv_b, t);
        memset(b->qkv_b + D, 0, (size_t)D * sizeof(float));
        BW(t, "attn.v_bias", 1, D);
        F32(b->qkv_b + 2 * D, t);
        BV(b->proj_b, "attn.proj.bias", D);
        BV(b->n1w, "norm1.weight", D);
        BV(b->n1b, "norm1.bias", D);
        BV(b->n2w, "norm2.weight", D);
        BV(b->n2b, "norm2.bias", D);
        BV(b->fc1_b, "mlp.fc1.bias", M);
        BV(b->fc2_b, "mlp.fc2.bias", D);
#undef BV
#undef BM
#undef BW
    }
#undef MAT
#undef F32
#undef WANT
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
    w->cols = malloc((T - 1) * (size_t)w->K * sizeof(float));
    w->x = malloc(T * D * sizeof(float));
    w->qkv = malloc(T * 3 * D * sizeof(float));
    w->att = malloc(T * D * sizeof(float));
    w->tmp = malloc(T * D * sizeof(float));
    w->hid = malloc(T * M * sizeof(float));
    w->sc = malloc((size_t)pool_threads(mm_ctx_pool(mm)) * vit_attention_floats(m->T) * sizeof(float));
    if (!w->cols || !w->x || !w->qkv || !w->att || !w->tmp || !w->hid || !w->sc) {
        vit_ws_free(&w);
        return rlv_errf(err, RLV_ENOMEM, "vision workspace for %zu tokens", T);
    }
    *out = w;
    return RLV_OK;
}

void vit_ws_free(vit_ws **ws) {
    if (!ws || !*ws) return;
    vit_ws *w = *ws;
    free(w->cols); free(w->x); free(w->qkv); free(w->att); free(w->tmp); free(w->hid); free(w->sc);
    free(w);
    *ws = NULL;
}

void vit_ws_set_timing(vit_ws *ws, rlv_timing *t) { ws->timing = t; }
void vit_ws_set_deadline(vit_ws *ws, double deadline_ms) { ws->deadline_ms = deadline_ms; }

/* ---- kernels -------------------------------------------------------------------------------- */

/* Query rows of one attention work item. Fixed, so a head's output does not depend on the thread
 * count (each item is computed the same way whoever runs it); small, so the per-thread scores
 * ([VIT_ATT_ROWS][keys], 262 KB for the ViT's 1025 keys) stay in L2 between the two products. */
#define VIT_ATT_ROWS 64

static void layer_norm_rows(float *x, int lo, int hi, int d, const float *w, const float *b, float eps) {
    for (int i = lo; i < hi; i++) {
        float *r = x + (size_t)i * d;
        double s = 0, s2 = 0;
        for (int j = 0; j < d; j++) s += r[j];
        double mean = s / d;
        for (int j = 0; j < d; j++) { double t = r[j] - mean; s2 += t * t; }
        float inv = (float)(1.0 / sqrt(s2 / d + eps)), mf = (float)mean;
        for (int j = 0; j < d; j++) r[j] = (r[j] - mf) * inv * w[j] + b[j];
    }
}

typedef struct ln_task {
    float *x;
    const float *src;  /* NULL: in place; else row i is copied from src + i * d first */
    float *add_to;     /* NULL, or add_to[i] += LN(x[i]) afterwards (post-norm residual) */
    int d;
    const float *w, *b;
    float eps;
} ln_task;

static void ln_run(void *arg, int lo, int hi, int tid) {
    const ln_task *t = arg;
    (void)tid;
    size_t d = (size_t)t->d;
    if (t->src) memcpy(t->x + lo * d, t->src + lo * d, (size_t)(hi - lo) * d * sizeof(float));
    layer_norm_rows(t->x, lo, hi, t->d, t->w, t->b, t->eps);
    if (t->add_to)
        for (size_t i = lo * d; i < hi * d; i++) t->add_to[i] += t->x[i];
}

void vit_layer_norm(rlv_pool *p, float *x, int n, int d, const float *w, const float *b, float eps) {
    ln_task t = {x, NULL, NULL, d, w, b, eps};
    pool_for(p, n, 1, ln_run, &t);
}

void vit_softmax_rows(float *x, int n, int d, int ld) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * ld, mx = r[0];
        for (int j = 1; j < d; j++) mx = r[j] > mx ? r[j] : mx;
        float s = 0;
        int j0 = 0;
#ifdef VIT_MVEC
        if (vit_avx2()) j0 = exp_sub_avx2(r, d, mx, &s);
#endif
        for (int j = j0; j < d; j++) { r[j] = expf(r[j] - mx); s += r[j]; }
        float inv = 1.0f / s;
        for (int j = 0; j < d; j++) r[j] *= inv;
    }
}

size_t vit_attention_floats(int nk) { return (size_t)VIT_ATT_ROWS * (size_t)(nk > 0 ? nk : 1); }

typedef struct att_task {
    mm_ctx *mm;
    float *sc;  /* [threads][vit_attention_floats(nk)] */
    float *out;
    const float *q, *k, *v;
    int ldo, ldq, ldk, nq, nk, heads, hd, blocks;
    float scale;
    atomic_int next;  /* next work item: (head, row block), head-major so K/V stay in cache */
    int timed;        /* thread 0 adds its seconds in products and in softmax to mm_s, sm_s */
    double mm_s, sm_s;
} att_task;

static void att_run(void *arg, int tid, int nth) {
    att_task *t = arg;
    (void)nth;
    float *S = t->sc + (size_t)tid * vit_attention_floats(t->nk);
    int items = t->heads * t->blocks, hd = t->hd;
    /* thread 0 reads the clock only when the stage is timed */
    rlv_timing clk, *tc = tid == 0 && t->timed ? &clk : NULL;
    /* items are taken one at a time (dynamic): a thread slowed by other load takes fewer */
    for (int it; (it = atomic_fetch_add(&t->next, 1)) < items;) {
        int h = it / t->blocks, r0 = it % t->blocks * VIT_ATT_ROWS;
        int n = t->nq - r0 < VIT_ATT_ROWS ? t->nq - r0 : VIT_ATT_ROWS;
        double c0 = timing_start(tc);
        mm_xwt_on(t->mm, tid, S, t->nk, t->q + (size_t)r0 * t->ldq + (size_t)h * hd, t->ldq, n, hd,
                  mm_w_plain(t->k + (size_t)h * hd, RLV_F32, t->ldk), t->nk, t->scale, 0);
        double c1 = timing_start(tc);
        vit_softmax_rows(S, n, t->nk, t->nk);
        double c2 = timing_start(tc);
        mm_xw_on(t->mm, tid, t->out + (size_t)r0 * t->ldo + (size_t)h * hd, t->ldo, S, t->nk, n, t->nk,
                 mm_w_plain(t->v + (size_t)h * hd, RLV_F32, t->ldk), hd, 1.0f, 0);
        if (tc) t->mm_s += (c1 - c0) + (timing_start(tc) - c2), t->sm_s += c2 - c1;
    }
}

void vit_attention(mm_ctx *mm, float *sc, float *out, int ldo, const float *q, int ldq, const float *k,
                   const float *v, int ldk, int nq, int nk, int heads, int hd, rlv_timing *tm) {
    if (nq <= 0 || nk <= 0 || heads <= 0) return;
    double t0 = timing_start(tm);
    att_task t = {.mm = mm, .sc = sc, .out = out, .q = q, .k = k, .v = v, .ldo = ldo, .ldq = ldq, .ldk = ldk,
                  .nq = nq, .nk = nk, .heads = heads, .hd = hd, .blocks = (nq + VIT_ATT_ROWS - 1) / VIT_ATT_ROWS,
                  .scale = 1.0f / sqrtf((float)hd), .timed = tm != NULL};
    atomic_init(&t.next, 0);
    pool_run(mm_ctx_pool(mm), att_run, &t);
    timing_split(tm, RLV_STAGE_ATTENTION, RLV_STAGE_SOFTMAX, &t0, t.mm_s, t.sm_s);
}

/* x += LN(branch) row by row (post-norm residual), on the pool. */
static void add_norm(rlv_pool *p, float *x, float *br, int n, int d, const float *w, const float *b) {
    ln_task t = {br, NULL, x, d, w, b, 1e-6f};
    pool_for(p, n, 1, ln_run, &t);
}

typedef struct rows_task {
    float *x;
    const float *y;
    int d;
} rows_task;

/* GELU (erf) row by row: the vector/scalar split of a row never depends on the thread count. */
static void gelu_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    for (int r = lo; r < hi; r++) {
        float *x = t->x + (size_t)r * t->d;
        size_t i = 0, n = (size_t)t->d;
#ifdef VIT_MVEC
        if (vit_avx2()) i = gelu_avx2(x, n);
#endif
        for (; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
    }
}

/* x[r] += y[r] row by row. */
static void add_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    size_t d = (size_t)t->d;
    for (size_t i = lo * d; i < hi * d; i++) t->x[i] += t->y[i];
}

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
        vit_blockw *b = &m->blk[j];
        mm_weight *w[] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
        for (size_t i = 0; i < sizeof w / sizeof w[0] && !rc; i++) rc = mm_repack_weight(r, w[i], c, err);
    }
    return rc;
}

/* Read-ahead of block j's weights (all four products), from the disk if they are not in memory. */
static void block_prefetch(const vit_model *m, int j) {
    if (j < 0 || j >= m->nblk) return;
    const vit_blockw *b = &m->blk[j];
    mm_weight_prefetch(&b->qkv);
    mm_weight_prefetch(&b->proj);
    mm_weight_prefetch(&b->fc1);
    mm_weight_prefetch(&b->fc2);
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
    rows_task at = {ws->x, m->pos, D};
    pool_for(pool, m->T, 1, add_run, &at);
    timing_stop(ws->timing, RLV_STAGE_ADD, &t0);
}

void vit_block(const vit_model *m, vit_ws *ws, int j) {
    const vit_blockw *b = &m->blk[j];
    int T = m->T, D = m->D, M = m->M, hd = m->hd;
    rlv_pool *pool = mm_ctx_pool(ws->mm);
    rlv_timing *tm = ws->timing;
    double t0 = timing_start(tm);
    /* the next block's weights come in from the disk while this one computes */
    block_prefetch(m, j + 1);
    timing_stop(tm, RLV_STAGE_PREFETCH, &t0);
    mm_xwt(ws->mm, ws->qkv, 3 * D, ws->x, D, T, D, b->qkv.w, 3 * D, b->qkv_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    vit_attention(ws->mm, ws->sc, ws->att, D, ws->qkv, 3 * D, ws->qkv + D, ws->qkv + 2 * D, 3 * D, T, T, m->H, hd,
                  tm);
    t0 = timing_start(tm);
    mm_xwt(ws->mm, ws->tmp, D, ws->att, D, T, D, b->proj.w, D, b->proj_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    add_norm(pool, ws->x, ws->tmp, T, D, b->n1w, b->n1b);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
    mm_xwt(ws->mm, ws->hid, M, ws->x, D, T, D, b->fc1.w, M, b->fc1_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    rows_task gt = {ws->hid, NULL, M};
    pool_for(pool, T, 1, gelu_run, &gt);
    timing_stop(tm, RLV_STAGE_ACT, &t0);
    mm_xwt(ws->mm, ws->tmp, D, ws->hid, M, T, M, b->fc2.w, D, b->fc2_b, 0);
    timing_stop(tm, RLV_STAGE_MATMUL, &t0);
    add_norm(pool, ws->x, ws->tmp, T, D, b->n2w, b->n2b);
    timing_stop(tm, RLV_STAGE_NORM, &t0);
}

int vit_forward(const vit_model *m, vit_ws *ws, const float *pixels, float *out) {
    vit_embed(m, ws, pixels);
    for (int j = 0; j < m->nblk; j++) {
        if (timing_past(ws->deadline_ms)) return RLV_ETIMEOUT;
        vit_block(m, ws, j);
    }
    /* final norm on the patch rows only: the CLS row is dropped and LayerNorm is per row */
    double t0 = timing_start(ws->timing);
    ln_task t = {out, ws->x + m->D, NULL, m->D, m->norm_w, m->norm_b, 1e-6f};
    pool_for(mm_ctx_pool(ws->mm), m->T - 1, 1, ln_run, &t);
    timing_stop(ws->timing, RLV_STAGE_NORM, &t0);
    return RLV_OK;
}

/* ---- position tables (docs/model.md §5) ------------------------------------------------------ */

static double cubic(double x, double a) {
    if (x < 0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

/* Dense [out][in] interpolation matrix of one axis. */
static void interp_matrix(double *A, int in, int out, int antialias) {
    memset(A, 0, (size_t)in * out * sizeof *A);
    double scale = (double)in / out;
    for (int o = 0; o < out; o++) {
        double *r = A + (size_t)o * in;
        if (antialias) { /* torch _upsample_bicubic2d_aa: Pillow's algorithm in floating point */
            double fs = scale > 1.0 ? scale : 1.0, support = 2.0 * fs, center = scale * (o + 0.5), tot = 0;
            int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
            if (xmin < 0) xmin = 0;
            if (xmax > in) xmax = in;
            for (int j = xmin; j < xmax; j++) { r[j] = cubic((j - center + 0.5) / fs, -0.5); tot += r[j]; }
            if (tot != 0)
                for (int j = xmin; j < xmax; j++) r[j] /= tot;
        } else { /* upsample_bicubic2d, align_corners=False: 4 taps, clamped indices */
            double src = (o + 0.5) * scale - 0.5;
            int i0 = (int)floor(src);
            double t = src - i0;
            double w[4] = {cubic(t + 1.0, -0.75), cubic(t, -0.75), cubic(1.0 - t, -0.75), cubic(2.0 - t, -0.75)};
            for (int k = 0; k < 4; k++) {
                int idx = i0 - 1 + k;
                idx = idx < 0 ? 0 : idx > in - 1 ? in - 1 : idx;
                r[idx] += w[k];
            }
        }
    }
}

int vit_resample_table(const rlv_tensor *src, int row0, int in_grid, int out_grid, int antialias,
                       float *dst, rlv_err *err) {
    int dim = (int)src->shape[src->ndim - 1];
    size_t gi = (size_t)in_grid * in_grid;
    double *A = malloc((size_t)out_grid * in_grid * sizeof *A);
    double *mid = malloc((size_t)out_grid * in_grid * dim * sizeof *mid); /* [out_y][in_x][dim] */
    float *in = malloc(gi * dim * sizeof *in);
    double *acc = malloc((size_t)dim * sizeof *acc);
    if (!A || !mid || !in || !acc) {
        free(A); free(mid); free(in); free(acc);
        return rlv_errf(err, RLV_ENOMEM, "position table %d -> %d", in_grid, out_grid);
    }
    const char *base = (const char *)src->data + (size_t)row0 * dim * rlv_dtype_size(src->dtype);
    half_to_f32_n(in, base, src->dtype, gi * dim);
    interp_matrix(A, in_grid, out_grid, antialias);
    /* rows (y) first, then columns (x): the 2-D result is the same either way in exact math */
    for (int oy = 0; oy < out_grid; oy++)
        for (int ix = 0; ix < in_grid; ix++) {
            double *o = mid + ((size_t)oy * in_grid + ix) * dim;
            memset(o, 0, (size_t)dim * sizeof *o);
            for (int iy = 0; iy < in_grid; iy++) {
                double w = A[(size_t)oy * in_grid + iy];
                if (w == 0) continue;
                const float *p = in + ((size_t)iy * in_grid + ix) * dim;
                for (int d = 0; d < dim; d++) o[d] += w * p[d];
            }
        }
    for (int oy = 0; oy < out_grid; oy++)
        for (int ox = 0; ox < out_grid; ox++) {
            memset(acc, 0, (size_t)dim * sizeof *acc);
            for (int ix = 0; ix < in_grid; ix++) {
                double w = A[(size_t)ox * in_grid + ix];
                if (w == 0) continue;
                const double *p = mid + ((size_t)oy * in_grid + ix) * dim;
                for (int d = 0; d < dim; d++) acc[d] += w * p[d];
            }
            float *o = dst + ((size_t)oy * out_grid + ox) * dim;
            for (int d = 0; d < dim; d++) o[d] = (float)acc[d];
        }
    free(A); free(mid); free(in); free(acc);
    return RLV_OK;
}
