/* test_mm.c — mm.h's products against double-precision dot products: every dtype (f32, bf16,
 * f16, q8 with blocks of 8, 16, 32, 48 and 64 whose column blocks start off a block), both layouts (x.W^T, x.W), column blocks of wider weights (ldw), bias, accumulate,
 * alpha, pools of 1-3 threads, and shapes that are not multiples of any kernel tile. The
 * bound is relative to sum |x||w| of each output: fp32 accumulation over k terms.
 * Every kernel this CPU runs is tested in turn (cpu_set_cap: generic = OpenBLAS, avx2, avx512,
 * and the bf16 compute mode), and the test asserts by mm_kernel_name() that the kernel asked
 * for is the one that ran; where the CPU lacks a level it asserts the fallback instead (a
 * bf16 context: RLV_EUNSUPPORTED). Edge sweeps: m = 1..15 (the gemv path up to 4 rows, then
 * past both micro-tile heights, 6 and 14), n = 1..33 (widths 16 and 32), k around 16/32 and the depth blocks (256, 512), rows past
 * a row block (mc) and columns past a column block (nc). The bf16 mode is checked against
 * doubles of the bf16-rounded operands, so its pairing and rounding are exact, not loose.
 * q8 weights are checked against doubles of q8_dequantize_rows (the reference), and bit for bit
 * against the same product on the dequantised f32 weights (test_q8_exact): dequantising while
 * packing must give the very floats the reference does. Weights repacked at load into the
 * kernel's panels (test_repacked) give the floats of the weights as stored, and products of a
 * held x (test_held) the floats of the same products packing x themselves. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cpu.h"
#include "half.h"
#include "mm.h"
#include "pool.h"
#include "q8.h"

static uint64_t rng = 88172645463325252ull;
static float rndf(void) {  /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

typedef struct wbuf {
    void *p;         /* as stored */
    float *f;        /* the same values widened (q8: q8_dequantize_rows) */
    uint16_t *s;     /* q8: scales [n / ld][ld / block] */
} wbuf;

static const int q8_blocks[] = {32, 16, 8, 48, 64};
static int g_block = 32;  /* the q8 block of the next make_w */

/* f16 bits of v, which must be 0 or a normal f16 value exactly (as k / 1024 with 0 < |k| < 2048). */
static uint16_t f16_exact(float v) {
    union { float f; uint32_t u; } b = {v};
    if (v == 0) return 0;
    return (uint16_t)(((b.u >> 16) & 0x8000) | ((((b.u >> 23) & 0xff) - 127 + 15) << 10) | ((b.u >> 13) & 0x3ff));
}

/* n weights, rows of ld (q8: ld a multiple of g_block) */
static wbuf make_w(rlv_dtype dt, size_t n, size_t ld) {
    wbuf b = {malloc(n * rlv_dtype_size(dt)), malloc(n * sizeof(float)), NULL};
    if (dt == RLV_I8) {  /* rows of different magnitudes, so that the scales matter */
        b.s = malloc(n / (size_t)g_block * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) b.f[i] = rndf() * (float)(1 + (i / ld) % 5) * (i % 97 == 0 ? 8.0f : 0.5f);
        assert_int_equal(q8_quantize_rows(b.p, b.s, b.f, (int64_t)(n / ld), (int64_t)ld, g_block, NULL), 0);
        q8_dequantize_rows(b.f, b.p, b.s, (int64_t)(n / ld), (int64_t)ld, g_block);
        return b;
    }
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
static int g_bf16;  /* the context computes in bf16: the reference rounds both operands too */

static double bf16_round(double v) { return half_bf16_to_f32(half_f32_to_bf16((float)v)); }

static double check(mm_ctx *c, int xw, rlv_dtype dt, int m, int k, int n, int extra, int use_bias, int acc,
                    int on, float alpha) {
    int ldw = (xw ? n : k) + extra, c0 = extra / 2, ldx = k + 3, ldy = n + 5;
    if (dt == RLV_I8) ldw = (ldw + g_block - 1) / g_block * g_block;  /* whole blocks per stored row */
    size_t wn = (size_t)(xw ? k : n) * ldw;
    wbuf w = make_w(dt, wn, (size_t)ldw);
    float *x = malloc((size_t)m * ldx * sizeof(float)), *y = malloc((size_t)m * ldy * sizeof(float));
    float *y0 = malloc((size_t)m * ldy * sizeof(float)), *bias = malloc((size_t)n * sizeof(float));
    for (size_t i = 0; i < (size_t)m * ldx; i++) x[i] = rndf();
    for (size_t i = 0; i < (size_t)m * ldy; i++) y0[i] = y[i] = rndf();
    for (int j = 0; j < n; j++) bias[j] = rndf();
    mm_w whole = mm_w_plain(w.p, dt, ldw);
    if (dt == RLV_I8) whole.scale = w.s, whole.block = g_block;
    mm_w wp = mm_w_at(whole, 0, (size_t)c0);  /* a column block from c0: q8 off a block boundary */
    const float *wf = w.f + c0;
    if (on) {
        if (xw) mm_xw_on(c, 0, y, ldy, x, ldx, m, k, wp, n, alpha, acc);
        else mm_xwt_on(c, 0, y, ldy, x, ldx, m, k, wp, n, alpha, acc);
    } else {
        alpha = 1.0f;
        if (xw) mm_xw(c, y, ldy, x, ldx, m, k, wp, n, acc);
        else mm_xwt(c, y, ldy, x, ldx, m, k, wp, n, use_bias ? bias : NULL, acc);
    }
    double worst = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double d = 0, mag = 0;
            for (int q = 0; q < k; q++) {
                double wv = xw ? wf[(size_t)q * ldw + j] : wf[(size_t)j * ldw + q], xv = x[(size_t)i * ldx + q];
                if (g_bf16) wv = bf16_round(wv), xv = bf16_round(xv);
                d += xv * wv;
                mag += fabs(xv * wv);
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
    free(w.p), free(w.f), free(w.s), free(x), free(y), free(y0), free(bias);
    return worst;
}

typedef struct level {
    const char *name;  /* the kernel asked for */
    unsigned cap;      /* cpu_set_cap mask */
    mm_compute compute;
    int widen;         /* mm_ctx_set_widen: both ways on every CPU, whatever mm_ctx_init chose */
} level;

static const level levels[] = {
    {"generic", 0, MM_COMPUTE_F32, 0},
    {"avx2", CPU_AVX2, MM_COMPUTE_F32, 0},
    {"avx2", CPU_AVX2, MM_COMPUTE_F32, 1},
    {"avx512", CPU_AVX2 | CPU_AVX512, MM_COMPUTE_F32, 0},
    {"avx512", CPU_AVX2 | CPU_AVX512, MM_COMPUTE_F32, 1},
    {"avx512bf16", ~0u, MM_COMPUTE_BF16, 0},
};

/* The context for lv, or NULL (asserted: RLV_EUNSUPPORTED) where the CPU cannot run a bf16 one;
 * asserts the kernel is lv's, or the widest fp32 one the CPU has below it. */
static mm_ctx *level_ctx(const level *lv, rlv_pool *p) {
    cpu_set_cap(lv->cap);
    unsigned f = cpu_features();
    mm_ctx *c = NULL;
    rlv_err e = {0};
    int rc = mm_ctx_init(&c, p, lv->compute, &e);
    cpu_set_cap(~0u);
    if (lv->compute == MM_COMPUTE_BF16) {
        if (!(f & CPU_AVX512BF16)) {
            assert_int_equal(rc, RLV_EUNSUPPORTED);
            assert_null(c);
            print_message("mm: this CPU lacks AVX512_BF16: compute bf16 refused (%s)\n", e.msg);
            return NULL;
        }
        assert_int_equal(rc, RLV_OK);
        assert_string_equal(mm_kernel_name(c), "avx512bf16");
        return c;
    }
    assert_int_equal(rc, RLV_OK);
    mm_ctx_set_widen(c, lv->widen);
    assert_int_equal(mm_ctx_widen(c), lv->widen && (f & CPU_AVX2));
    const char *want = f & CPU_AVX512 ? "avx512" : f & CPU_AVX2 ? "avx2" : "generic";
    if (strcmp(want, lv->name)) print_message("mm: this CPU lacks %s: checking its fallback %s\n", lv->name, want);
    assert_string_equal(mm_kernel_name(c), want);
    return c;
}

static void run_level(const level *lv, int threads) {
    rlv_pool *p = NULL;
    rlv_err e = {0};
    assert_int_equal(pool_init(&p, threads, &e), RLV_OK);
    mm_ctx *c = level_ctx(lv, p);
    if (!c) {
        pool_free(&p);
        return;
    }
    g_bf16 = lv->compute == MM_COMPUTE_BF16;
    assert_true(mm_ctx_bytes(c) > 0);
    static const int shapes[][3] = {  /* m, k, n */
        {1, 1, 1}, {1, 64, 4096}, {3, 1100, 1101}, {7, 33, 17}, {17, 256, 48}, {64, 129, 95},
        {130, 300, 257}, {257, 64, 33}, {31, 4100, 40}, {2, 17, 1500},
        /* depth blocks (kc 256, 512 bf16), row blocks (mc 336 / 240), column blocks (nc 2048) */
        {15, 255, 33}, {15, 257, 33}, {14, 511, 32}, {13, 513, 31}, {337, 40, 70}, {241, 33, 17}, {5, 70, 2081},
    };
    const rlv_dtype dts[4] = {RLV_F32, RLV_BF16, RLV_F16, RLV_I8};
    double worst = 0;
    int cases = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (int d = 0; d < 4; d++)
            for (int xw = 0; xw < 2; xw++)
                for (int v = 0; v < 3; v++) {  /* plain; ldw > width with bias and accumulate; serial with alpha */
                    int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
                    g_block = q8_blocks[(s + (size_t)v) % (sizeof q8_blocks / sizeof *q8_blocks)];
                    double r = check(c, xw, dts[d], m, k, n, v ? 37 : 0, v == 1, v >= 1, v == 2, 0.125f);
                    if (r > 1.0)
                        print_message("%s threads %d dtype %d %s m %d k %d n %d variant %d: error %.3g of bound\n",
                                      lv->name, threads, d, xw ? "x.W" : "x.W^T", m, k, n, v, r);
                    if (!(r <= worst)) worst = r;
                    cases++;
                }
    /* every micro-tile edge: m past 6 and 14 rows, n past 16 and 32 columns, k past 16 and 32 */
    static const int ns[] = {1, 7, 15, 16, 17, 31, 32, 33}, ks[] = {1, 2, 15, 16, 17, 33};
    if (threads <= 2)
        for (int m = 1; m <= 15; m++)
            for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
                for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
                    for (int xw = 0; xw < 2; xw++) {
                        rlv_dtype dt = dts[(m + a + b) % 4];
                        int v = (int)((m + a) % 3);
                        g_block = q8_blocks[(m + b) % (sizeof q8_blocks / sizeof *q8_blocks)];
                        double r = check(c, xw, dt, m, ks[b], ns[a], v ? 5 : 0, v == 1, v >= 1, v == 2, -0.5f);
                        if (r > 1.0)
                            print_message("%s threads %d dtype %d %s m %d k %d n %d variant %d: error %.3g of bound\n",
                                          lv->name, threads, (int)dt, xw ? "x.W" : "x.W^T", m, ks[b], ns[a], v, r);
                        if (!(r <= worst)) worst = r;
                        cases++;
                    }
    print_message("mm (%s, %d threads): %d products, worst error %.3f of the bound\n", mm_kernel_name(c), threads, cases,
                  worst);
    assert_true(worst <= 1.0);
    g_bf16 = 0;
    mm_ctx_free(&c);
    assert_null(c);
    mm_ctx_free(&c);  /* NULL: no-op */
    pool_free(&p);
    assert_null(p);
}

static void run_all(int threads) {
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) run_level(&levels[i], threads);
}

/* q8 weights give, bit for bit, the product of their dequantised f32 values on the same kernel:
 * the tiles see the same floats (packed or, for m <= 4, loaded in place by the gemv). Column
 * blocks start off a block boundary; both layouts; every block size. */
static void test_q8_exact(void **st) {
    (void)st;
    rlv_pool *p = NULL;
    rlv_err e = {0};
    assert_int_equal(pool_init(&p, 2, &e), RLV_OK);
    static const int shapes[][3] = {{1, 4096, 70}, {3, 1100, 257}, {4, 96, 33}, {5, 513, 31}, {64, 700, 130}, {300, 96, 40}};
    int cases = 0;
    for (size_t li = 0; li < sizeof levels / sizeof *levels; li++) {
        mm_ctx *c = level_ctx(&levels[li], p);
        if (!c) continue;
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (size_t bi = 0; bi < sizeof q8_blocks / sizeof *q8_blocks; bi++)
                for (int xw = 0; xw < 2; xw++) {
                    int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2], B = q8_blocks[bi];
                    int rows = xw ? k : n, ld = ((xw ? n : k) + 13 + B - 1) / B * B, c0 = 5 + (int)bi;
                    g_block = B;
                    wbuf w = make_w(RLV_I8, (size_t)rows * ld, (size_t)ld);
                    float *x = malloc((size_t)m * k * sizeof(float)), *y1 = calloc((size_t)m * n, sizeof(float)),
                          *y2 = calloc((size_t)m * n, sizeof(float));
                    for (size_t i = 0; i < (size_t)m * k; i++) x[i] = rndf();
                    mm_w q = mm_w_plain(w.p, RLV_I8, ld);
                    q.scale = w.s, q.block = B;
                    mm_w wq = mm_w_at(q, 0, (size_t)c0), wf = mm_w_plain(w.f + c0, RLV_F32, ld);
                    if (xw) mm_xw(c, y1, n, x, k, m, k, wq, n, 0), mm_xw(c, y2, n, x, k, m, k, wf, n, 0);
                    else mm_xwt(c, y1, n, x, k, m, k, wq, n, NULL, 0), mm_xwt(c, y2, n, x, k, m, k, wf, n, NULL, 0);
                    /* OpenBLAS reads f32 weights in place, q8 ones from widened panels: its own
                     * blocking may differ, so generic is held to the bound in run_level instead */
                    if (strcmp(mm_kernel_name(c), "generic"))
                        for (size_t i = 0; i < (size_t)m * n; i++)
                            if (memcmp(&y1[i], &y2[i], sizeof(float)))
                                fail_msg("%s %s m %d k %d n %d block %d: y[%zu] q8 %.9g, dequantised f32 %.9g", mm_kernel_name(c),
                                         xw ? "x.W" : "x.W^T", m, k, n, B, i, y1[i], y2[i]);
                    free(w.p), free(w.f), free(w.s), free(x), free(y1), free(y2);
                    cases++;
                }
        mm_ctx_free(&c);
    }
    print_message("mm q8: %d products equal to their dequantised f32 ones\n", cases);
    pool_free(&p);
}

/* fn(c, lv, threads, arg) on a context of each kernel level this CPU runs (level_ctx; the bf16
 * one only where it can), on pools of t0..t1 threads. */
typedef void (*ctx_fn)(mm_ctx *c, const level *lv, int threads, void *arg);
static void each_ctx(int t0, int t1, ctx_fn fn, void *arg) {
    for (int threads = t0; threads <= t1; threads++) {
        rlv_pool *p = NULL;
        rlv_err e = {0};
        assert_int_equal(pool_init(&p, threads, &e), RLV_OK);
        for (size_t li = 0; li < sizeof levels / sizeof *levels; li++) {
            mm_ctx *c = level_ctx(&levels[li], p);
            if (!c) continue;
            fn(c, &levels[li], threads, arg);
            mm_ctx_free(&c);
        }
        pool_free(&p);
    }
}

/* A repacker for lv's kernel (cpu_set_cap around mm_repack_init), to free after use. */
static mm_repack *level_repacker(const level *lv) {
    mm_repack *rp = NULL;
    rlv_err e = {0};
    cpu_set_cap(lv->cap);
    assert_int_equal(mm_repack_init(&rp, lv->compute, &e), RLV_OK);
    cpu_set_cap(~0u);
    return rp;
}

/* v [n, k] repacked for lv's kernel (mm_repack_view); the repacker, to free after the products. */
static mm_repack *repack_view(const level *lv, mm_w *v, int n, int k) {
    mm_repack *rp = level_repacker(lv);
    rlv_err e = {0};
    assert_int_equal(mm_repack_view(rp, v, n, k, &e), RLV_OK);
    return rp;
}

/* Weights repacked into the kernel's panels (mm_repack_view) give the very floats of the same
 * product on the weights as stored: the same widened values, summed in the same order (at
 * m <= 4 as-stored weights take the gemv path, which rounds as the tiles do; see test_rows). Every dtype (q8 with blocks 16, 32, 64), widths that are not multiples of a
 * panel, a row block (from row 2P) and a column block (from k 48, mid-block) of the repacked
 * weight, as the decoder takes its MLP chunks, 2 threads, every kernel level. */
static void repacked_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const rlv_dtype dts[] = {RLV_F32, RLV_BF16, RLV_F16, RLV_I8, RLV_I8, RLV_I8};
    static const int blocks[] = {32, 32, 32, 32, 16, 64};
    /* sized for the ASan build (the products run at -O0 there): 243 products; k 102 (rows of 166:
     * not q8's whole blocks) ends off a 16-k step of the bf16 panels' transpose, n 64 is whole panels */
    static const int shapes[][3] = {{1, 128, 70}, {3, 192, 33}, {20, 576, 257}, {300, 128, 40}, {5, 102, 64}};
    int *cases = arg;
    (void)threads;
    mm_repack *rp = level_repacker(lv);
    int P = mm_repack_panel(rp);
    mm_repack_free(&rp);
    if (!strcmp(mm_kernel_name(c), "generic")) assert_int_equal(P, 0);
    g_bf16 = lv->compute == MM_COMPUTE_BF16;
    for (size_t di = 0; di < sizeof dts / sizeof *dts && P; di++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
            for (int sub = 0; sub < 3; sub++) {
                int m = shapes[s][0], k = shapes[s][1], n = shapes[s][2], ldw = k + 64;
                if (dts[di] == RLV_I8 && ldw % 64) continue; /* q8 rows are whole blocks */
                g_block = blocks[di];
                int r0 = sub == 1 ? 2 * P : 0,
                    k0 = sub == 2 ? 48 : 0; /* the view: rows from r0, k from k0 (mid-block) */
                int nn = n + r0;
                wbuf w = make_w(dts[di], (size_t)nn * ldw, (size_t)ldw);
                mm_w plain = mm_w_plain(w.p, dts[di], ldw);
                if (dts[di] == RLV_I8) plain.scale = w.s, plain.block = g_block;
                mm_w rep = plain;
                /* a repacker per weight: a freed source's address comes back; whole stored rows */
                rp = repack_view(lv, &rep, nn, ldw);
                assert_int_equal(rep.panel, P);
                /* bf16 panels for the packed kernels are multiplied in place (tile_bf16p) */
                int bp = !strcmp(mm_kernel_name(c), "avx512") || !strcmp(mm_kernel_name(c), "avx2") ? MM_BF16P_SPLIT
                         : !strcmp(mm_kernel_name(c), "avx512bf16")                                ? MM_BF16P_PAIRS
                                                                                                    : 0;
                assert_int_equal(rep.bf16p, dts[di] == RLV_BF16 ? bp : 0);
                mm_w pv = mm_w_at(plain, (size_t)r0, (size_t)k0), rv = mm_w_at(rep, (size_t)r0, (size_t)k0);
                float *x = malloc((size_t)m * k * sizeof(float)), *y1 = calloc((size_t)m * n, sizeof(float)),
                      *y2 = calloc((size_t)m * n, sizeof(float));
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = rndf();
                mm_xwt(c, y1, n, x, k, m, k, rv, n, NULL, 0);
                mm_xwt(c, y2, n, x, k, m, k, pv, n, NULL, 0);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        float a = y1[(size_t)i * n + j], b = y2[(size_t)i * n + j];
                        if (strcmp(mm_kernel_name(c), "generic")) {
                            if (memcmp(&a, &b, sizeof a))
                                fail_msg("%s %s m %d k %d n %d sub %d: y[%d][%d] repacked %.9g, as stored %.9g",
                                         mm_kernel_name(c), rlv_dtype_name(dts[di]), m, k, n, sub, i, j, a, b);
                            continue;
                        }
                        double d = 0, mag = 0;
                        for (int q = 0; q < k; q++) {
                            double wv = w.f[(size_t)(r0 + j) * ldw + k0 + q], xv = x[(size_t)i * k + q];
                            if (g_bf16) wv = bf16_round(wv), xv = bf16_round(xv);
                            d += xv * wv, mag += fabs(xv * wv);
                        }
                        if (!(fabs(a - d) <= 1e-6 * (mag + 1e-3)))
                            fail_msg("%s %s m %d k %d n %d: y[%d][%d] repacked %.9g, doubles %.9g", mm_kernel_name(c),
                                     rlv_dtype_name(dts[di]), m, k, n, i, j, a, d);
                    }
                free(w.p), free(w.f), free(w.s), free(x), free(y1), free(y2);
                mm_repack_free(&rp);
                (*cases)++;
            }
    g_bf16 = 0;
    g_block = 32;
}

static void test_repacked(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(2, 2, repacked_cases, &cases); /* the split over threads; one thread is the same code */
    print_message("mm repacked: %d products equal to the same on the weights as stored\n", cases);
}

/* The weights of a case of held_cases and packed_cases: W [n, k] of dt (q8: blocks of g_block),
 * repacked for lv's kernel when rep, as v; an f32 W [k, n] for x.W, as vn. */
typedef struct wpair {
    wbuf w, wn;
    mm_w v, vn;
    mm_repack *rp;
} wpair;

static wpair make_wpair(const level *lv, rlv_dtype dt, int n, int k, int rep) {
    wpair p = {make_w(dt, (size_t)n * k, (size_t)k), make_w(RLV_F32, (size_t)k * n, (size_t)n), {0}, {0}, NULL};
    p.v = mm_w_plain(p.w.p, dt, k), p.vn = mm_w_plain(p.wn.p, RLV_F32, n);
    if (dt == RLV_I8) p.v.scale = p.w.s, p.v.block = g_block;
    if (rep) p.rp = repack_view(lv, &p.v, n, k);
    return p;
}

static void free_wpair(wpair *p) {
    free(p->w.p), free(p->w.f), free(p->w.s), free(p->wn.p), free(p->wn.f), free(p->wn.s);
    mm_repack_free(&p->rp);
}

/* mm_hold_x: products of a held x (packed once, each thread a share) are the very floats of the
 * same products packing x themselves, for x.W^T and x.W, bias and accumulate, weights as stored,
 * repacked (bf16 in place) and q8, rows past a row block and depth past a depth block, 2 and 3
 * threads, every kernel level. They read the packed copy: x changed after the hold still gives
 * the held x's product (what the contract forbids, done here to see the copy is used), and a
 * product of another x, of fewer rows of it, or split by rows (narrow n) while x is held, and
 * every product after mm_release_x, see x as it is. */
static void held_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const rlv_dtype dts[] = {RLV_F32, RLV_BF16, RLV_I8};
    /* k: whole q8 blocks; n past 3 threads x 4 x 32 (so that the columns are split) */
    static const int shapes[][3] = {{5, 64, 400}, {200, 544, 400}, {40, 1056, 416}};
    int *cases = arg;
    rlv_err e = {0};
    for (size_t di = 0; di < sizeof dts / sizeof *dts; di++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int rep = 0; rep <= 1; rep++) {
                int m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
                size_t yb = (size_t)m * n * sizeof(float);
                wpair wp = make_wpair(lv, dts[di], n, k, rep);
                mm_w v = wp.v, vn = wp.vn;
                float *x = malloc((size_t)m * k * sizeof(float)), *x0 = malloc((size_t)m * k * sizeof(float)),
                      *bias = malloc((size_t)n * sizeof(float)), *y0 = malloc(yb);
                float *want[4], *got[4];
                for (int i = 0; i < 4; i++) want[i] = malloc(yb), got[i] = malloc(yb);
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = rndf();
                for (int i = 0; i < n; i++) bias[i] = rndf();
                for (size_t i = 0; i < (size_t)m * n; i++) y0[i] = rndf();
                memcpy(x0, x, (size_t)m * k * sizeof(float));
                /* 0: x.W^T + bias; 1: y0 += x.W^T; 2: x.W (k = n here: W [k, n]); 3: the first m - 1 rows */
                for (int i = 0; i < 4; i++) memcpy(want[i], y0, yb), memcpy(got[i], y0, yb);
                mm_xwt(c, want[0], n, x, k, m, k, v, n, bias, 0);
                mm_xwt(c, want[1], n, x, k, m, k, v, n, NULL, 1);
                mm_xw(c, want[2], n, x, k, m, k, vn, n, 1);
                if (di == 0 && si == 0 && rep == 0) /* the context's first: no room reserved yet, not held */
                    assert_int_equal(mm_hold_x(c, x, k, m, k), 0);
                assert_int_equal(mm_reserve_x(c, m, k, &e), RLV_OK);
                int held = mm_hold_x(c, x, k, m, k);
                /* held wherever our kernels pack x (not OpenBLAS's) */
                assert_int_equal(held, strcmp(mm_kernel_name(c), "generic") != 0);
                if (!held) { /* products read x as it is: nothing more to see */
                    mm_release_x(c);
                    goto done;
                }
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = -x[i]; /* the copy, not x, is read */
                mm_xwt(c, got[0], n, x, k, m, k, v, n, bias, 0);
                mm_xwt(c, got[1], n, x, k, m, k, v, n, NULL, 1);
                mm_xw(c, got[2], n, x, k, m, k, vn, n, 1);
                mm_xwt(c, got[3], n, x, k, m - 1, k, v, n, NULL, 0); /* other rows: not the held x */
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = x0[i];
                mm_xwt(c, want[3], n, x, k, m - 1, k, v, n, NULL, 0);
                for (int i = 0; i < 4; i++) {
                    if (i == 3) /* read x as it was: the negation, so the product is the negative (0 - v:
                                 * a sum that cancels to +0 either way stays +0, where -v gave -0) */
                        for (size_t q = 0; q < (size_t)(m - 1) * n; q++) got[3][q] = 0.0f - got[3][q];
                    size_t cmp = i == 3 ? (size_t)(m - 1) * n * sizeof(float) : yb;
                    if (memcmp(got[i], want[i], cmp))
                        fail_msg("%s %s%s m %d k %d n %d, %d threads: product %d of the held x differs",
                                 mm_kernel_name(c), rlv_dtype_name(dts[di]), rep ? " repacked" : "", m, k, n, threads, i);
                }
                /* narrow n on tall x (200 rows: past 3 threads x 4 x 14) splits rows: x as it is, negated again */
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = -x[i];
                memcpy(got[0], y0, yb), memcpy(want[0], y0, yb);
                mm_xwt(c, got[0], n, x, k, m, k, v, 8, NULL, 0);
                mm_release_x(c);
                mm_xwt(c, got[1], n, x, k, m, k, v, n, NULL, 0);
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = x0[i];
                mm_xwt(c, want[0], n, x, k, m, k, v, 8, NULL, 0);
                mm_xwt(c, want[1], n, x, k, m, k, v, n, NULL, 0);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++) {
                        size_t q = (size_t)i * n + j;
                        if ((j < 8 && m >= 200 && got[0][q] != -want[0][q]) || got[1][q] != -want[1][q])
                            fail_msg("%s %s m %d k %d n %d: y[%d][%d] read a stale held x", mm_kernel_name(c),
                                     rlv_dtype_name(dts[di]), m, k, n, i, j);
                    }
                (*cases)++;
            done:
                for (int i = 0; i < 4; i++) free(want[i]), free(got[i]);
                free(x), free(x0), free(bias), free(y0);
                free_wpair(&wp);
            }
}

/* mm_reserve_pack: a product of an x not held, packed whole for it on the pool, its columns'
 * tails handed out in pieces (mm.c: mm_run), gives the very floats of each thread packing x for
 * its own fixed share: x.W^T with bias and with accumulate, x.W, weights as stored, repacked and
 * q8, tails of one and of several pieces (n 3000: 47 panels a thread on AVX-512, a tail of 6), a
 * width that is not whole panels, rows past a row block and depth past a depth block. The other
 * side: a second context of the same kernel on the same pool, never given room (as for an x
 * larger than the room). 1-3 threads, every kernel level. */
static void packed_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const rlv_dtype dts[] = {RLV_F32, RLV_BF16, RLV_I8};
    static const int shapes[][3] = {{20, 64, 3000}, {300, 544, 1000}, {7, 1056, 300}};
    int *cases = arg;
    rlv_err e = {0};
    mm_ctx *own = level_ctx(lv, mm_ctx_pool(c)); /* each thread packs x for its own share */
    mm_ctx_set_widen(own, mm_ctx_widen(c));
    assert_string_equal(mm_kernel_name(own), mm_kernel_name(c));
    for (size_t di = 0; di < sizeof dts / sizeof *dts; di++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int rep = 0; rep <= 1; rep++) {
                int m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
                size_t yb = (size_t)m * n * sizeof(float);
                wpair wp = make_wpair(lv, dts[di], n, k, rep);
                mm_w v = wp.v, vn = wp.vn;
                float *x = malloc((size_t)m * k * sizeof(float)), *bias = malloc((size_t)n * sizeof(float)), *y[2][3];
                for (size_t i = 0; i < (size_t)m * k; i++) x[i] = rndf();
                for (int i = 0; i < n; i++) bias[i] = rndf();
                size_t before = mm_ctx_bytes(c);
                assert_int_equal(mm_reserve_pack(c, m, k, &e), RLV_OK);
                assert_true(mm_ctx_bytes(c) >= before);
                /* a: 0 on own, 1 on c, x packed whole */
                for (int a = 0; a < 2; a++) {
                    mm_ctx *on = a ? c : own;
                    for (int b = 0; b < 3; b++) {
                        y[a][b] = malloc(yb);
                        for (size_t i = 0; i < (size_t)m * n; i++) y[a][b][i] = (float)i * 0x1p-20f;
                    }
                    mm_xwt(on, y[a][0], n, x, k, m, k, v, n, bias, 0);
                    mm_xwt(on, y[a][1], n, x, k, m, k, v, n, NULL, 1);
                    mm_xw(on, y[a][2], n, x, k, m, k, vn, n, 1);
                }
                for (int b = 0; b < 3; b++)
                    if (memcmp(y[0][b], y[1][b], yb))
                        fail_msg("%s %s%s m %d k %d n %d, %d threads: product %d differs with x packed whole",
                                 mm_kernel_name(c), rlv_dtype_name(dts[di]), rep ? " repacked" : "", m, k, n, threads, b);
                (*cases)++;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 3; b++) free(y[a][b]);
                free(x), free(bias);
                free_wpair(&wp);
            }
    mm_ctx_free(&own);
}

static void test_packed(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(1, 3, packed_cases, &cases);
    print_message("mm packed x: %d weights, products of x packed whole equal to each thread packing its own\n", cases);
}

/* bf16 weights widened once per row block (mm_ctx_set_widen 1) give the very bits of the tiles
 * that widen as they load (0): as stored and repacked, x.W^T and y += x.W^T, one and several row
 * blocks (300 rows: two on both kernels), one and several depth blocks (k 1100), whole and partial
 * panels, 1-3 threads. */
static void widen_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const int shapes[][3] = {{20, 576, 70}, {300, 200, 257}, {256, 1100, 96}, {5, 64, 33}};
    int *cases = arg;
    if (!lv->widen || !mm_ctx_widen(c)) return;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int rep = 0; rep <= 1; rep++) {
            int m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
            size_t yb = (size_t)m * n * sizeof(float);
            wbuf w = make_w(RLV_BF16, (size_t)n * k, (size_t)k);
            mm_w v = mm_w_plain(w.p, RLV_BF16, k);
            mm_repack *rp = rep ? repack_view(lv, &v, n, k) : NULL;
            if (rep) assert_true(v.bf16p != 0);
            float *x = malloc((size_t)m * k * sizeof(float)), *y[2][2];
            for (size_t i = 0; i < (size_t)m * k; i++) x[i] = rndf();
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) {
                    y[a][b] = malloc(yb);
                    for (size_t i = 0; i < (size_t)m * n; i++) y[a][b][i] = (float)i * 0x1p-20f;
                }
            for (int on = 0; on <= 1; on++) {
                mm_ctx_set_widen(c, on);
                mm_xwt(c, y[on][0], n, x, k, m, k, v, n, NULL, 0);
                mm_xwt(c, y[on][1], n, x, k, m, k, v, n, NULL, 1);
            }
            for (int b = 0; b < 2; b++)
                if (memcmp(y[0][b], y[1][b], yb))
                    fail_msg("%s bf16%s m %d k %d n %d, %d threads: %s differs widened once per row block",
                             mm_kernel_name(c), rep ? " repacked" : "", m, k, n, threads, b ? "y += x.W^T" : "x.W^T");
            (*cases)++;
            for (int a = 0; a < 2; a++)
                for (int b = 0; b < 2; b++) free(y[a][b]);
            free(x), free(w.p), free(w.f), free(w.s);
            mm_repack_free(&rp);
        }
    mm_ctx_set_widen(c, 1);
}

/* x.W^T's bias, added by the tiles of the last depth block as they store y (mm.c), gives the very
 * bits of the product without it followed by a pass adding bias[j] to every row (what mm.c did
 * before): y = x.W^T + bias and y += x.W^T + bias, weights as stored, repacked and q8, one and
 * two depth blocks (k 608), rows of the gemv (3) and past a row block (300), whole and partial
 * panels (n 96; 130 and 257: 2- and 1-column tails), columns split and rows split (narrow n, tall m),
 * the empty sum (k 0, f32), 1-3 threads, every kernel level. */
static void bias_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const rlv_dtype dts[] = {RLV_F32, RLV_BF16, RLV_I8};
    static const int shapes[][3] = {{3, 608, 257}, {20, 576, 96}, {300, 608, 130}, {700, 64, 40}, {5, 0, 33}};
    int *cases = arg;
    (void)threads;
    for (size_t di = 0; di < sizeof dts / sizeof *dts; di++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
            for (int rep = 0; rep <= 1; rep++) {
                int m = shapes[si][0], k = shapes[si][1], n = shapes[si][2];
                if (k == 0 && (rep || dts[di] != RLV_F32)) continue; /* q8 rows are whole blocks */
                size_t yb = (size_t)m * n * sizeof(float);
                wpair wp = make_wpair(lv, dts[di], n, k > 0 ? k : 1, rep);
                float *x = malloc((size_t)m * (k > 0 ? k : 1) * sizeof(float)), *bias = malloc((size_t)n * sizeof(float));
                float *got = malloc(yb), *want = malloc(yb);
                for (size_t i = 0; i < (size_t)m * (k > 0 ? k : 1); i++) x[i] = rndf();
                for (int j = 0; j < n; j++) bias[j] = rndf() * 4.0f;
                for (int acc = 0; acc <= 1; acc++) {
                    for (size_t i = 0; i < (size_t)m * n; i++) got[i] = want[i] = (float)i * 0x1p-20f;
                    mm_xwt(c, got, n, x, k, m, k, wp.v, n, bias, acc);
                    mm_xwt(c, want, n, x, k, m, k, wp.v, n, NULL, acc);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) want[(size_t)i * n + j] += bias[j];
                    if (memcmp(got, want, yb))
                        fail_msg("%s%s %s%s m %d k %d n %d, %d threads: %s with bias differs from adding it after",
                                 mm_kernel_name(c), lv->widen ? " widen" : "", rlv_dtype_name(dts[di]),
                                 rep ? " repacked" : "", m, k, n, threads, acc ? "y += x.W^T" : "x.W^T");
                    (*cases)++;
                }
                free(x), free(bias), free(got), free(want);
                free_wpair(&wp);
            }
}

static void test_bias(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(1, 3, bias_cases, &cases);
    print_message("mm bias: %d products with bias equal to adding it after\n", cases);
}

static void test_widen(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(1, 3, widen_cases, &cases);
    if (!cases) { /* no AVX2: the generic kernel has no panels to widen */
        print_message("mm widen: no AVX kernel on this CPU\n");
        skip();
    }
    print_message("mm widen: %d products with the same bits widened in the tiles and once per row block\n", cases);
}

static void test_held(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(2, 3, held_cases, &cases);
    print_message("mm held x: %d weights, products of the held x equal to the same packing x themselves\n", cases);
}

/* The bf16 panels the AVX-512 and AVX2 tiles read in place, as repacking lays them (mm_kern.bf16p_pack):
 * every element lands where mm_kern.h's layout puts it — through the transpose's 16-k (8-k) steps, the
 * AVX-512 staging's chunks of 256 k (600: two whole, one of 80, a tail of 8) and the tail after them,
 * in whole panels and in a last panel of 27 rows whose rest is zero — and products of the copy are
 * the bits of the weights as stored. */
static void bf16_panels_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const int ks[] = {2, 30, 48, 102, 600, 4096};
    int *cases = arg;
    rlv_err e = {0};
    (void)threads;
    int lay = !strcmp(mm_kernel_name(c), "avx512") || !strcmp(mm_kernel_name(c), "avx2") ? MM_BF16P_SPLIT
              : !strcmp(mm_kernel_name(c), "avx512bf16")                                ? MM_BF16P_PAIRS
                                                                                         : 0;
    for (size_t ki = 0; lay && ki < sizeof ks / sizeof *ks; ki++)
        for (int part = 0; part < 2; part++) {
            mm_repack *rp = level_repacker(lv);
            int P = mm_repack_panel(rp), n = part ? 2 * P - 5 : 2 * P, k = ks[ki], m = 17;
            wbuf w = make_w(RLV_BF16, (size_t)n * k, (size_t)k);
            const uint16_t *wb = w.p;
            mm_w rep = mm_w_plain(w.p, RLV_BF16, k);
            assert_int_equal(mm_repack_view(rp, &rep, n, k, &e), RLV_OK);
            assert_int_equal(rep.bf16p, lay);
            const uint16_t *d = rep.p;
            for (int j = 0; j < 2 * P; j++)
                for (int q = 0; q < k; q++) {
                    size_t pi = (size_t)j / P, jj = (size_t)j % P, at;
                    if (lay == MM_BF16P_SPLIT) at = (size_t)q * P + (jj < (size_t)P / 2 ? 2 * jj : 2 * (jj - P / 2) + 1);
                    else at = (size_t)q / 2 * 2 * P + 2 * jj + (size_t)q % 2;
                    uint16_t want = j < n ? wb[(size_t)j * k + q] : 0;
                    if (d[pi * (size_t)k * P + at] != want)
                        fail_msg("%s: n %d k %d: W[%d][%d] misplaced in its panel", mm_kernel_name(c), n, k, j, q);
                }
            float *x = malloc((size_t)m * k * sizeof(float)), *y1 = malloc((size_t)m * n * sizeof(float)),
                  *y2 = malloc((size_t)m * n * sizeof(float));
            for (size_t i = 0; i < (size_t)m * k; i++) x[i] = rndf();
            mm_xwt(c, y1, n, x, k, m, k, rep, n, NULL, 0);
            mm_xwt(c, y2, n, x, k, m, k, mm_w_plain(w.p, RLV_BF16, k), n, NULL, 0);
            if (memcmp(y1, y2, (size_t)m * n * sizeof(float)))
                fail_msg("%s: n %d k %d: the panels give other bits", mm_kernel_name(c), n, k);
            free(x), free(y1), free(y2), free(w.p), free(w.f), free(w.s);
            mm_repack_free(&rp);
            (*cases)++;
        }
}

static void test_bf16_panels(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(2, 2, bf16_panels_cases, &cases);
    print_message("mm bf16 panels: %d weights laid where the in-place tiles read them\n", cases);
    if (cpu_features() & CPU_AVX512) assert_true(cases >= 10);
}

/* mm_repack_limit: a weight whose copy would pass the limit stays as stored (its view untouched),
 * a later smaller one that fits is still repacked, and the copies never pass the limit. */
static void test_repack_limit(void **st) {
    (void)st;
    rlv_err e = {0};
    mm_repack *rp = NULL;
    assert_int_equal(mm_repack_init(&rp, MM_COMPUTE_F32, &e), RLV_OK);
    int P = mm_repack_panel(rp);
    if (!P) { /* generic: nothing is repacked on this CPU */
        mm_repack_free(&rp);
        skip();
    }
    enum { K = 64 };
    int n[3] = {2 * P, 3 * P, P};
    size_t bytes[3];
    wbuf w[3];
    mm_w v[3];
    for (int i = 0; i < 3; i++) {
        w[i] = make_w(RLV_BF16, (size_t)n[i] * K, K);
        v[i] = mm_w_plain(w[i].p, RLV_BF16, K);
        bytes[i] = (size_t)n[i] * K * 2;
    }
    mm_repack_limit(rp, bytes[0] + bytes[2]);
    for (int i = 0; i < 3; i++) assert_int_equal(mm_repack_view(rp, &v[i], n[i], K, &e), RLV_OK);
    assert_int_equal(v[0].panel, P);
    assert_int_equal(v[1].panel, 0);
    assert_ptr_equal(v[1].p, w[1].p);
    assert_int_equal(v[2].panel, P);
    assert_int_equal(mm_repack_bytes(rp), bytes[0] + bytes[2]);
    mm_repack_free(&rp);
    for (int i = 0; i < 3; i++) free(w[i].p), free(w[i].f), free(w[i].s);
}

/* Our kernels compute a row of a product the same whatever else is in the batch: any rows of x
 * alone give the bits they get among 130 rows (the gemv path at <= 4 rows rounds as the tiles;
 * a tall batch on a narrow weight splits its rows over the threads) — so the decoder may run a
 * prefix with its candidates or apart (llm_prefix_score), and the prefix cache may hold it, with
 * the same log-probs. Every dtype, depth across a KC block and off 16, accumulate, 2 threads,
 * every kernel but OpenBLAS's, which promises no such thing. */
static void rows_cases(mm_ctx *c, const level *lv, int threads, void *arg) {
    static const rlv_dtype dts[] = {RLV_F32, RLV_BF16, RLV_F16, RLV_I8};
    /* past the gemv's 4 rows, 6, 18 and 19 rows end on tiles of 6, 4 and 5 rows: the AVX-512 kernels'
     * short instances (4 and 7 rows), against the same rows in full 14-row tiles of the batch; 1, 2,
     * 3, 4 and 19 rows run the AVX2 kernel's (2 and 4 rows of its 6) */
    static const int subs[][2] = {{0, 1}, {7, 9}, {20, 23}, {60, 64}, {100, 114}, {3, 45}, {40, 46}, {70, 88}, {50, 69}};
    enum { M = 130, N = 20 }; /* M past 2 threads x 4 x 14 rows: the rows are split over the threads */
    int *cases = arg;
    (void)lv;
    if (!strcmp(mm_kernel_name(c), "generic")) return;
    for (size_t di = 0; di < sizeof dts / sizeof *dts; di++)
        for (int acc = 0; acc <= 1; acc++) {
            int K = dts[di] == RLV_I8 ? 576 : 600; /* past one KC block (512), off 16; q8: whole blocks of 32 */
            wbuf w = make_w(dts[di], (size_t)N * K, (size_t)K);
            mm_w v = mm_w_plain(w.p, dts[di], K);
            if (dts[di] == RLV_I8) v.scale = w.s, v.block = g_block;
            float *x = malloc((size_t)M * K * sizeof(float)), *y0 = malloc((size_t)M * N * sizeof(float));
            float *all = malloc((size_t)M * N * sizeof(float)), *part = malloc((size_t)M * N * sizeof(float));
            for (size_t i = 0; i < (size_t)M * K; i++) x[i] = rndf();
            for (size_t i = 0; i < (size_t)M * N; i++) y0[i] = rndf();
            memcpy(all, y0, (size_t)M * N * sizeof(float));
            mm_xwt(c, all, N, x, K, M, K, v, N, NULL, acc);
            for (size_t si = 0; si < sizeof subs / sizeof *subs; si++) {
                int r0 = subs[si][0], r1 = subs[si][1];
                memcpy(part, y0, (size_t)M * N * sizeof(float));
                mm_xwt(c, part + (size_t)r0 * N, N, x + (size_t)r0 * K, K, r1 - r0, K, v, N, NULL, acc);
                if (memcmp(part + (size_t)r0 * N, all + (size_t)r0 * N, (size_t)(r1 - r0) * N * sizeof(float)))
                    fail_msg("%s %s acc %d, %d threads: rows [%d, %d) alone differ from the same rows among %d",
                             mm_kernel_name(c), rlv_dtype_name(dts[di]), acc, threads, r0, r1, M);
                (*cases)++;
            }
            free(w.p), free(w.f), free(w.s), free(x), free(y0), free(all), free(part);
        }
}

static void test_rows(void **st) {
    (void)st;
    int cases = 0;
    each_ctx(2, 2, rows_cases, &cases);
    print_message("mm rows: %d row ranges computed alone equal to the same rows in a batch\n", cases);
}

static void test_one_thread(void **s) { (void)s; run_all(1); }
static void test_two_threads(void **s) { (void)s; run_all(2); }
static void test_three_threads(void **s) { (void)s; run_all(3); }

/* A bad compute mode is refused; RLV_CPU (read once per process) is honoured by the default
 * context: the ctest variants run this binary under RLV_CPU=generic, avx2 and avx512. */
static void test_default_kernel(void **s) {
    (void)s;
    mm_ctx *c = NULL;
    rlv_err e = {0};
    assert_int_equal(mm_ctx_init(&c, NULL, (mm_compute)7, &e), RLV_EINVAL);
    assert_null(c);
    assert_int_equal(mm_ctx_init(&c, NULL, MM_COMPUTE_F32, &e), RLV_OK);
    const char *env = getenv("RLV_CPU");
    unsigned f = cpu_features();
    print_message("mm: RLV_CPU=%s, kernel %s\n", env ? env : "(unset)", mm_kernel_name(c));
    if (env && !strcmp(env, "generic")) assert_string_equal(mm_kernel_name(c), "generic");
    if (env && !strcmp(env, "avx2")) assert_true(!(f & CPU_AVX512));
    assert_string_equal(mm_kernel_name(c), f & CPU_AVX512 ? "avx512" : f & CPU_AVX2 ? "avx2" : "generic");
    mm_ctx_free(&c);
}

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

/* "test_mm default": only the RLV_CPU check (the ctest variants under RLV_CPU=...). */
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "default")) {
        const struct CMUnitTest one[] = {cmocka_unit_test(test_default_kernel)};
        return cmocka_run_group_tests(one, NULL, NULL);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool), cmocka_unit_test(test_default_kernel), cmocka_unit_test(test_one_thread),
        cmocka_unit_test(test_two_threads), cmocka_unit_test(test_three_threads), cmocka_unit_test(test_q8_exact), cmocka_unit_test(test_repacked), cmocka_unit_test(test_bf16_panels), cmocka_unit_test(test_repack_limit), cmocka_unit_test(test_held), cmocka_unit_test(test_packed),
        cmocka_unit_test(test_widen), cmocka_unit_test(test_bias), cmocka_unit_test(test_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
