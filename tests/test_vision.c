/* test_vision.c — the EVA ViT and the resampler against the float64 PyTorch reference
 * (tests/reference/ref_vision.py) on tiny random checkpoints with bf16 and f32 weights: ViT
 * features and the image embedding within 1e-4 relative, from the same normalised pixels and end to
 * end from a PNG; the two position-table kernels against docs/model.md §5's test vectors;
 * nn_attention against doubles and bitwise equal on pools of 1, 2 and 3 threads. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "test_util.h"
#include "ckpt.h"
#include "clock.h"
#include "model_config.h"
#include "image.h"
#include "llm.h"
#include "manifest.h"
#include "mm.h"
#include "pool.h"
#include "resampler.h"
#include "nn.h"
#include "vit.h"

/* Every product of these tests runs on this 2-thread pool. */
static rlv_pool *g_pool;
static mm_ctx *g_mm;

#define DATA RLV_TEST_DATA "/vision"

/* max |a - b| / max |b| */
static double rel_err(const float *a, const float *b, size_t n) {
    double md = 0, mb = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

static void check_dtype(const char *dt) {
    char dir[512], path[600];
    snprintf(dir, sizeof dir, DATA "/%s", dt);
    rlv_err e = {0};
    rlv_model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(model_config_load(&cfg, path, &e), RLV_OK);
    ckpt *c = NULL;
    int rc = ckpt_open(&c, dir, &e);
    if (rc) print_message("%s\n", e.msg);
    assert_int_equal(rc, RLV_OK);
    vit_model *vm = NULL;
    resampler_model *rm = NULL;
    vit_ws *vw = NULL;
    resampler_ws *rw = NULL;
    rc = vit_model_init(&vm, c, &cfg, &e);
    if (rc) print_message("%s\n", e.msg);
    assert_int_equal(rc, RLV_OK);
    assert_int_equal(resampler_model_init(&rm, c, &cfg, &e), RLV_OK);
    assert_int_equal(vit_ws_init(&vw, vm, g_mm, &e), RLV_OK);
    assert_int_equal(resampler_ws_init(&rw, rm, g_mm, &e), RLV_OK);
    assert_int_equal(vit_tokens(vm), cfg.vit_grid * cfg.vit_grid + 1);
    assert_int_equal(cfg.vit_grid, 8); /* 4 -> 8: both tables really resampled */
    assert_int_equal(cfg.vision.base_grid, 4);
    assert_int_equal(resampler_rows(rm), cfg.num_query);
    size_t nf = (size_t)(vit_tokens(vm) - 1) * vit_width(vm), ne = (size_t)cfg.num_query * cfg.hidden_size, n;
    float *feat = malloc(nf * sizeof(float)), *emb = malloc(ne * sizeof(float));
    float *px = slurp(DATA "/pixels.f32", &n);
    assert_non_null(px);
    assert_int_equal(n, 3 * sizeof(float) * cfg.image_size * cfg.image_size);
    vit_ws_set_deadline(vw, 1.0); /* max_job_ms: 1 ms after the monotonic clock's origin, long past */
    assert_int_equal(vit_forward(vm, vw, px, feat), RLV_ETIMEOUT);
    vit_ws_set_deadline(vw, 0);
    assert_int_equal(vit_forward(vm, vw, px, feat), RLV_OK);
    resampler_forward(rm, rw, feat, emb);

    snprintf(path, sizeof path, "%s/vit_%s.f32", dir, dt);
    float *ref = slurp(path, &n);
    assert_non_null(ref);
    assert_int_equal(n, nf * sizeof(float));
    double ev = rel_err(feat, ref, nf);
    free(ref);
    snprintf(path, sizeof path, "%s/emb_%s.f32", dir, dt);
    ref = slurp(path, &n);
    assert_int_equal(n, ne * sizeof(float));
    double ee = rel_err(emb, ref, ne);
    free(ref);

    /* end to end: PNG bytes -> pixels -> ViT -> resampler */
    uint8_t *png = slurp(DATA "/image.png", &n);
    assert_non_null(png);
    image_ws *iw = NULL;
    assert_int_equal(image_ws_init(&iw, 8192, cfg.image_size, &e), RLV_OK);
    assert_int_equal(image_to_pixels(iw, png, n, NULL, cfg.image_size, px, NULL, &e), RLV_OK);
    vit_forward(vm, vw, px, feat);
    resampler_forward(rm, rw, feat, emb);
    snprintf(path, sizeof path, "%s/png_emb_%s.f32", dir, dt);
    ref = slurp(path, &n);
    assert_int_equal(n, ne * sizeof(float));
    double ep = rel_err(emb, ref, ne);
    free(ref);
    print_message("%s weights: ViT features rel err %.2e, image embedding %.2e, from PNG %.2e (limit 1e-4)\n", dt, ev, ee, ep);
    assert_true(ev < 1e-4);
    assert_true(ee < 1e-4);
    assert_true(ep < 1e-4);

    /* end to end with the decoder: the C image embedding in the <im_patch> slots, per-token
     * log-probs of 3 candidates against the float64 model (omnilmm.py) */
    snprintf(path, sizeof path, "%s/e2e_%s.bin", dir, dt);
    int32_t *cs = slurp(path, &n);
    assert_non_null(cs);
    int P = cs[0], s0 = cs[1], nc = cs[2], tot = 0;
    const int32_t *ids = cs + 3 + nc, *cand[8];
    int lens[8], pos[1024];
    assert_true(nc <= 8 && cfg.num_query <= 1024);
    for (int i = 0; i < nc; i++) { lens[i] = cs[3 + i]; cand[i] = ids + P + tot; tot += lens[i]; }
    assert_int_equal(n, (size_t)(3 + nc + P + tot) * 4 + (size_t)tot * 8);
    double ref_lp[64]; /* the doubles follow int32s: copied out, they may be misaligned */
    assert_true(tot <= 64);
    memcpy(ref_lp, ids + P + tot, (size_t)tot * sizeof(double));
    for (int k = 0; k < cfg.num_query; k++) pos[k] = s0 + 1 + k;
    llm_model *lm = NULL;
    llm_ws *lw = NULL;
    llm_limits lim = {P, tot, nc};
    assert_int_equal(llm_model_init(&lm, c, &cfg, &e), RLV_OK);
    assert_int_equal(llm_ws_init(&lw, lm, &lim, g_mm, &e), RLV_OK);
    assert_int_equal(llm_prefix(lw, ids, P, emb, pos, cfg.num_query, &e), RLV_OK);
    double *lp = malloc((size_t)tot * sizeof *lp), md = 0;
    assert_int_equal(llm_score(lw, cand, lens, nc, lp, NULL, &e), RLV_OK);
    for (int i = 0; i < tot; i++) md = fabs(lp[i] - ref_lp[i]) > md ? fabs(lp[i] - ref_lp[i]) : md;
    print_message("%s weights: PNG -> image embedding -> decoder, %d candidate tokens: max |logp diff| %.2e (limit 1e-4)\n", dt, tot, md);
    assert_true(md < 1e-4);
    free(lp);
    free(cs);
    llm_ws_free(&lw);
    llm_model_free(&lm);

    free(png); free(px); free(feat); free(emb);
    image_ws_free(&iw);
    vit_ws_free(&vw);
    resampler_ws_free(&rw);
    vit_model_free(&vm);
    resampler_model_free(&rm);
    assert_null(vm);
    assert_null(rm);
    ckpt_free(&c);
}

static void test_bf16(void **s) { (void)s; check_dtype("bf16"); }
static void test_f32(void **s) { (void)s; check_dtype("f32"); }

/* Fidelity, end to end (issue 14): a real photo through our JPEG decode and through PIL's pixels of
 * the same file (written by ref_image.py) gives the same normalised tensor bit for bit, hence the
 * same candidates' log-probs under the tiny bf16 model: the difference is asserted to be 0, where
 * stb_image's decode moved a token log-prob by up to 1.4e-2. */
static void test_jpeg_effect(void **s) {
    (void)s;
    size_t nj, nr, n;
    uint8_t *jpg = slurp(RLV_TEST_DATA "/image/dec_photo_car_sheep.jpg", &nj);
    uint8_t *pil = slurp(RLV_TEST_DATA "/image/dec_photo_car_sheep.rgb", &nr);
    assert_non_null(jpg);  /* written by ref_image.py from tests/data/images/car_sheep.jpeg */
    assert_non_null(pil);
    const char *dir = DATA "/bf16";
    char path[600];
    rlv_err e = {0};
    rlv_model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(model_config_load(&cfg, path, &e), RLV_OK);
    ckpt *c = NULL;
    assert_int_equal(ckpt_open(&c, dir, &e), RLV_OK);
    vit_model *vm = NULL;
    resampler_model *rm = NULL;
    vit_ws *vw = NULL;
    resampler_ws *rw = NULL;
    image_ws *iw = NULL;
    llm_model *lm = NULL;
    llm_ws *lw = NULL;
    assert_int_equal(vit_model_init(&vm, c, &cfg, &e) | resampler_model_init(&rm, c, &cfg, &e) |
                     vit_ws_init(&vw, vm, g_mm, &e) | resampler_ws_init(&rw, rm, g_mm, &e) |
                     image_ws_init(&iw, 8192, cfg.image_size, &e) | llm_model_init(&lm, c, &cfg, &e), RLV_OK);
    snprintf(path, sizeof path, "%s/e2e_bf16.bin", dir);
    int32_t *cs = slurp(path, &n);
    assert_non_null(cs);
    int P = cs[0], s0 = cs[1], nc = cs[2], tot = 0, lens[8], pos[1024];
    const int32_t *ids = cs + 3 + nc, *cand[8];
    for (int i = 0; i < nc; i++) { lens[i] = cs[3 + i]; cand[i] = ids + P + tot; tot += lens[i]; }
    for (int k = 0; k < cfg.num_query; k++) pos[k] = s0 + 1 + k;
    llm_limits lim = {P, tot, nc};
    assert_int_equal(llm_ws_init(&lw, lm, &lim, g_mm, &e), RLV_OK);
    int S = cfg.image_size, w = *(int32_t *)pil, h = *(int32_t *)(pil + 4);
    size_t ne = (size_t)cfg.num_query * cfg.hidden_size, nf = (size_t)(vit_tokens(vm) - 1) * vit_width(vm);
    float *px = malloc((size_t)3 * S * S * sizeof(float)), *feat = malloc(nf * 4), *emb = malloc(ne * 4);
    uint8_t *rgb = malloc((size_t)S * S * 3);
    float *px_ours = malloc((size_t)3 * S * S * sizeof(float));
    double lp[2][64], sums[2][8];
    assert_true(tot <= 64);
    assert_int_equal(image_to_pixels(iw, jpg, nj, NULL, S, px_ours, NULL, &e), RLV_OK); /* our decode */
    assert_int_equal(image_resize(iw, pil + 8, w, h, rgb, S, S, &e), RLV_OK);            /* PIL's pixels */
    image_normalize(rgb, S, S, px);
    size_t bad = 0;
    for (size_t i = 0; i < (size_t)3 * S * S; i++) bad += memcmp(&px[i], &px_ours[i], sizeof(float)) != 0;
    assert_int_equal(bad, 0);
    for (int v = 0; v < 2; v++) {
        vit_forward(vm, vw, v == 0 ? px_ours : px, feat);
        resampler_forward(rm, rw, feat, emb);
        assert_int_equal(llm_prefix(lw, ids, P, emb, pos, cfg.num_query, &e), RLV_OK);
        assert_int_equal(llm_score(lw, cand, lens, nc, lp[v], sums[v], &e), RLV_OK);
    }
    double mt = 0, mm = 0;
    for (int i = 0; i < tot; i++) mt = fmax(mt, fabs(lp[0][i] - lp[1][i]));
    for (int i = 0; i < nc; i++) mm = fmax(mm, fabs(sums[0][i] - sums[1][i]) / lens[i]);
    print_message("JPEG decode effect (car_sheep.jpeg, tiny bf16 model): %zu of %d pixel values differ, "
                  "max |d token logp| %.2e, max |d mean logp| %.2e\n", bad, 3 * S * S, mt, mm);
    assert_true(mt == 0.0);
    assert_true(mm == 0.0);
    free(px_ours);
    free(px); free(feat); free(emb); free(rgb); free(cs); free(jpg); free(pil);
    llm_ws_free(&lw); llm_model_free(&lm); image_ws_free(&iw);
    vit_ws_free(&vw); resampler_ws_free(&rw); vit_model_free(&vm); resampler_model_free(&rm);
    ckpt_free(&c);
}

/* docs/model.md §5: column m of a one-hot table gives the interpolation weights of input m. */
static void test_kernels(void **s) {
    (void)s;
    enum { G = 16, O = 32 };
    static float tab[G * G * G];
    for (int iy = 0; iy < G; iy++)
        for (int ix = 0; ix < G; ix++)
            for (int c = 0; c < G; c++) tab[(iy * G + ix) * G + c] = c == ix ? 1.0f : 0.0f;
    rlv_tensor t = {.name = "onehot", .dtype = RLV_F32, .ndim = 2, .shape = {G * G, G}, .data = tab, .nbytes = sizeof tab};
    static float out[O * O * G];
    rlv_err e = {0};
#define W(ox, c) out[(size_t)(5 * O + (ox)) * G + (c)] /* any output row: a column depends on x only */
    assert_int_equal(nn_resample_table(&t, 0, G, O, 1, out, &e), RLV_OK);
    const double aa_even[4] = {-0.0234375, 0.2265625, 0.8671875, -0.0703125}; /* o = 2m on m-2 .. m+1 */
    const double aa_odd[4] = {-0.0703125, 0.8671875, 0.2265625, -0.0234375};  /* o = 2m+1 on m-1 .. m+2 */
    int m = 6;
    for (int k = 0; k < 4; k++) {
        assert_true(fabs(W(2 * m, m - 2 + k) - aa_even[k]) < 1e-7);
        assert_true(fabs(W(2 * m + 1, m - 1 + k) - aa_odd[k]) < 1e-7);
    }
    assert_true(fabs(W(0, 0) - 1.0882353) < 1e-7);
    assert_true(fabs(W(0, 1) + 0.0882353) < 1e-7);
    assert_true(fabs(W(0, 2)) < 1e-12);
    assert_int_equal(nn_resample_table(&t, 0, G, O, 0, out, &e), RLV_OK);
    const double pl_odd[4] = {-0.10546875, 0.87890625, 0.26171875, -0.03515625};
    const double pl_even[4] = {-0.03515625, 0.26171875, 0.87890625, -0.10546875};
    for (int k = 0; k < 4; k++) {
        assert_true(fabs(W(2 * m + 1, m - 1 + k) - pl_odd[k]) < 1e-7);
        assert_true(fabs(W(2 * m, m - 2 + k) - pl_even[k]) < 1e-7);
    }
    assert_true(fabs(W(0, 0) - 1.10546875) < 1e-7);
    assert_true(fabs(W(0, 1) + 0.10546875) < 1e-7);
#undef W
}

/* m = z[j] > m ? z[j] : m from m = z[0]: the rule nn_max keeps */
static float scalar_max(const float *z, int n) {
    float m = z[0];
    for (int j = 1; j < n; j++) m = z[j] > m ? z[j] : m;
    return m;
}

/* The element-wise helpers (nn_softmax_rows, nn_max, nn_exp_sum, nn_silu_mul, nn_sum, nn_sum_sq) against
 * double: rows whose spread passes the vector exp's +-87 range (the clamp that keeps libmvec on
 * its fast path), a length that leaves a scalar tail, probabilities flushed below NN_PROB_MIN,
 * and NaN, which must still come out (not be clamped or flushed away). The sums over lengths around the 8- and 16-lane steps and a 4096-wide row. */
static void test_elementwise(void **s) {
    (void)s;
    enum { N = 37 };
    float x[N], r[N], g[N], u[N];
    for (int j = 0; j < N; j++) x[j] = j % 3 == 0 ? -200.0f + j : 0.25f * j; /* spread ~210 */
    x[1] = x[34] = -50.0f; /* e^-59: a float, far below NN_PROB_MIN, in a vector lane and the tail */
    float mx = scalar_max(x, N);
    double sum = 0;
    for (int j = 0; j < N; j++) sum += exp((double)x[j] - mx);
    assert_true(fabs(nn_exp_sum(NULL, x, N, mx) - sum) <= 1e-6 * sum);
    assert_true(fabs(nn_exp_sum(r, x, N, mx) - sum) <= 1e-6 * sum);
    for (int j = 0; j < N; j++) assert_true(fabs(r[j] - exp((double)x[j] - mx)) <= 1e-6 * exp((double)x[j] - mx) + 1e-37);
    memcpy(r, x, sizeof r);
    nn_softmax_rows(r, 1, N, N);
    for (int j = 0; j < N; j++) assert_true(fabs(r[j] - exp((double)x[j] - mx) / sum) <= 1e-6);
    /* probabilities below NN_PROB_MIN are 0, the others not, in the vector lanes and the tail
     * (j = 34): subnormal operands of P.V take microcode assists on Intel (nn.h) */
    int zeros = 0;
    for (int j = 0; j < N; j++) {
        double want = exp((double)x[j] - mx) / sum;
        if (want < 0.5 * NN_PROB_MIN) assert_true(r[j] == 0.0f), zeros++;
        if (want > 2.0 * NN_PROB_MIN) assert_true(r[j] > 0.0f);
    }
    assert_true(zeros >= 10 && r[1] == 0.0f && r[34] == 0.0f);
    for (int j = 0; j < N; j++) g[j] = (j % 2 ? 1.0f : -1.0f) * (j < 8 ? 100.0f + j : 0.5f * j), u[j] = 1.0f + 0.01f * j;
    memcpy(r, g, sizeof r);
    nn_silu_mul(r, u, N);
    for (int j = 0; j < N; j++) {
        double want = g[j] / (1.0 + exp(-(double)g[j])) * u[j];
        assert_true(fabs(r[j] - want) <= 1e-6 * fabs(want) + 1e-30);
    }
    static float w[4100];
    for (int j = 0; j < 4100; j++) w[j] = (j % 5 == 0 ? 30.0f : 1.0f) * sinf(0.37f * j) + 2.0f;
    static const int lens[] = {0, 1, 7, 8, 15, 16, 17, 31, 37, 4096, 4100};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        int n = lens[li];
        double c = 1.75, s1 = 0, s2 = 0, a1 = 0, a2 = 0; /* a: sums of magnitudes, for the bound */
        for (int j = 0; j < n; j++) {
            double d = (double)w[j] - c;
            s1 += w[j], s2 += d * d, a1 += fabs(w[j]), a2 += d * d;
        }
        assert_true(fabs(nn_sum(w, n) - s1) <= 1e-15 * (n + 1) * a1);
        assert_true(fabs(nn_sum_sq(w, n, c) - s2) <= 1e-15 * (n + 1) * a2);
    }
    /* nn_max: the scalar rule's value whether the largest is in a lane, a later chain or the tail;
     * a NaN first comes out, a NaN later is passed over */
    static float z[4100];
    for (size_t li = 1; li < sizeof lens / sizeof *lens; li++) {
        int n = lens[li];
        for (int at = 0; at < 4; at++) {
            int p = at == 0 ? -1 : at == 1 ? 0 : at == 2 ? n / 2 + 3 : n - 1;
            if (p >= n) continue;
            memcpy(z, w, sizeof z);
            if (p >= 0) z[p] = 1000.0f + (float)at;
            assert_true(nn_max(z, n) == scalar_max(z, n));
            if (p >= 0) assert_true(nn_max(z, n) == 1000.0f + (float)at);
            z[n - 1] = NAN;
            assert_true(n == 1 ? isnan(nn_max(z, n)) : nn_max(z, n) == scalar_max(z, n));
            z[0] = NAN;
            assert_true(isnan(nn_max(z, n)));
        }
    }
    for (int at = 0; at < 2; at++) { /* a NaN in a vector lane (3) and in the scalar tail (N - 1) */
        int j = at ? N - 1 : 3;
        memcpy(r, x, sizeof r);
        r[j] = NAN;
        assert_true(isnan(nn_exp_sum(NULL, r, N, mx)));
        nn_softmax_rows(r, 1, N, N);
        assert_true(isnan(r[0]) && isnan(r[N - 2]));
        memcpy(r, g, sizeof r);
        r[j] = NAN;
        nn_silu_mul(r, u, N);
        assert_true(isnan(r[j]) && !isnan(r[j ? 0 : 1]));
        assert_true(isnan(nn_sum(r, N)) && isnan(nn_sum_sq(r, N, 1.0)));
    }
}

/* nn_attention (shared by the ViT and the resampler): 601 query rows (three items of 201 rows a
 * head, the last short) x 97 keys x 3 heads of 16, q/k/v interleaved in one [rows][3 x 48] matrix as the
 * ViT's qkv; within 1e-5 relative of a double computation, and the same bits on 1, 2, 3 threads
 * (its items are fixed whatever the thread count and each runs on one thread). */
static void test_attention_threads(void **s) {
    (void)s;
    enum { NQ = 601, NK = 97, HEADS = 3, HD = 16, D = HEADS * HD, LD = 3 * D };
    float *qkv = malloc((size_t)NQ * LD * sizeof(float)), *out[3], ref[NQ * D];
    unsigned r = 7;
    for (int i = 0; i < NQ * LD; i++) {
        r = r * 1664525u + 1013904223u;
        qkv[i] = (float)(r >> 8) / (1 << 24) * 4 - 2;
    }
    const float *q = qkv, *k = qkv + D, *v = qkv + 2 * D;  /* keys: the first NK rows */
    for (int h = 0; h < HEADS; h++)
        for (int i = 0; i < NQ; i++) {
            double sc[NK], mx = -INFINITY, sum = 0;
            for (int j = 0; j < NK; j++) {
                double d = 0;
                for (int t = 0; t < HD; t++) d += (double)q[i * LD + h * HD + t] * k[j * LD + h * HD + t];
                sc[j] = d / sqrt(HD);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j < NK; j++) sum += sc[j] = exp(sc[j] - mx);
            for (int t = 0; t < HD; t++) {
                double o = 0;
                for (int j = 0; j < NK; j++) o += sc[j] / sum * v[j * LD + h * HD + t];
                ref[i * D + h * HD + t] = (float)o;
            }
        }
    rlv_err e = {0};
    for (int nth = 1; nth <= 3; nth++) {
        rlv_pool *p = NULL;
        mm_ctx *mm = NULL;
        assert_int_equal(pool_init(&p, nth, &e), RLV_OK);
        assert_int_equal(mm_ctx_init(&mm, p, MM_COMPUTE_F32, &e), RLV_OK);
        float *sc = malloc((size_t)nth * nn_attention_floats(NK) * sizeof(float));
        out[nth - 1] = malloc((size_t)NQ * D * sizeof(float));
        nn_attention(mm, sc, out[nth - 1], D, q, LD, k, v, LD, NQ, NK, HEADS, HD, NULL);
        double err = rel_err(out[nth - 1], ref, (size_t)NQ * D);
        print_message("nn_attention, %d threads: max rel err %.3g\n", nth, err);
        assert_true(err <= 1e-5);
        if (nth > 1) assert_memory_equal(out[0], out[nth - 1], (size_t)NQ * D * sizeof(float));
        free(sc);
        mm_ctx_free(&mm);
        pool_free(&p);
    }
    for (int i = 0; i < 3; i++) free(out[i]);
    free(qkv);
}


/* Direct reads of the blocks (vit_model_stream), on a copy of the dtype's checkpoint: every block
 * matrix is read into the workspace's slots (the bytes a pass are the blocks' four matrices, none
 * fails), the features are the same bits as read from the mapping over two forwards and after
 * forwards stopped between blocks by deadlines; then block 1's fc2 is zeroed in the copy's file:
 * the mapping keeps the old bytes, a new workspace reads the new ones and its features change —
 * the products read the slots. */
static void stream_dtype(const char *dt) {
    char src[512], dir[512], path[600];
    snprintf(src, sizeof src, DATA "/%s", dt);
    snprintf(dir, sizeof dir, DATA "/stream_%s", dt);
    assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
    size_t n, nw;
    const char *files[] = {"config.json", "model.safetensors"};
    uint8_t *bytes = NULL;
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", src, files[i]);
        uint8_t *b = slurp(path, &n);
        assert_non_null(b);
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        assert_int_equal(replace_file(path, b, n), 0);
        if (i) bytes = b, nw = n;
        else free(b);
    }
    rlv_err e = {0};
    rlv_model_config cfg;
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(model_config_load(&cfg, path, &e), RLV_OK);
    ckpt *c = NULL;
    vit_model *vm = NULL;
    vit_ws *vw = NULL;
    assert_int_equal(ckpt_open(&c, dir, &e), RLV_OK);
    assert_int_equal(vit_model_init(&vm, c, &cfg, &e), RLV_OK);
    size_t nf = (size_t)(vit_tokens(vm) - 1) * vit_width(vm);
    float *a = malloc(nf * sizeof(float)), *b = malloc(nf * sizeof(float));
    float *px = slurp(DATA "/pixels.f32", &n);
    assert_non_null(px);
    assert_int_equal(vit_ws_init(&vw, vm, g_mm, &e), RLV_OK);
    assert_int_equal(vit_forward(vm, vw, px, a), RLV_OK);
    vit_ws_free(&vw);

    assert_int_equal(vit_model_stream(vm, c, &e), RLV_OK);
    size_t slot = 0, per_pass = vit_model_stream_bytes(vm, &slot), want = 0;
    const int mats[] = {MT_VIT_QKV, MT_VIT_PROJ_W, MT_VIT_FC1_W, MT_VIT_FC2_W};
    assert_true(vit_blocks(vm) >= 2);
    for (int j = 0; j < vit_blocks(vm); j++)
        for (int i = 0; i < 4; i++) {
            const rlv_tensor *t;
            assert_int_equal(manifest_want(&cfg, c, mats[i], j, &t, &e), RLV_OK);
            want += t->nbytes;
        }
    assert_int_equal(per_pass, want);
    assert_true(slot > 0 && slot < per_pass);
    assert_int_equal(vit_ws_init(&vw, vm, g_mm, &e), RLV_OK);
    for (int round = 0; round < 2; round++) {
        memset(b, 0, nf * sizeof(float));
        assert_int_equal(vit_forward(vm, vw, px, b), RLV_OK);
        assert_memory_equal(a, b, nf * sizeof(float));
    }
    /* deadlines spread over one forward's time: stops before some block (the stream aborts its
     * pass); the forward after each starts at block 0 with the same bits */
    double t0 = clock_now_ms();
    assert_int_equal(vit_forward(vm, vw, px, b), RLV_OK);
    double full = clock_now_ms() - t0;
    int stops = 0;
    for (int k = 1; k <= 12; k++) {
        vit_ws_set_deadline(vw, clock_now_ms() + full * k / 12.0);
        int rc = vit_forward(vm, vw, px, b);
        vit_ws_set_deadline(vw, 0);
        assert_true(rc == RLV_OK || rc == RLV_ETIMEOUT);
        stops += rc == RLV_ETIMEOUT;
        memset(b, 0, nf * sizeof(float));
        assert_int_equal(vit_forward(vm, vw, px, b), RLV_OK);
        assert_memory_equal(a, b, nf * sizeof(float));
    }
    vit_ws_free(&vw);
    /* the same file name, other bytes: only direct reads see them */
    const rlv_tensor *fc2;
    const char *file;
    uint64_t off;
    assert_int_equal(manifest_want(&cfg, c, MT_VIT_FC2_W, 1, &fc2, &e), RLV_OK);
    assert_int_equal(ckpt_locate(c, fc2->data, fc2->nbytes, &file, &off), RLV_OK);
    memset(bytes + off, 0, fc2->nbytes);
    assert_int_equal(replace_file(file, bytes, nw), 0);
    assert_int_equal(vit_ws_init(&vw, vm, g_mm, &e), RLV_OK);
    assert_int_equal(vit_forward(vm, vw, px, b), RLV_OK);
    assert_memory_not_equal(a, b, nf * sizeof(float));
    print_message("%s: read directly %zu bytes a forward (slot %zu), the same bits; %d forwards stopped by a "
                  "deadline, then the same bits; changed file seen\n", dt, per_pass, slot, stops);
    vit_ws_free(&vw);
    vit_model_free(&vm);
    ckpt_free(&c);
    free(a), free(b), free(px), free(bytes);
}

static void test_stream(void **s) {
    (void)s;
    stream_dtype("bf16");
    stream_dtype("f32");
}

/* A checkpoint without model.resampler.query (the foundation suite's missing_tensor/). */
static void test_missing_tensor(void **s) {
    (void)s;
    const char *dir = RLV_TEST_DATA "/ckpt/missing_tensor";
    rlv_err e = {0};
    rlv_model_config cfg;
    char path[600];
    snprintf(path, sizeof path, "%s/config.json", dir);
    assert_int_equal(model_config_load(&cfg, path, &e), RLV_OK);
    ckpt *c = NULL;
    if (ckpt_open(&c, dir, &e) != RLV_OK) { /* the loader may refuse it already: also a named error */
        assert_non_null(strstr(e.msg, "model."));
        return;
    }
    resampler_model *rm = NULL;
    assert_int_equal(resampler_model_init(&rm, c, &cfg, &e), RLV_EMISSING);
    assert_non_null(strstr(e.msg, "model.resampler.query"));
    assert_null(rm);
    ckpt_free(&c);
}

int main(void) {
    rlv_err e = {0};
    if (pool_init(&g_pool, 2, &e) || mm_ctx_init(&g_mm, g_pool, MM_COMPUTE_F32, &e)) {
        fprintf(stderr, "test_vision: %s\n", e.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_attention_threads),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_jpeg_effect),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mm_ctx_free(&g_mm);
    pool_free(&g_pool);
    return rc;
}
