/* mm.c — x.W^T and x.W through cblas_sgemm, half weights converted per panel (see mm.h).
 * Why panels: the bf16 weights of the real model pair are 46 GB and would be 92 GB as f32,
 * so a panel of MM_PANEL rows is widened into scratch (it stays in cache) and multiplied. */
#include "mm.h"

#include <cblas.h>
#include <string.h>

#include "half.h"

size_t mm_scratch_floats(int k, int n) {
    size_t a = (size_t)MM_PANEL * (size_t)k;
    size_t b = (size_t)MM_PANEL * (size_t)(n > k ? n : k);
    return a > b ? a : b;
}

static void add_bias(float *y, int ldy, int m, int n, const float *bias) {
    if (!bias) return;
    for (int i = 0; i < m; i++) {
        float *r = y + (size_t)i * ldy;
        for (int j = 0; j < n; j++) r[j] += bias[j];
    }
}

void mm_xwt(float *y, int ldy, const float *x, int ldx, int m, int k,
            const void *w, rlv_dtype dt, int n, const float *bias, int accumulate, float *scratch) {
    if (m <= 0 || n <= 0) return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (dt == RLV_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, ldx,
                    (const float *)w, k, beta, y, ldy);
    } else {
        const uint16_t *wh = (const uint16_t *)w;
        for (int n0 = 0; n0 < n; n0 += MM_PANEL) {
            int nb = n - n0 < MM_PANEL ? n - n0 : MM_PANEL;
            half_to_f32_n(scratch, wh + (size_t)n0 * k, dt, (size_t)nb * k);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nb, k, 1.0f, x, ldx,
                        scratch, k, beta, y + n0, ldy);
        }
    }
    add_bias(y, ldy, m, n, bias);
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
    for (int k0 = 0; k0 < k; k0 += MM_PANEL) {
        int kb = k - k0 < MM_PANEL ? k - k0 : MM_PANEL;
        half_to_f32_n(scratch, wh + (size_t)k0 * n, dt, (size_t)kb * n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, kb, 1.0f, x + k0, ldx,
                    scratch, n, k0 ? 1.0f : 0.0f, y, ldy);
    }
}

void openblas_set_num_threads(int);
void mm_set_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }
