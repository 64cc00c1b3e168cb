/* test_q8.c — the q8 format (docs/quantization.md): the reference quantiser's arithmetic, ckpt_q8
 * on converted checkpoints (every weight valid, dequantised within half a step of the original),
 * every bad q8 file refused by ckpt_q8 / manifest_check with its own named error, and
 * ckpt_share_identical serving a q8 weight and its scale from the other checkpoint. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ckpt.h"
#include "model_config.h"
#include "half.h"
#include "manifest.h"
#include "q8.h"

#define CKPT RLV_TEST_DATA "/ckpt"
#define Q8 RLV_TEST_DATA "/q8"

static void test_f32_to_f16(void **s) {
    (void)s;
    const struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff},
        {65519.99f, 0x7bff}, {65520.0f, 0x7c00}, {INFINITY, 0x7c00}, {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001},
        {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001}, {0x1.8p-24f, 0x0002}, /* ties to even */
        {1.0f + 0x1p-11f, 0x3c00}, {1.0f + 0x3p-11f, 0x3c02}, {0x1.ff8p-15f, 0x03ff}, {0x1.ffcp-15f, 0x0400},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (half_f32_to_f16(cases[i].f) != cases[i].h)
            fail_msg("%a -> %04x, want %04x", (double)cases[i].f, half_f32_to_f16(cases[i].f), cases[i].h);
        if (!isinf(cases[i].f) && cases[i].h != 0x7c00) /* round trip of an f16 value is exact */
            assert_int_equal(half_f32_to_f16(half_f16_to_f32(cases[i].h)), cases[i].h);
    }
    assert_int_equal(half_f32_to_f16(NAN) & 0x7e00, 0x7e00);
}

static void test_quantize_rows(void **s) {
    (void)s;
    enum { R = 5, C = 96, B = 32, NB = C / B };
    float w[R * C], d[R * C];
    int8_t q[R * C];
    uint16_t sc[R * NB];
    srand(7);
    for (int i = 0; i < R * C; i++) w[i] = ((float)rand() / RAND_MAX - 0.5f) * (i % 7 == 0 ? 40.0f : 1.0f);
    for (int i = 0; i < B; i++) w[2 * C + B + i] = 0.0f; /* row 2, block 1: zeros */
    w[3 * C + 5] = 1e-30f;                              /* a block whose scale underflows f16 */
    for (int i = 0; i < B; i++) w[3 * C + i] = i == 5 ? 1e-30f : 0.0f;
    assert_int_equal(q8_quantize_rows(q, sc, w, R, C, B, NULL), 0);
    assert_int_equal(sc[2 * NB + 1], 0);
    assert_int_equal(sc[3 * NB + 0], 0);
    q8_dequantize_rows(d, q, sc, R, C, B);
    for (int r = 0; r < R; r++)
        for (int b = 0; b < NB; b++) {
            float step = half_f16_to_f32(sc[r * NB + b]), amax = 0.0f;
            for (int i = 0; i < B; i++) amax = fmaxf(amax, fabsf(w[r * C + b * B + i]));
            if (amax > 1e-20f) assert_true(fabsf(step - amax / 127.0f) <= 0x1p-11f * amax / 127.0f);
            for (int i = 0; i < B; i++) {
                int k = r * C + b * B + i;
                assert_true(q[k] >= -127 && q[k] <= 127);
                assert_true(fabsf(d[k] - w[k]) <= 0.5f * step * (1.0f + 0x1p-10f) + 1e-30f);
                assert_true(d[k] == (float)q[k] * step);
            }
        }
    int64_t bad = -1;
    w[4 * C + 17] = NAN;
    assert_int_equal(q8_quantize_rows(q, sc, w, R, C, B, &bad), -1);
    assert_int_equal(bad, 4 * C + 17);
    w[4 * C + 17] = 1e10f; /* scale 7.9e7 > f16 max */
    assert_int_equal(q8_quantize_rows(q, sc, w, R, C, B, &bad), -1);
    assert_int_equal(bad, 4 * C);
}

static void open_dir(ckpt **c, rlv_model_config *cfg, const char *dir) {
    char p[512];
    rlv_err e = {0};
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (model_config_load(cfg, p, &e) || ckpt_open(c, dir, &e)) fail_msg("%s: %s", dir, e.msg);
}

/* Every I8 weight of the converted checkpoints is valid and within half a step of the original. */
static void test_converted(void **s) {
    (void)s;
    const char *dirs[][2] = {{"single", "single"}, {"sharded", "sharded"}, {"f32", "f32"}, {"f16", "f16"},
                             {"single", "block16"}};
    for (size_t k = 0; k < sizeof dirs / sizeof *dirs; k++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/%s", CKPT, dirs[k][0]);
        snprintf(b, sizeof b, "%s/%s", Q8, dirs[k][1]);
        ckpt *orig = NULL, *c = NULL;
        rlv_model_config cfg;
        rlv_err e = {0};
        open_dir(&orig, &cfg, a);
        open_dir(&c, &cfg, b);
        manifest_report r;
        if (manifest_check(&cfg, c, NULL, NULL, &r, &e)) fail_msg("%s: %s", b, e.msg);
        assert_int_equal(r.q8, 28);
        int n = 0;
        for (int i = 0; i < ckpt_n_tensors(c); i++) {
            const rlv_tensor *t = ckpt_tensor(c, i), *sc = NULL, *o = ckpt_find(orig, t->name);
            int block = 0;
            if (t->dtype != RLV_I8) {
                if (o) assert_memory_equal(t->data, o->data, t->nbytes); /* kept as stored */
                continue;
            }
            if (ckpt_q8(c, t, &sc, &block, &e)) fail_msg("%s: %s", b, e.msg);
            assert_int_equal(block, k == 4 ? 16 : 32);
            assert_int_equal(sc->shape[1] * block, t->shape[1]);
            int64_t cols = t->shape[1], rows = t->shape[0] < 4 ? t->shape[0] : 4; /* the first rows */
            float *w = malloc(sizeof(float) * (size_t)(rows * cols)), *d = malloc(sizeof(float) * (size_t)(rows * cols));
            half_to_f32_n(w, o->data, o->dtype, (size_t)(rows * cols));
            q8_dequantize_rows(d, t->data, sc->data, rows, cols, block);
            for (int64_t j = 0; j < rows * cols; j++) {
                float step = half_f16_to_f32(((const uint16_t *)sc->data)[j / block]);
                if (fabsf(d[j] - w[j]) > 0.5f * step * (1.0f + 0x1p-10f)) fail_msg("%s: '%s'[%lld]", b, t->name, (long long)j);
            }
            free(w);
            free(d);
            n++;
        }
        assert_int_equal(n, 28);
        assert_int_equal(ckpt_q8(c, ckpt_find(c, "model.norm.weight"), NULL, NULL, &e), RLV_EINVAL);
        ckpt_free(&c);
        ckpt_free(&orig);
    }
}

/* Each bad file: ckpt_open succeeds (so inspect can list every fault), ckpt_q8 names the fault,
 * manifest_check (what every model load runs) refuses with the named code. */
static void test_bad(void **s) {
    (void)s;
    const char *up = "model.layers.0.mlp.up_proj.weight";
    const struct { const char *dir; int code; const char *msg; int q8_code; } cases[] = {
        {"scale_shape", RLV_EQ8, "has shape [512, 7], expected [512, 8] (block 32)", RLV_EQ8},
        {"block_divide", RLV_EQ8, "block size 24 does not divide its rows of 256", RLV_EQ8},
        {"nan_scale", RLV_EQ8, "'[0][5] = nan; scales must be finite and >= 0", RLV_EQ8},
        {"neg_scale", RLV_EQ8, "'[0][5] = -1; scales must be finite and >= 0", RLV_EQ8},
        {"missing_scale", RLV_EQ8, "has no scale tensor 'model.layers.0.mlp.up_proj.weight_scale'", RLV_EQ8},
        {"scale_dtype", RLV_EQ8, "is F32; q8 scales are F16", RLV_EQ8},
        {"no_block", RLV_EQ8, "declares no q8 block size", RLV_EQ8},
        {"stray_scale", RLV_EQ8, "stray scale tensor 'model.norm.weight_scale'", RLV_OK},
        {"i8_norm", RLV_EDTYPE, "'model.layers.0.input_layernorm.weight' is I8", RLV_OK},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/bad/%s", Q8, cases[k].dir);
        ckpt *c = NULL;
        rlv_model_config cfg;
        rlv_err e = {0};
        open_dir(&c, &cfg, p);
        const rlv_tensor *t = ckpt_find(c, up);
        int rc = ckpt_q8(c, t, NULL, NULL, &e);
        if (rc != cases[k].q8_code) fail_msg("%s: ckpt_q8 %d (%s), want %d", p, rc, e.msg, cases[k].q8_code);
        if (rc && !strstr(e.msg, cases[k].msg)) fail_msg("%s: ckpt_q8 says '%s'", p, e.msg);
        manifest_report r;
        rc = manifest_check(&cfg, c, NULL, NULL, &r, &e);
        if (rc != cases[k].code || !strstr(e.msg, cases[k].msg))
            fail_msg("%s: manifest_check %d '%s', want %d '%s'", p, rc, e.msg, cases[k].code, cases[k].msg);
        ckpt_free(&c);
    }
}

/* single and sharded hold the same q8 bytes: sharing serves both the I8 weight and its scale from
 * src, and ckpt_q8 keeps returning the (now shared) companion. */
static void test_share(void **s) {
    (void)s;
    ckpt *src = NULL, *c = NULL;
    rlv_model_config cfg;
    rlv_err e = {0};
    open_dir(&src, &cfg, Q8 "/single");
    open_dir(&c, &cfg, Q8 "/sharded");
    size_t shared = ckpt_share_identical(c, src);
    size_t all = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) all += ckpt_tensor(c, i)->nbytes;
    assert_int_equal(shared, all);
    int n = 0;
    for (int i = 0; i < ckpt_n_tensors(c); i++) {
        const rlv_tensor *t = ckpt_tensor(c, i), *sc, *ssc;
        if (t->dtype != RLV_I8) continue;
        const rlv_tensor *st = ckpt_find(src, t->name);
        assert_ptr_equal(t->data, st->data);
        assert_int_equal(ckpt_q8(c, t, &sc, NULL, &e), RLV_OK);
        assert_int_equal(ckpt_q8(src, st, &ssc, NULL, &e), RLV_OK);
        assert_ptr_equal(sc->data, ssc->data);
        n++;
    }
    assert_int_equal(n, 28);
    ckpt_free(&c);
    /* A bf16 checkpoint shares nothing with its q8 form. */
    open_dir(&c, &cfg, CKPT "/single");
    assert_int_equal(ckpt_share_identical(c, src) < 200000, 1); /* only the kept norms/biases/tables */
    ckpt_free(&c);
    ckpt_free(&src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32_to_f16), cmocka_unit_test(test_quantize_rows), cmocka_unit_test(test_converted),
        cmocka_unit_test(test_bad),        cmocka_unit_test(test_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
