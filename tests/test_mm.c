/* test_mm.c — mm.h's products against double-precision dot products: every dtype (f32, bf16,
 * f16), both layouts (x.W^T, x.W), column blocks of wider weights (ldw), bias, accumulate,
 * alpha, pools of 1-3 threads, and shapes that are not multiples of any kernel tile. The
 * bound is relative to sum |x||w| of each output: fp32 accumulation over k terms. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "cpu.h"
#include "half.h"
#include "mm.h"
#include "pool.h"

static uint64_t rng = 88172645463325252ull;
static float rndf(void) {  /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

typedef struct wbuf {
    void *p;    /* as stored */
    float *f;   /* the same values widened */
} wbuf;

/* f16 bits of v, which must be 0 or a normal f16 value exactly (as k / 1024 with 0 < |k| < 2048). */
static uint16_t f16_exact(float v) {
    union { float f; uint32_t u; } b = {v};
    if (v == 0) return 0;
    return (uint16_t)(((b.u >> 16) & 0x8000) | ((((b.u >> 23) & 0xff) - 127 + 15) << 10) | ((b.u >> 13) & 0x3ff));
}

static wbuf make_w(rlv_dtype dt, size_t n) {
    wbuf b = {malloc(n * rlv_dtype_size(dt)), malloc(n * sizeof(float))};
    for (size_t i = 0; i < n; i++) {
        float v = rndf() * 0.5f;
        if (dt == RLV_F32) ((float *)b.p)[i] = v, b.f[i] = v;
        else if (dt == RLV_BF16) ((uint16_t *)b.p)[i] = half_f32_to_bf16(v), b.f[i] = half_bf16_to_f32(((uint16_t *)b.p)[i]);
        else {
            float q = roundf(v * 1024.0f) / 1024.0f;
            ((uint16_t *)b.p)[i] = f16_exact(q), b.f[i] = half_f16_to_f32(((uint16_t *)b.p)[i]);
            assert_true(b.f[i] == q);
        }
    }
    return b;
}

/* One product through mm and against doubles. xw = 0: W is [n rows][ldw], x.W^T over columns
 * [c0, c0 + k); xw = 1: W is [k rows][ldw], x.W over columns [c0, c0 + n). on >= 0: the serial
 * variant on thread 0 with alpha. Returns the worst error over its bound. */
static double check(mm_ctx *c, int xw, rlv_dtype dt, int m, int k, int n, int extra, int use_bias, int acc,
                    int on, float alpha) {
    int ldw = (xw ? n : k) + extra, c0 = extra / 2, ldx = k + 3, ldy = n + 5;
    size_t wn = (size_t)(xw ? k : n) * ldw;
    wbuf w = make_w(dt, wn);
    float *x = malloc((size_t)m * ldx * sizeof(float)), *y = malloc((size_t)m * ldy * sizeof(float));
    float *y0 = malloc((size_t)m * ldy * sizeof(float)), *bias = malloc((size_t)n * sizeof(float));
    for (size_t i = 0; i < (size_t)m * ldx; i++) x[i] = rndf();
    for (size_t i = 0; i < (size_t)m * ldy; i++) y0[i] = y[i] = rndf();
    for (int j = 0; j < n; j++) bias[j] = rndf();
    size_t es = rlv_dtype_size(dt);
    const char *wp = (const char *)w.p + (size_t)c0 * es;
    const float *wf = w.f + c0;
    if (on) {
        if (xw) mm_xw_on(c, 0, y, ldy, x, ldx, m, k, wp, ldw, dt, n, alpha, acc);
        else mm_xwt_on(c, 0, y, ldy, x, ldx, m, k, wp, ldw, dt, n, alpha, acc);
    } else {
        alpha = 1.0f;
        if (xw) mm_xw(c, y, ldy, x, ldx, m, k, wp, ldw, dt, n, acc);
        else mm_xwt(c, y, ldy, x, ldx, m, k, wp, ldw, dt, n, use_bias ? bias : NULL, acc);
    }
    double worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double d = 0, mag = 0;
            for (int q = 0; q < k; q++) {
                double wv = xw ? wf[(size_t)q * ldw + j] : wf[(size_t)j * ldw + q];
                d += (double)x[(size_t)i * ldx + q] * wv;
                mag += fabs((double)x[(size_t)i * ldx + q] * wv);
            }
            d *= alpha;
            mag *= fabs(alpha);
            if (acc) d += y0[(size_t)i * ldy + j], mag += fabs(y0[(size_t)i * ldy + j]);
            if (use_bias && !xw && !on) d += bias[j], mag += fabs(bias[j]);
            double r = fabs(y[(size_t)i * ldy + j] - d) / (1e-6 * (mag + 1e-3));
            if (!(r <= worst)) worst = r;  /* NaN propagates */
        }
    /* columns outside [0, n) of y are untouched */
    for (int i = 0; i < m; i++)
        for (int j = n; j < ldy; j++) assert_true(y[(size_t)i * ldy + j] == y0[(size_t)i * ldy + j]);
    free(w.p), free(w.f), free(x), free(y), free(y0), free(bias);
    return worst;
}

static void run_all(int threads) {
    rlv_pool *p = NULL;
    mm_ctx *c = NULL;
    rlv_err e = {0};
    assert_int_equal(pool_init(&p, threads, &e), RLV_OK);
    assert_int_equal(mm_ctx_init(&c, p, &e), RLV_OK);
    assert_true(mm_ctx_bytes(c) > 0);
    static const int shapes[][3] = {  /* m, k, n */
        {1, 1, 1}, {1, 64, 4096}, {3, 1100, 1101}, {7, 33, 17}, {17, 256, 48}, {64, 129, 95},
        {130, 300, 257}, {257, 64, 33}, {31, 4100, 40}, {2, 17, 1500},
    };
    const rlv_dtype dts[3] = {RLV_F32, RLV_BF16, RLV_F16};
    double worst = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int d = 0; d < 3; d++)
            for (int xw = 0; xw < 2; xw++)
                for (int v = 0; v < 3; v++) {  /* plain; ldw > width with bias and accumulate; serial with alpha */
                    int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
                    double r = check(c, xw, dts[d], m, k, n, v ? 37 : 0, v == 1, v >= 1, v == 2, 0.125f);
                    if (r > 1.0)
                        print_message("threads %d dtype %d %s m %d k %d n %d variant %d: error %.3g of bound\n", threads,
                                      d, xw ? "x.W" : "x.W^T", m, k, n, v, r);
                    if (!(r <= worst)) worst = r;
                    cases++;
                }
    print_message("mm (%s, %d threads): %d products, worst error %.3f of the bound\n", cpu_level_name(cpu_features()),
                  threads, cases, worst);
    assert_true(worst <= 1.0);
    mm_ctx_free(&c);
    assert_null(c);
    mm_ctx_free(&c);  /* NULL: no-op */
    pool_free(&p);
    assert_null(p);
}

static void test_one_thread(void **s) { (void)s; run_all(1); }
static void test_two_threads(void **s) { (void)s; run_all(2); }
static void test_three_threads(void **s) { (void)s; run_all(3); }

/* A NULL pool runs on the caller; pool_split covers every item once, in aligned chunks. */
static void test_pool(void **s) {
    (void)s;
    assert_int_equal(pool_threads(NULL), 1);
    for (int n = 0; n < 200; n += 7)
        for (int nth = 1; nth <= 5; nth++)
            for (int align = 1; align <= 32; align *= 4) {
                int next = 0;
                for (int t = 0; t < nth; t++) {
                    int lo, hi;
                    pool_split(n, t, nth, align, &lo, &hi);
                    assert_int_equal(lo, next);
                    assert_true(hi >= lo);
                    assert_true(lo % align == 0 || lo == n);
                    next = hi;
                }
                assert_int_equal(next, n);
            }
    rlv_pool *p = NULL;
    rlv_err e = {0};
    assert_int_equal(pool_init(&p, 0, &e), RLV_EINVAL);
    assert_null(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool), cmocka_unit_test(test_one_thread), cmocka_unit_test(test_two_threads),
        cmocka_unit_test(test_three_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
