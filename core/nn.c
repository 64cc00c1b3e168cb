/* nn.c — the layers the ViT and the resampler share (see nn.h): LayerNorm, softmax rows, GELU,
 * row adds, unmasked multi-head attention, and the bicubic resampling of position tables; and the
 * element-wise exp sums and SiLU the decoder uses too. */
#include "nn.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "half.h"

#if defined(RLV_HAVE_MVEC) && defined(__x86_64__)
#include <immintrin.h>
/* glibc's libmvec, AVX2 variants (8 lanes, max error 4 ulp): GELU's erf and softmax's exp are
 * the only per-element transcendental work of a block, about 8% of it when done one at a time.
 * Its expf takes a scalar path for the whole vector when a lane is beyond +-87.3 (underflow,
 * overflow): the ViT's scores at depth span more than that, and its softmax ran 6.6 x slower
 * than at 2 blocks (5.4 s of a 37.7 s full-size ViT). Arguments are clamped to +-EXP_LIM, whose
 * exp (1.6e-38 .. 6.1e37) is a normal float: a clamped term of a sum >= 1 changes nothing. The
 * bound is max/min's first operand: vmaxps returns the second when either is NaN, so a NaN still
 * comes out NaN. */
__attribute__((target("avx2,fma"))) __m256 _ZGVdN8v_erff(__m256);
__attribute__((target("avx2,fma"))) __m256 _ZGVdN8v_expf(__m256);
#define NN_MVEC 1
#define EXP_LIM 87.0f
static int nn_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

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

/* nn_exp_sum for j < the returned count (a multiple of 8), the sum in double lanes. */
__attribute__((target("avx2,fma"))) static int exp_sum_avx2(float *r, const float *z, int n, float mx, double *sum) {
    __m256 m = _mm256_set1_ps(mx), lo = _mm256_set1_ps(-EXP_LIM);
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = _ZGVdN8v_expf(_mm256_max_ps(lo, _mm256_sub_ps(_mm256_loadu_ps(z + j), m)));
        if (r) _mm256_storeu_ps(r + j, e);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
    *sum = (t[0] + t[1]) + (t[2] + t[3]);
    return j;
}

/* nn_max over z[0..j) for j the returned count (a multiple of 32, 0 when n < 32), into *m: four
 * chains of 8 lanes, each lane started at z[0]; vmaxps(v, a) is v > a ? v : a, the scalar rule. */
__attribute__((target("avx2,fma"))) static int max_avx2(const float *z, int n, float *m) {
    __m256 a0 = _mm256_set1_ps(z[0]), a1 = a0, a2 = a0, a3 = a0;
    int j = 0;
    for (; j + 32 <= n; j += 32) {
        a0 = _mm256_max_ps(_mm256_loadu_ps(z + j), a0);
        a1 = _mm256_max_ps(_mm256_loadu_ps(z + j + 8), a1);
        a2 = _mm256_max_ps(_mm256_loadu_ps(z + j + 16), a2);
        a3 = _mm256_max_ps(_mm256_loadu_ps(z + j + 24), a3);
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_max_ps(_mm256_max_ps(a1, a0), _mm256_max_ps(a3, a2)));
    *m = nn_max(t, 8); /* the lanes by the scalar rule (8 < 32: no recursion into here) */
    return j;
}

/* nn_scale_probs for j < the returned count (a multiple of 8); NaN stays NaN (not-less-than is
 * true for it), as in the scalar loop. */
__attribute__((target("avx2,fma"))) static int scale_probs_avx2(float *r, int n, float s) {
    __m256 sv = _mm256_set1_ps(s), lo = _mm256_set1_ps(NN_PROB_MIN);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(r + j), sv);
        _mm256_storeu_ps(r + j, _mm256_and_ps(v, _mm256_cmp_ps(v, lo, _CMP_NLT_UQ)));
    }
    return j;
}

/* nn_sum (sq 0) or nn_sum_sq (sq 1) for j < the returned count (a multiple of 8): 4 x 4 double
 * lanes, so that the sum is not one chain of dependent double adds (4 cycles each, ~5 us a
 * 4096-wide row). */
#define SUM_TERM(a, p)                                                  \
    do {                                                                \
        __m256d d_ = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(p)), cc); \
        a = sq ? _mm256_fmadd_pd(d_, d_, a) : _mm256_add_pd(a, d_);      \
    } while (0)
__attribute__((target("avx2,fma"))) static int sums_avx2(const float *x, int n, double c, int sq, double *sum) {
    __m256d cc = _mm256_set1_pd(c), a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
    int j = 0;
    for (; j + 16 <= n; j += 16) {
        SUM_TERM(a0, x + j);
        SUM_TERM(a1, x + j + 4);
        SUM_TERM(a2, x + j + 8);
        SUM_TERM(a3, x + j + 12);
    }
    for (; j + 8 <= n; j += 8) {
        SUM_TERM(a0, x + j);
        SUM_TERM(a1, x + j + 4);
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    *sum = (t[0] + t[1]) + (t[2] + t[3]);
    return j;
}
#undef SUM_TERM

__attribute__((target("avx2,fma"))) static size_t silu_mul_avx2(float *g, const float *u, size_t n) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), lo = _mm256_set1_ps(-EXP_LIM),
                 hi = _mm256_set1_ps(EXP_LIM);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(g + i);
        __m256 e = _ZGVdN8v_expf(_mm256_min_ps(hi, _mm256_max_ps(lo, _mm256_sub_ps(zero, v))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(v, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    return i;
}
#endif

float nn_max(const float *z, int n) {
    float m = z[0];
    int j = 1;
#ifdef NN_MVEC
    if (n >= 32 && nn_avx2()) j = max_avx2(z, n, &m);
#endif
    for (; j < n; j++) m = z[j] > m ? z[j] : m;
    return m;
}

double nn_exp_sum(float *r, const float *z, int n, float mx) {
    double s = 0;
    int j = 0;
#ifdef NN_MVEC
    if (nn_avx2()) j = exp_sum_avx2(r, z, n, mx, &s);
#endif
    for (; j < n; j++) {
        float e = expf(z[j] - mx);
        if (r) r[j] = e;
        s += e;
    }
    return s;
}

/* sum_j (x[j] - c)^sq, sq 0 or 1 (square) */
static double sums(const float *x, int n, double c, int sq) {
    double s = 0;
    int j = 0;
#ifdef NN_MVEC
    if (nn_avx2()) j = sums_avx2(x, n, c, sq, &s);
#endif
    for (; j < n; j++) {
        double d = x[j] - c;
        s += sq ? d * d : d;
    }
    return s;
}

double nn_sum(const float *x, int n) { return sums(x, n, 0, 0); }
double nn_sum_sq(const float *x, int n, double c) { return sums(x, n, c, 1); }

void nn_silu_mul(float *g, const float *u, size_t n) {
    size_t i = 0;
#ifdef NN_MVEC
    if (nn_avx2()) i = silu_mul_avx2(g, u, n);
#endif
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}


/* Most query rows of one attention work item. Each item packs its head's K and V for its rows
 * (1025 x 112 floats each in the ViT): 64-row items spent about as long packing as multiplying;
 * with 256 the ViT's attention products took 15-21 % less time (docs/performance.md, an Intel
 * Xeon). The per-thread scores, [NN_ATT_ROWS][keys] (1.05 MB for the ViT's 1025 keys), stay in
 * its 2 MB L2 between the two products (not measured on a 1 MB-L2 Zen 4). The rows of an item
 * follow from nq alone (att_rows), so a head's output does not depend on the thread count. */
#define NN_ATT_ROWS 256

/* Rows per item: nq in equal blocks of at most NN_ATT_ROWS (1025 as 5 x 205, not 4 x 256 and an
 * item of one row that packs K and V all the same). */
static int att_rows(int nq) {
    int blocks = (nq + NN_ATT_ROWS - 1) / NN_ATT_ROWS;
    return (nq + blocks - 1) / blocks;
}

static void layer_norm_rows(float *x, int lo, int hi, int d, const float *w, const float *b, float eps) {
    for (int i = lo; i < hi; i++) {
        float *r = x + (size_t)i * d;
        double mean = nn_sum(r, d) / d, s2 = nn_sum_sq(r, d, mean);
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

void nn_layer_norm(rlv_pool *p, float *x, int n, int d, const float *w, const float *b, float eps) {
    ln_task t = {x, NULL, NULL, d, w, b, eps};
    pool_for(p, n, 1, ln_run, &t);
}

void nn_layer_norm_from(rlv_pool *p, float *dst, const float *src, int n, int d, const float *w, const float *b,
                        float eps) {
    ln_task t = {dst, src, NULL, d, w, b, eps};
    pool_for(p, n, 1, ln_run, &t);
}

void nn_add_layer_norm(rlv_pool *p, float *x, float *br, int n, int d, const float *w, const float *b, float eps) {
    ln_task t = {br, NULL, x, d, w, b, eps};
    pool_for(p, n, 1, ln_run, &t);
}

void nn_scale_probs(float *r, int n, float s) {
    int j = 0;
#ifdef NN_MVEC
    if (nn_avx2()) j = scale_probs_avx2(r, n, s);
#endif
    for (; j < n; j++) {
        float v = r[j] * s;
        r[j] = v < NN_PROB_MIN ? 0.0f : v;
    }
}

void nn_softmax_rows(float *x, int n, int d, int ld) {
    for (int i = 0; i < n; i++) {
        float *r = x + (size_t)i * ld;
        nn_scale_probs(r, d, (float)(1.0 / nn_exp_sum(r, r, d, nn_max(r, d))));
    }
}

size_t nn_attention_floats(int nk) { return (size_t)NN_ATT_ROWS * (size_t)(nk > 0 ? nk : 1); }

typedef struct att_task {
    mm_ctx *mm;
    float *sc;  /* [threads][nn_attention_floats(nk)] */
    float *out;
    const float *q, *k, *v;
    int ldo, ldq, ldk, nq, nk, heads, hd, rows, blocks; /* rows: att_rows(nq), blocks of them */
    float scale;
    atomic_int next;  /* next work item: (head, row block), head-major so K/V stay in cache */
    int timed;        /* thread 0 adds its seconds in products and in softmax to mm_s, sm_s */
    double mm_s, sm_s;
} att_task;

static void att_run(void *arg, int tid, int nth) {
    att_task *t = arg;
    (void)nth;
    float *S = t->sc + (size_t)tid * nn_attention_floats(t->nk);
    int items = t->heads * t->blocks, hd = t->hd;
    /* thread 0 reads the clock only when the stage is timed */
    rlv_timing clk, *tc = tid == 0 && t->timed ? &clk : NULL;
    /* items are taken one at a time (dynamic): a thread slowed by other load takes fewer */
    for (int it; (it = atomic_fetch_add(&t->next, 1)) < items;) {
        int h = it / t->blocks, r0 = it % t->blocks * t->rows;
        int n = t->nq - r0 < t->rows ? t->nq - r0 : t->rows;
        double c0 = timing_start(tc);
        mm_xwt_on(t->mm, tid, S, t->nk, t->q + (size_t)r0 * t->ldq + (size_t)h * hd, t->ldq, n, hd,
                  mm_w_plain(t->k + (size_t)h * hd, RLV_F32, t->ldk), t->nk, t->scale, 0);
        double c1 = timing_start(tc);
        nn_softmax_rows(S, n, t->nk, t->nk);
        double c2 = timing_start(tc);
        mm_xw_on(t->mm, tid, t->out + (size_t)r0 * t->ldo + (size_t)h * hd, t->ldo, S, t->nk, n, t->nk,
                 mm_w_plain(t->v + (size_t)h * hd, RLV_F32, t->ldk), hd, 1.0f, 0);
        if (tc) t->mm_s += (c1 - c0) + (timing_start(tc) - c2), t->sm_s += c2 - c1;
    }
}

void nn_attention(mm_ctx *mm, float *sc, float *out, int ldo, const float *q, int ldq, const float *k,
                   const float *v, int ldk, int nq, int nk, int heads, int hd, rlv_timing *tm) {
    if (nq <= 0 || nk <= 0 || heads <= 0) return;
    double t0 = timing_start(tm);
    att_task t = {.mm = mm, .sc = sc, .out = out, .q = q, .k = k, .v = v, .ldo = ldo, .ldq = ldq, .ldk = ldk,
                  .nq = nq, .nk = nk, .heads = heads, .hd = hd, .rows = att_rows(nq),
                  .scale = 1.0f / sqrtf((float)hd), .timed = tm != NULL};
    t.blocks = (nq + t.rows - 1) / t.rows;
    atomic_init(&t.next, 0);
    pool_run(mm_ctx_pool(mm), att_run, &t);
    timing_split(tm, RLV_STAGE_ATTENTION, RLV_STAGE_SOFTMAX, &t0, t.mm_s, t.sm_s);
}

typedef struct rows_task {
    float *y;
    const float *a, *b;
    int d;
} rows_task;

/* GELU (erf) row by row: the vector/scalar split of a row never depends on the thread count. */
static void gelu_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    for (int r = lo; r < hi; r++) {
        float *x = t->y + (size_t)r * t->d;
        size_t i = 0, n = (size_t)t->d;
#ifdef NN_MVEC
        if (nn_avx2()) i = gelu_avx2(x, n);
#endif
        for (; i < n; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
    }
}

void nn_gelu_rows(rlv_pool *p, float *x, int n, int d) {
    rows_task t = {x, NULL, NULL, d};
    pool_for(p, n, 1, gelu_run, &t);
}

static void add_run(void *arg, int lo, int hi, int tid) {
    const rows_task *t = arg;
    (void)tid;
    for (size_t i = (size_t)lo * t->d; i < (size_t)hi * t->d; i++) t->y[i] = t->a[i] + t->b[i];
}

void nn_add_rows(rlv_pool *p, float *y, const float *a, const float *b, int n, int d) {
    rows_task t = {y, a, b, d};
    pool_for(p, n, 1, add_run, &t);
}

/* ---- position tables (docs/model.md §5) ------------------------------------------------------ */

/* Keys' cubic convolution parameter a of torch's two kernels, and the plain kernel's taps. */
#define BICUBIC_A_AA (-0.5)     /* _upsample_bicubic2d_aa (Pillow's) */
#define BICUBIC_A_PLAIN (-0.75) /* upsample_bicubic2d */
#define BICUBIC_TAPS 4

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
            for (int j = xmin; j < xmax; j++) { r[j] = cubic((j - center + 0.5) / fs, BICUBIC_A_AA); tot += r[j]; }
            if (tot != 0)
                for (int j = xmin; j < xmax; j++) r[j] /= tot;
        } else { /* upsample_bicubic2d, align_corners=False: 4 taps, clamped indices */
            double src = (o + 0.5) * scale - 0.5;
            int i0 = (int)floor(src);
            double t = src - i0;
            double w[BICUBIC_TAPS] = {cubic(t + 1.0, BICUBIC_A_PLAIN), cubic(t, BICUBIC_A_PLAIN), cubic(1.0 - t, BICUBIC_A_PLAIN),
                                      cubic(2.0 - t, BICUBIC_A_PLAIN)};
            for (int k = 0; k < BICUBIC_TAPS; k++) {
                int idx = i0 - 1 + k;
                idx = idx < 0 ? 0 : idx > in - 1 ? in - 1 : idx;
                r[idx] += w[k];
            }
        }
    }
}

int nn_resample_table(const rlv_tensor *src, int row0, int in_grid, int out_grid, int antialias,
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
