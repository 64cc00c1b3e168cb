/* mm.c — x.W^T and x.W through cblas_sgemm, half weights converted per panel (see mm.h).
 * Why panels: the bf16 weights of the real model pair are 46 GB and would be 92 GB as f32,
 * so a panel of MM_PANEL rows is widened into scratch and multiplied. */
#include "mm.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "half.h"

/* Threads that widen one panel (the BLAS thread count): the conversion runs between two
 * sgemm calls, when the BLAS threads are idle, so it is split the same way. */
static atomic_int mm_threads = 1;
#define MM_MAX_THREADS 64
/* Below this many elements a panel is widened by the calling thread alone. */
#define MM_PAR_MIN ((size_t)1 << 20)

typedef struct conv_job {
    float *dst;            /* rows x k, dense */
    const uint16_t *src;   /* rows x k, row stride ld */
    rlv_dtype dt;
    size_t rows, k, ld;
} conv_job;

static void *conv_run(void *arg) {
    conv_job *j = arg;
    if (j->ld == j->k) {
        half_to_f32_n(j->dst, j->src, j->dt, j->rows * j->k);
        return NULL;
    }
    for (size_t r = 0; r < j->rows; r++) half_to_f32_n(j->dst + r * j->k, j->src + r * j->ld, j->dt, j->k);
    return NULL;
}

/* dst[rows][k] = widen(src rows of stride ld), split by rows over mm_threads threads. */
static void widen(float *dst, const uint16_t *src, rlv_dtype dt, size_t rows, size_t k, size_t ld) {
    int t = atomic_load(&mm_threads);
    if (t > MM_MAX_THREADS) t = MM_MAX_THREADS;
    if ((size_t)t > rows) t = (int)rows;
    if (t <= 1 || rows * k < MM_PAR_MIN) {
        conv_job j = {dst, src, dt, rows, k, ld};
        conv_run(&j);
        return;
    }
    conv_job jobs[MM_MAX_THREADS];
    pthread_t tid[MM_MAX_THREADS];
    int started[MM_MAX_THREADS] = {0};
    size_t per = (rows + (size_t)t - 1) / (size_t)t;
    for (int i = 0; i < t; i++) {
        size_t a = per * (size_t)i < rows ? per * (size_t)i : rows, b = a + per < rows ? a + per : rows;
        jobs[i] = (conv_job){dst + a * k, src + a * ld, dt, b - a, k, ld};
        /* thread 0's share runs here; a failed pthread_create runs its share here too */
        if (i > 0 && pthread_create(&tid[i], NULL, conv_run, &jobs[i]) == 0) started[i] = 1;
    }
    conv_run(&jobs[0]);
    for (int i = 1; i < t; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else conv_run(&jobs[i]);
    }
}

/* Rows of W per panel for rows of length k: MM_PANEL, fewer when a panel would pass
 * MM_PANEL_FLOATS (never fewer than MM_PANEL_MIN). */
static int panel_rows(int k) {
    size_t r = MM_PANEL_FLOATS / (size_t)(k > 0 ? k : 1);
    if (r > MM_PANEL) r = MM_PANEL;
    if (r < MM_PANEL_MIN) r = MM_PANEL_MIN;
    return (int)r;
}

/* An upper bound of panel_rows(x) * x that grows with x (panel_rows(x) * x itself dips just
 * above 4096), so sizing scratch with the largest x of several products covers each. */
static size_t panel_bound(int x) {
    size_t a = (size_t)MM_PANEL * (size_t)x, b = (size_t)MM_PANEL_MIN * (size_t)x;
    size_t c = b > MM_PANEL_FLOATS ? b : MM_PANEL_FLOATS;
    return a < c ? a : c;
}

size_t mm_scratch_floats(int k, int n) {
    /* mm_xwt with inner dimension <= k and any n; mm_xw with width <= n and any k */
    size_t a = panel_bound(k), b = panel_bound(n);
    return a > b ? a : b;
}

size_t mm_xwt_scratch_floats(int k, int n) {
    size_t a = panel_bound(k), b = (size_t)n * (size_t)k;
    return a < b ? a : b;
}

static void add_bias(float *y, int ldy, int m, int n, const float *bias) {
    if (!bias) return;
    for (int i = 0; i < m; i++) {
        float *r = y + (size_t)i * ldy;
        for (int j = 0; j < n; j++) r[j] += bias[j];
    }
}

void mm_xwt_ld(float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
               rlv_dtype dt, int n, const float *bias, int accumulate, float *scratch) {
    if (m <= 0 || n <= 0) return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, ldx,
                    (const float *)w, ldw, beta, y, ldy);
    } else {
        const uint16_t *wh = (const uint16_t *)w;
        int pr = panel_rows(k);
        for (int n0 = 0; n0 < n; n0 += pr) {
            int nb = n - n0 < pr ? n - n0 : pr;
            widen(scratch, wh + (size_t)n0 * ldw, dt, (size_t)nb, (size_t)k, (size_t)ldw);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nb, k, 1.0f, x, ldx,
                        scratch, k, beta, y + n0, ldy);
        }
    }
    add_bias(y, ldy, m, n, bias);
}

void mm_xwt(float *y, int ldy, const float *x, int ldx, int m, int k,
            const void *w, rlv_dtype dt, int n, const float *bias, int accumulate, float *scratch) {
    mm_xwt_ld(y, ldy, x, ldx, m, k, w, k, dt, n, bias, accumulate, scratch);
}

void mm_xw(float *y, int ldy, const float *x, int ldx, int m, int k,
           const void *w, rlv_dtype dt, int n, float *scratch) {
    if (m <= 0 || n <= 0) return;
    if (dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, x, ldx,
                    (const float *)w, n, 0.0f, y, ldy);
        return;
    }
    /* Panel of MM_PANEL rows of W ([kb, n]): y += x[:, k0:k0+kb] . W[k0:k0+kb, :]. */
    const uint16_t *wh = (const uint16_t *)w;
    int pr = panel_rows(n);
    for (int k0 = 0; k0 < k; k0 += pr) {
        int kb = k - k0 < pr ? k - k0 : pr;
        widen(scratch, wh + (size_t)k0 * n, dt, (size_t)kb, (size_t)n, (size_t)n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, kb, 1.0f, x + k0, ldx,
                    scratch, n, k0 ? 1.0f : 0.0f, y, ldy);
    }
}

void openblas_set_num_threads(int);
void mm_set_threads(int n) {
    n = n > 0 ? n : 1;
    atomic_store(&mm_threads, n);
    openblas_set_num_threads(n);
}
