/* test_st.c — safetensors loading: good checkpoints (single, sharded, f32, f16) and every
 * corruption case with its own named error, no crash (this test also runs under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ckpt.h"
#include "model_config.h"
#include "half.h"
#include "manifest.h"
#include "mm.h"

#define SUITE RLV_TEST_DATA "/ckpt"
#define N_TINY 67 /* tensors of the tiny test config: 1 + 2*9 + 1 + 4 + 2*13 + 2 + 14 + 1 */

static char tmpdir[256];

static int setup(void **s) {
    (void)s;
    snprintf(tmpdir, sizeof tmpdir, "%s/st_corrupt", RLV_TEST_DATA);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", tmpdir);
    return system(cmd);
}

static void test_open_good(void **s) {
    (void)s;
    const char *dirs[] = {"single", "sharded", "f32", "f16"};
    const int files[] = {1, 3, 1, 2};
    for (int i = 0; i < 4; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", SUITE, dirs[i]);
        ckpt *c = NULL;
        rlv_err e = {0};
        int rc = ckpt_open(&c, p, &e);
        if (rc) fail_msg("%s: %s", p, e.msg);
        assert_int_equal(ckpt_n_tensors(c), N_TINY);
        assert_int_equal(ckpt_n_files(c), files[i]);
        assert_string_equal(ckpt_format(c), "safetensors");
        const rlv_tensor *t = ckpt_find(c, "model.layers.1.mlp.down_proj.weight");
        assert_non_null(t);
        assert_int_equal(t->ndim, 2);
        assert_int_equal(t->shape[0], 256);
        assert_int_equal(t->shape[1], 512);
        assert_int_equal(t->dtype, i == 2 ? RLV_F32 : i == 3 ? RLV_F16 : RLV_BF16);
        assert_null(ckpt_find(c, "model.layers.9.mlp.down_proj.weight"));
        /* read-ahead of every tensor (whatever its alignment in the file) leaves the bytes as they are */
        uint64_t h0 = 0, h1 = 0;
        for (int k = 0; k < ckpt_n_tensors(c); k++) {
            const rlv_tensor *tk = ckpt_tensor(c, k);
            for (size_t b = 0; b < tk->nbytes; b += 61) h0 = h0 * 31 + ((const uint8_t *)tk->data)[b];
            ckpt_prefetch(tk);
            for (size_t b = 0; b < tk->nbytes; b += 61) h1 = h1 * 31 + ((const uint8_t *)tk->data)[b];
        }
        assert_true(h0 == h1);
        ckpt_prefetch(NULL);
        rlv_model_config cfg;
        snprintf(p, sizeof p, "%s/%s/config.json", SUITE, dirs[i]);
        assert_int_equal(model_config_load(&cfg, p, &e), RLV_OK);
        manifest_report r;
        assert_int_equal(manifest_check(&cfg, c, NULL, NULL, &r, &e), RLV_OK);
        assert_int_equal(r.expected, N_TINY);
        ckpt_free(&c);
        assert_null(c);
        ckpt_free(&c); /* harmless twice */
    }
}

/* Single and sharded hold the same weights: every tensor's bytes must be equal. */
static void test_sharded_equals_single(void **s) {
    (void)s;
    ckpt *a = NULL, *b = NULL, *f = NULL;
    rlv_err e = {0};
    assert_int_equal(ckpt_open(&a, SUITE "/single", &e), RLV_OK);
    assert_int_equal(ckpt_open(&b, SUITE "/sharded", &e), RLV_OK);
    assert_int_equal(ckpt_open(&f, SUITE "/f32", &e), RLV_OK);
    for (int i = 0; i < ckpt_n_tensors(a); i++) {
        const rlv_tensor *x = ckpt_tensor(a, i), *y = ckpt_find(b, x->name), *z = ckpt_find(f, x->name);
        assert_non_null(y);
        assert_int_equal(x->nbytes, y->nbytes);
        assert_memory_equal(x->data, y->data, x->nbytes);
        /* bf16 weights were rounded from the same f32 draw (same seed): within bf16 precision */
        assert_non_null(z);
        const uint16_t *h = x->data;
        const float *w = z->data;
        for (int64_t k = 0; k < rlv_tensor_numel(x); k += 97)
            assert_true(half_f32_to_bf16(w[k]) == h[k]);
    }
    ckpt_free(&a);
    ckpt_free(&b);
    ckpt_free(&f);
}

/* Writes a safetensors file: 8-byte length (or `len_override` if >= 0), header, data_len bytes. */
static const char *write_st(const char *name, const char *header, size_t data_len, long long len_override) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.safetensors", tmpdir, name);
    FILE *f = fopen(path, "wb");
    uint64_t n = len_override >= 0 ? (uint64_t)len_override : strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(n >> (8 * i));
    fwrite(le, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_len; i++) fputc((int)(i & 0xff), f);
    fclose(f);
    return path;
}

static void expect(const char *path, int code, const char *needle) {
    ckpt *c = NULL;
    rlv_err e = {0};
    int rc = ckpt_open(&c, path, &e);
    if (rc != code) fail_msg("%s: got %d (%s) '%s', want %d (%s)", path, rc, rlv_err_name(rc), e.msg, code,
                             rlv_err_name(code));
    assert_null(c);
    if (needle && !strstr(e.msg, needle)) fail_msg("%s: message '%s' lacks '%s'", path, e.msg, needle);
}

static void test_corrupt(void **s) {
    (void)s;
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                     "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}}";
    ckpt *c = NULL;
    rlv_err e = {0};
    assert_int_equal(ckpt_open(&c, write_st("ok", ok, 24, -1), &e), RLV_OK);
    assert_int_equal(ckpt_n_tensors(c), 2);
    ckpt_free(&c);
    /* numbers of any size where nothing reads them load */
    const char *big = "{\"__metadata__\":{\"n\":1000000000000000019884624838656},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"x\":[-1e30,"
                      "1000000000000000019884624838656]}}";
    if (ckpt_open(&c, write_st("big", big, 16, -1), &e)) fail_msg("%s", e.msg);
    assert_int_equal(ckpt_n_tensors(c), 1);
    assert_int_equal(ckpt_find(c, "a")->shape[1], 2);
    ckpt_free(&c);

    char shortp[512];
    snprintf(shortp, sizeof shortp, "%s/short.safetensors", tmpdir);
    FILE *f = fopen(shortp, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, f);
    fclose(f);
    expect(shortp, RLV_ETRUNCATED, "shorter than the 8-byte");
    expect(write_st("emptyhdr", "", 0, -1), RLV_EHEADER_JSON, "not valid JSON");
    expect(write_st("truncated", ok, 20, -1), RLV_ETRUNCATED, "truncated");
    expect(write_st("hdrlen", ok, 24, 1000000), RLV_EHEADER_LEN, "beyond the file");
    expect(write_st("notjson", "{\"a\": [1, 2", 24, -1), RLV_EHEADER_JSON, "not valid JSON");
    expect(write_st("notobj", "[1,2,3]", 0, -1), RLV_EHEADER_JSON, "not a JSON object");
    expect(write_st("dtype", "{\"a\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16, -1),
           RLV_EDTYPE, "dtype I64");
    expect(write_st("size", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,16]}}", 16, -1),
           RLV_ESIZE, "'a': shape [3, 2] x F32 = 24 B, range holds 16 B");
    expect(write_st("overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, -1),
           RLV_EOVERLAP, "share bytes");
    expect(write_st("range", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[100,108]}}", 16, -1),
           RLV_ERANGE, "outside the data area");
    expect(write_st("negshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, -1),
           RLV_EHEADER_JSON, "shape[0]");
    expect(write_st("overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,4096],"
                                "\"data_offsets\":[0,8]}}", 8, -1), RLV_ESIZE, "overflows");
    /* numbers past 2^53 (past 64 bits too) where we read them: a named error, no overflow */
    expect(write_st("hugeshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                                 "\"data_offsets\":[0,8]}}", 8, -1), RLV_EHEADER_JSON, "shape[0] is not an integer in [0, 2^53]");
    expect(write_st("hugeoff", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,"
                               "1000000000000000019884624838656]}}", 8, -1), RLV_EHEADER_JSON, "data_offsets");
    expect(write_st("fracshape", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, -1),
           RLV_EHEADER_JSON, "shape[0]");
    expect(write_st("backwards", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, -1),
           RLV_EHEADER_JSON, "begin <= end");
    expect(write_st("dupkey", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1),
           RLV_EHEADER_JSON, NULL);
    expect(write_st("missingkeys", "{\"a\":{\"dtype\":\"F32\"}}", 8, -1), RLV_EHEADER_JSON, "'a'");
    expect(SUITE "/shard_missing", RLV_ESHARD, "model-00002-of-00003.safetensors");
    expect(SUITE "/nonexistent", RLV_EIO, NULL);
    char empty[512], cmd[600];
    snprintf(empty, sizeof empty, "%s/empty_dir", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", empty);
    assert_int_equal(system(cmd), 0);
    expect(empty, RLV_EIO, "no model.safetensors");
}

/* Panel metadata (ckpt.c note 6, docs/panels.md): what a file lists is checked at open, the layout
 * and the rows when a weight is bound (mm_weight_bind). */
static void test_panels(void **s) {
    (void)s;
#define PT(MD) "{\"__metadata__\":{" MD "},\"w\":{\"dtype\":\"BF16\",\"shape\":[64,4],\"data_offsets\":[0,512]}," \
               "\"v\":{\"dtype\":\"BF16\",\"shape\":[256],\"data_offsets\":[512,1024]}," \
               "\"i\":{\"dtype\":\"I8\",\"shape\":[8,4],\"data_offsets\":[1024,1056]}," \
               "\"o\":{\"dtype\":\"F32\",\"shape\":[48,4],\"data_offsets\":[1056,1824]}}"
    ckpt *c = NULL;
    rlv_err e = {0};
    if (ckpt_open(&c, write_st("panels_ok", PT("\"rlaifv.panels\":\"nr32-bf16split\",\"rlaifv.panel_tensors\":\"w\""), 1824, -1), &e))
        fail_msg("%s", e.msg);
    assert_string_equal(ckpt_panels(c, ckpt_find(c, "w")), "nr32-bf16split");
    assert_null(ckpt_panels(c, ckpt_find(c, "v")));
    assert_string_equal(ckpt_panel_layout(c), "nr32-bf16split");
    mm_weight b;
    assert_int_equal(mm_weight_bind(&b, c, ckpt_find(c, "w"), &e), RLV_OK);
    assert_int_equal(b.w.panel, 32);
    assert_int_equal(b.w.bf16p, MM_BF16P_SPLIT);
    assert_int_equal(mm_weight_bind(&b, c, ckpt_find(c, "o"), &e), RLV_OK); /* not listed: rows */
    assert_int_equal(b.w.panel, 0);
    ckpt_free(&c);
    /* 48 rows are no whole panels of 32; a layout this build does not know */
    if (ckpt_open(&c, write_st("panels_rows", PT("\"rlaifv.panels\":\"nr32-bf16split\",\"rlaifv.panel_tensors\":\"w,o\""), 1824, -1), &e))
        fail_msg("%s", e.msg);
    assert_int_equal(mm_weight_bind(&b, c, ckpt_find(c, "o"), &e), RLV_EFORMAT);
    assert_non_null(strstr(e.msg, "'o': 48 rows are not whole panels of 32"));
    ckpt_free(&c);
    if (ckpt_open(&c, write_st("panels_unknown", PT("\"rlaifv.panels\":\"nr32-bf16zigzag\",\"rlaifv.panel_tensors\":\"w\""), 1824, -1), &e))
        fail_msg("%s", e.msg);
    assert_int_equal(mm_weight_bind(&b, c, ckpt_find(c, "w"), &e), RLV_EFORMAT);
    assert_non_null(strstr(e.msg, "panel layout 'nr32-bf16zigzag' is not one this build reads"));
    ckpt_free(&c);
    expect(write_st("panels_missing", PT("\"rlaifv.panels\":\"nr32-bf16split\",\"rlaifv.panel_tensors\":\"w,x\""), 1824, -1),
           RLV_EFORMAT, "names 'x', not a tensor of this file");
    expect(write_st("panels_vector", PT("\"rlaifv.panels\":\"nr32-bf16split\",\"rlaifv.panel_tensors\":\"v\""), 1824, -1),
           RLV_EFORMAT, "'v' is listed as panels but is a 1-dimensional BF16 tensor");
    expect(write_st("panels_u8", PT("\"rlaifv.panels\":\"nr32-bf16split\",\"rlaifv.panel_tensors\":\"i\""), 1824, -1),
           RLV_EFORMAT, "'i' is listed as panels but is a 2-dimensional I8 tensor");
    expect(write_st("panels_nolist", PT("\"rlaifv.panels\":\"nr32-bf16split\""), 1824, -1), RLV_EFORMAT,
           "\"rlaifv.panels\" must be a layout name");
    expect(write_st("panels_badname", PT("\"rlaifv.panels\":\"NR32 split\",\"rlaifv.panel_tensors\":\"w\""), 1824, -1),
           RLV_EFORMAT, "must be a layout name");
    expect(write_st("panels_listonly", PT("\"rlaifv.panel_tensors\":\"w\""), 1824, -1), RLV_EFORMAT, "layout name");
#undef PT
}

/* Every single-byte truncation point of a small valid file fails cleanly (or opens, at full length). */
static void test_every_truncation(void **s) {
    (void)s;
    const char *ok = "{\"a\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                     "\"__metadata__\":{\"format\":\"pt\"}}";
    const char *full = write_st("trunc_src", ok, 6, -1);
    FILE *f = fopen(full, "rb");
    uint8_t buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    for (size_t k = 0; k < n; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/cut.safetensors", tmpdir);
        f = fopen(p, "wb");
        fwrite(buf, 1, k, f);
        fclose(f);
        ckpt *c = NULL;
        rlv_err e = {0};
        int rc = ckpt_open(&c, p, &e);
        assert_true(rc == RLV_ETRUNCATED || rc == RLV_EHEADER_LEN || rc == RLV_EHEADER_JSON);
        assert_null(c);
    }
}

static void count_cb(void *ctx, manifest_problem kind, const char *msg) {
    (void)msg;
    ((int *)ctx)[kind]++;
}

static void test_manifest(void **s) {
    (void)s;
    rlv_model_config cfg;
    rlv_err e = {0};
    assert_int_equal(model_config_load(&cfg, SUITE "/single/config.json", &e), RLV_OK);
    ckpt *c = NULL;
    assert_int_equal(ckpt_open(&c, SUITE "/missing_tensor", &e), RLV_OK);
    int counts[3] = {0};
    manifest_report r;
    assert_int_equal(manifest_check(&cfg, c, count_cb, counts, &r, &e), RLV_EMISSING);
    assert_int_equal(counts[MANIFEST_MISSING], 2);
    assert_int_equal(counts[MANIFEST_UNEXPECTED], 1);
    assert_int_equal(r.missing, 2);
    assert_non_null(strstr(e.msg, "2 missing"));
    ckpt_free(&c);
    assert_int_equal(ckpt_open(&c, SUITE "/bad_shape", &e), RLV_OK);
    memset(counts, 0, sizeof counts);
    assert_int_equal(manifest_check(&cfg, c, count_cb, counts, &r, &e), RLV_ESHAPE);
    assert_int_equal(counts[MANIFEST_BAD_SHAPE], 1);
    assert_non_null(strstr(e.msg, "k_proj"));
    ckpt_free(&c);
    /* The real RLAIF-V-12B manifest has 1130 tensors (docs/model.md §2). */
    static const char *real = "{\"model_type\":\"omnilmm\",\"mm_vision_tower\":\"eva02_enormous_patch14_clip_224\","
        "\"hidden_size\":4096,\"intermediate_size\":14336,\"num_hidden_layers\":32,\"num_attention_heads\":32,"
        "\"num_key_value_heads\":8,\"vocab_size\":32009,\"num_query\":256,\"image_size\":448,"
        "\"rms_norm_eps\":1e-5,\"mm_use_im_start_end\":true}";
    rlv_model_config rc;
    assert_int_equal(model_config_parse(&rc, real, strlen(real), &e), RLV_OK);
    manifest_entry *m;
    int n;
    assert_int_equal(manifest_build(&rc, &m, &n, &e), RLV_OK);
    assert_int_equal(n, 1130);
    int64_t params = 0;
    for (int i = 0; i < n; i++) {
        int64_t p = 1;
        for (int d = 0; d < m[i].ndim; d++) p *= m[i].shape[d];
        params += p;
    }
    assert_int_equal(params, INT64_C(11615965952));
    free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_good),
        cmocka_unit_test(test_sharded_equals_single),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_panels),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
