/* mm.c — x.W^T and x.W on the pool (see mm.h): each thread takes a range of output columns,
 * widens its weight panels into its own buffer and multiplies them with single-threaded
 * cblas_sgemm. Why panels: the bf16 weights of the real model pair are 46 GB and would be
 * 92 GB as f32. */
#include "mm.h"

#include <cblas.h>
#include <stdlib.h>

#include "half.h"

/* Floats of each thread's packing buffer (4 MB): a panel of weights widened to f32. */
#define MM_TBUF_FLOATS ((size_t)1 << 20)
/* Column ranges handed to threads are multiples of this (whole vectors for the kernels). */
#define MM_ALIGN 16

struct mm_ctx {
    rlv_pool *pool;
    int nth;
    float **buf;  /* [nth][MM_TBUF_FLOATS] */
};

void openblas_set_num_threads(int);

int mm_ctx_init(mm_ctx **out, rlv_pool *pool, rlv_err *err) {
    *out = NULL;
    mm_ctx *c = calloc(1, sizeof *c);
    int nth = pool_threads(pool);
    if (!c || !(c->buf = calloc((size_t)nth, sizeof *c->buf))) {
        free(c);
        return rlv_errf(err, RLV_ENOMEM, "mm context");
    }
    c->pool = pool;
    c->nth = nth;
    for (int i = 0; i < nth; i++)
        if (!(c->buf[i] = malloc(MM_TBUF_FLOATS * sizeof(float)))) {
            mm_ctx_free(&c);
            return rlv_errf(err, RLV_ENOMEM, "mm buffers: %d x %zu bytes", nth, MM_TBUF_FLOATS * sizeof(float));
        }
    /* the pool's threads are the parallelism: OpenBLAS runs on the thread that calls it */
    openblas_set_num_threads(1);
    *out = c;
    return RLV_OK;
}

void mm_ctx_free(mm_ctx **cp) {
    if (!cp || !*cp) return;
    mm_ctx *c = *cp;
    if (c->buf)
        for (int i = 0; i < c->nth; i++) free(c->buf[i]);
    free(c->buf);
    free(c);
    *cp = NULL;
}

rlv_pool *mm_ctx_pool(const mm_ctx *c) { return c->pool; }
size_t mm_ctx_bytes(const mm_ctx *c) { return (size_t)c->nth * MM_TBUF_FLOATS * sizeof(float); }

/* dst[rows][cols] = widen(src rows of stride ld elements). */
static void widen(float *dst, const void *src, rlv_dtype dt, size_t rows, size_t cols, size_t ld) {
    size_t es = rlv_dtype_size(dt);
    for (size_t r = 0; r < rows; r++) half_to_f32_n(dst + r * cols, (const char *)src + r * ld * es, dt, cols);
}

static const void *w_at(const void *w, rlv_dtype dt, size_t r, size_t c, size_t ld) {
    return (const char *)w + (r * ld + c) * rlv_dtype_size(dt);
}

/* Columns [n0, n1) of y = alpha x.W^T (+ beta y), on buffer buf. */
static void xwt_cols(float *buf, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
                     rlv_dtype dt, int n0, int n1, float alpha, float beta) {
    if (n1 <= n0 || m <= 0) return;
    if (dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n1 - n0, k, alpha, x, ldx,
                    (const float *)w + (size_t)n0 * ldw, ldw, beta, y + n0, ldy);
        return;
    }
    /* panels of pr weight rows by kc inner elements; inner chunks after the first accumulate */
    int kc = k < (int)(MM_TBUF_FLOATS / MM_ALIGN) ? k : (int)(MM_TBUF_FLOATS / MM_ALIGN);
    int pr = (int)(MM_TBUF_FLOATS / (size_t)(kc > 0 ? kc : 1));
    for (int r0 = n0; r0 < n1; r0 += pr) {
        int nb = n1 - r0 < pr ? n1 - r0 : pr;
        for (int k0 = 0; k0 < k; k0 += kc) {
            int kb = k - k0 < kc ? k - k0 : kc;
            widen(buf, w_at(w, dt, (size_t)r0, (size_t)k0, (size_t)ldw), dt, (size_t)nb, (size_t)kb, (size_t)ldw);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nb, kb, alpha, x + k0, ldx, buf, kb,
                        k0 ? 1.0f : beta, y + r0, ldy);
        }
    }
}

/* Columns [n0, n1) of y = alpha x.W (+ beta y), W [k, n]. */
static void xw_cols(float *buf, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
                    rlv_dtype dt, int n0, int n1, float alpha, float beta) {
    if (n1 <= n0 || m <= 0) return;
    if (dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n1 - n0, k, alpha, x, ldx,
                    (const float *)w + n0, ldw, beta, y + n0, ldy);
        return;
    }
    int nc = n1 - n0;
    int kc = (int)(MM_TBUF_FLOATS / (size_t)nc);
    if (kc < 1) {  /* wider than a buffer: column blocks */
        for (int c0 = n0; c0 < n1; c0 += (int)MM_TBUF_FLOATS) {
            int c1 = n1 - c0 < (int)MM_TBUF_FLOATS ? n1 : c0 + (int)MM_TBUF_FLOATS;
            xw_cols(buf, y, ldy, x, ldx, m, k, w, ldw, dt, c0, c1, alpha, beta);
        }
        return;
    }
    for (int k0 = 0; k0 < k; k0 += kc) {
        int kb = k - k0 < kc ? k - k0 : kc;
        widen(buf, w_at(w, dt, (size_t)k0, (size_t)n0, (size_t)ldw), dt, (size_t)kb, (size_t)nc, (size_t)ldw);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, nc, kb, alpha, x + k0, ldx, buf, nc,
                    k0 ? 1.0f : beta, y + n0, ldy);
    }
}

typedef struct mm_task {
    mm_ctx *c;
    int xw;  /* 0: x.W^T, 1: x.W */
    float *y;
    int ldy, ldx, m, k, ldw, n;
    const float *x, *bias;
    const void *w;
    rlv_dtype dt;
    float beta;
} mm_task;

static void mm_run(void *arg, int tid, int nth) {
    const mm_task *t = arg;
    int n0, n1;
    pool_split(t->n, tid, nth, MM_ALIGN, &n0, &n1);
    if (t->xw) xw_cols(t->c->buf[tid], t->y, t->ldy, t->x, t->ldx, t->m, t->k, t->w, t->ldw, t->dt, n0, n1, 1.0f, t->beta);
    else xwt_cols(t->c->buf[tid], t->y, t->ldy, t->x, t->ldx, t->m, t->k, t->w, t->ldw, t->dt, n0, n1, 1.0f, t->beta);
    if (t->bias)
        for (int i = 0; i < t->m; i++) {
            float *r = t->y + (size_t)i * t->ldy;
            for (int j = n0; j < n1; j++) r[j] += t->bias[j];
        }
}

void mm_xwt(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
            rlv_dtype dt, int n, const float *bias, int accumulate) {
    if (m <= 0 || n <= 0) return;
    mm_task t = {c, 0, y, ldy, ldx, m, k, ldw, n, x, bias, w, dt, accumulate ? 1.0f : 0.0f};
    pool_run(c->pool, mm_run, &t);
}

void mm_xw(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
           rlv_dtype dt, int n, int accumulate) {
    if (m <= 0 || n <= 0) return;
    mm_task t = {c, 1, y, ldy, ldx, m, k, ldw, n, x, NULL, w, dt, accumulate ? 1.0f : 0.0f};
    pool_run(c->pool, mm_run, &t);
}

void mm_xwt_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w,
               int ldw, rlv_dtype dt, int n, float alpha, int accumulate) {
    xwt_cols(c->buf[tid], y, ldy, x, ldx, m, k, w, ldw, dt, 0, n, alpha, accumulate ? 1.0f : 0.0f);
}

void mm_xw_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w,
              int ldw, rlv_dtype dt, int n, float alpha, int accumulate) {
    xw_cols(c->buf[tid], y, ldy, x, ldx, m, k, w, ldw, dt, 0, n, alpha, accumulate ? 1.0f : 0.0f);
}
