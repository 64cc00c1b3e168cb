/* test_pt.c — torch.save checkpoints (pytorch_model.bin): every tensor equal, bit for bit, to its
 * safetensors twin (bf16, f16, f32, sharded, protocol 4, unaligned copies, views at offset), and
 * every hostile archive refused with its own named error, nothing executed (also runs under ASan).
 * Data: tests/reference/make_pt.py --suite (fixture fx_pt). */
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
#include "manifest.h"
#include "pickle.h"

#define SUITE RLV_TEST_DATA "/pt"
#define N_TINY 67 /* tensors of the tiny test config */

static const char *rlaifv_bin; /* argv[1]: the rlaifv command, for `rlaifv convert` */

/* Opens a and b and checks they hold the same names, dtypes, shapes and bytes. Returns the count. */
static int same_as_twin_fmt(const char *bin, const char *st, int expect_files, const char *fmt) {
    ckpt *a = NULL, *b = NULL;
    rlv_err e = {0};
    if (ckpt_open(&a, bin, &e)) fail_msg("%s: %s", bin, e.msg);
    if (ckpt_open(&b, st, &e)) fail_msg("%s: %s", st, e.msg);
    assert_string_equal(ckpt_format(a), fmt);
    assert_string_equal(ckpt_format(b), "safetensors");
    if (expect_files) assert_int_equal(ckpt_n_files(a), expect_files);
    assert_int_equal(ckpt_n_tensors(a), ckpt_n_tensors(b));
    for (int i = 0; i < ckpt_n_tensors(b); i++) {
        const rlv_tensor *tb = ckpt_tensor(b, i), *ta = ckpt_find(a, tb->name);
        if (!ta) fail_msg("%s: '%s' missing", bin, tb->name);
        assert_int_equal(ta->dtype, tb->dtype);
        assert_int_equal(ta->ndim, tb->ndim);
        for (int d = 0; d < ta->ndim; d++) assert_int_equal(ta->shape[d], tb->shape[d]);
        assert_int_equal(ta->nbytes, tb->nbytes);
        if (ta->nbytes && memcmp(ta->data, tb->data, ta->nbytes)) fail_msg("%s: '%s' bytes differ", bin, ta->name);
        assert_int_equal((uintptr_t)ta->data % rlv_dtype_size(ta->dtype), 0); /* aligned for typed reads */
    }
    int n = ckpt_n_tensors(a);
    ckpt_free(&a);
    ckpt_free(&b);
    assert_null(a);
    return n;
}

static int same_as_twin(const char *bin, const char *st, int expect_files) {
    return same_as_twin_fmt(bin, st, expect_files, "pytorch");
}

static void test_dtypes_equal_twin(void **s) {
    (void)s;
    const char *dts[] = {"bf16", "f16", "f32"};
    const rlv_dtype want[] = {RLV_BF16, RLV_F16, RLV_F32};
    for (int i = 0; i < 3; i++) {
        char bin[256], st[512];
        snprintf(bin, sizeof bin, "%s/%s", SUITE, dts[i]);
        snprintf(st, sizeof st, "%s/%s_st", SUITE, dts[i]);
        assert_int_equal(same_as_twin(bin, st, 1), N_TINY);
        /* The whole directory passes the model manifest, as the safetensors one does. */
        ckpt *c = NULL;
        rlv_err e = {0};
        rlv_model_config cfg;
        assert_int_equal(ckpt_open(&c, bin, &e), RLV_OK);
        assert_int_equal(ckpt_find(c, "lm_head.weight")->dtype, want[i]);
        snprintf(st, sizeof st, "%s/config.json", bin);
        assert_int_equal(model_config_load(&cfg, st, &e), RLV_OK);
        manifest_report r;
        if (manifest_check(&cfg, c, NULL, NULL, &r, &e)) fail_msg("%s", e.msg);
        assert_int_equal(r.expected, N_TINY);
        ckpt_free(&c);
    }
}

static void test_sharded_proto4_unaligned(void **s) {
    (void)s;
    assert_int_equal(same_as_twin(SUITE "/sharded", SUITE "/bf16_st", 3), N_TINY);
    assert_int_equal(same_as_twin(SUITE "/proto4", SUITE "/bf16_st", 1), N_TINY);
    /* zipfile-written: some storages at odd offsets are copied (extra mappings), the rest mapped. */
    assert_int_equal(same_as_twin(SUITE "/unaligned", SUITE "/bf16_st", 0), N_TINY);
    ckpt *c = NULL;
    rlv_err e = {0};
    assert_int_equal(ckpt_open(&c, SUITE "/unaligned", &e), RLV_OK);
    assert_true(ckpt_n_files(c) > 1);
    ckpt_free(&c);
    /* A single shard file opened on its own. */
    assert_int_equal(ckpt_open(&c, SUITE "/sharded/pytorch_model-00002-of-00003.bin", &e), RLV_OK);
    assert_true(ckpt_n_tensors(c) > 0 && ckpt_n_tensors(c) < N_TINY);
    ckpt_free(&c);
}

static void test_views(void **s) {
    (void)s;
    /* nn.Linear state_dict (with _metadata) + views of one bf16 storage and one f32 storage. */
    assert_int_equal(same_as_twin(SUITE "/views/pytorch_model.bin", SUITE "/views_st", 1), 9);
    ckpt *c = NULL;
    rlv_err e = {0};
    assert_int_equal(ckpt_open(&c, SUITE "/views/pytorch_model.bin", &e), RLV_OK);
    const rlv_tensor *whole = ckpt_find(c, "whole"), *head = ckpt_find(c, "head"), *tail = ckpt_find(c, "tail"),
                     *rows = ckpt_find(c, "rows"), *one = ckpt_find(c, "row_one"), *sc = ckpt_find(c, "scalar"),
                     *empty = ckpt_find(c, "empty");
    assert_non_null(whole);
    assert_non_null(empty);
    /* Zero-copy: views point into their storage at offset x element size. */
    assert_ptr_equal(head->data, whole->data);
    assert_ptr_equal(tail->data, (const uint8_t *)whole->data + 40 * 2);
    assert_int_equal(tail->ndim, 2);
    assert_int_equal(rows->nbytes, 3 * 8 * 4);
    assert_ptr_equal(one->data, (const uint8_t *)rows->data + 2 * 8 * 4);
    assert_ptr_equal(sc->data, (const uint8_t *)rows->data - 16 * 4 + 11 * 4);
    assert_int_equal(sc->ndim, 0);
    assert_int_equal(empty->nbytes, 0);
    assert_int_equal(empty->shape[0], 0);
    ckpt_free(&c);
}

typedef struct {
    const char *file;
    int code;
    const char *needle; /* in the message */
} bad_case;

static void test_hostile(void **s) {
    (void)s;
    const bad_case cases[] = {
        {"noncontig.bin", RLV_EUNSUPPORTED, "non-contiguous"},
        {"strided.bin", RLV_EUNSUPPORTED, "non-contiguous"},
        {"long_storage.bin", RLV_EPICKLE, "torch.LongStorage"},
        {"truncated.bin", RLV_ETRUNCATED, "truncated"},
        {"truncated_tail.bin", RLV_ETRUNCATED, "truncated"},
        {"not_zip.bin", RLV_EFORMAT, "zip"},
        {"wrong_size.bin", RLV_ESIZE, "data/1"},
        {"compressed.bin", RLV_EUNSUPPORTED, "compressed"},
        {"missing_entry.bin", RLV_EFORMAT, "data/2"},
        {"big_endian.bin", RLV_EUNSUPPORTED, "big-endian"},
        {"os_system.bin", RLV_EPICKLE, "posix.system"},
        {"eval.bin", RLV_EPICKLE, "__builtin__.eval"},
        {"deep_marks.bin", RLV_EPICKLE, "MARK"},
        {"deep_tuples.bin", RLV_EPICKLE, "tuple, not a dict"},
        {"deep_dicts.bin", RLV_EPICKLE, "'a' is a dict"},
        {"memo_huge.bin", RLV_EPICKLE, "memo index 4294967295"},
        {"memo_sparse.bin", RLV_EPICKLE, "memo index 65536 above the limit"},
        {"memo_unset.bin", RLV_EPICKLE, "never stored"},
        {"huge_string.bin", RLV_EPICKLE, "limit"},
        {"no_stop.bin", RLV_EPICKLE, "without STOP"},
        {"not_tensor.bin", RLV_EPICKLE, "'w' is a int"},
        {"numel_lie.bin", RLV_ESIZE, "declares 1000"},
        {"view_oob.bin", RLV_ERANGE, "outside storage"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/hostile/%s", SUITE, cases[i].file);
        ckpt *c = NULL;
        rlv_err e = {0};
        int rc = ckpt_open(&c, p, &e);
        if (rc != cases[i].code || !strstr(e.msg, cases[i].needle))
            fail_msg("%s: got %s (%s), want %s with '%s'", cases[i].file, rlv_err_name(rc), e.msg,
                     rlv_err_name(cases[i].code), cases[i].needle);
        assert_null(c);
    }
    /* The os.system payload would have written this file. */
    assert_int_equal(access(SUITE "/hostile/PWNED", F_OK), -1);
}

/* rlaifv convert: sharded .bin -> one safetensors file with the same tensors and bytes. */
static void test_convert(void **s) {
    (void)s;
    if (!rlaifv_bin) skip();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s convert %s/sharded %s/converted.safetensors > /dev/null", rlaifv_bin, SUITE, SUITE);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(same_as_twin_fmt(SUITE "/converted.safetensors", SUITE "/bf16_st", 1, "safetensors"), N_TINY);
    snprintf(cmd, sizeof cmd, "%s convert %s/hostile/os_system.bin %s/bad.safetensors 2> /dev/null", rlaifv_bin, SUITE,
             SUITE);
    assert_int_not_equal(system(cmd), 0);
    assert_int_equal(access(SUITE "/bad.safetensors", F_OK), -1);
}

/* The pickle reader on hand-made bytes: limits and opcodes, without a zip around them. */
static void test_pickle_direct(void **s) {
    (void)s;
    pickle_state_dict sd;
    rlv_err e = {0};
    static const uint8_t empty[] = "\x80\x02}q\x00.";
    assert_int_equal(pickle_read_state_dict(empty, sizeof empty - 1, &sd, &e), RLV_OK);
    assert_int_equal(sd.n_tensors, 0);
    pickle_state_dict_free(&sd);
    static const uint8_t inst[] = "\x80\x02(ios\nsystem\n.";
    assert_int_equal(pickle_read_state_dict(inst, sizeof inst - 1, &sd, &e), RLV_EPICKLE);
    assert_non_null(strstr(e.msg, "INST"));
    static const uint8_t persid_bad[] = "\x80\x02K\x01Q.";
    assert_int_equal(pickle_read_state_dict(persid_bad, sizeof persid_bad - 1, &sd, &e), RLV_EPICKLE);
    assert_non_null(strstr(e.msg, "persistent id"));
    static const uint8_t underflow[] = "\x80\x02\x86.";
    assert_int_equal(pickle_read_state_dict(underflow, sizeof underflow - 1, &sd, &e), RLV_EPICKLE);
    assert_non_null(strstr(e.msg, "underflow"));
    static const uint8_t long1[] = "\x80\x02\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01.";
    assert_int_equal(pickle_read_state_dict(long1, sizeof long1 - 1, &sd, &e), RLV_EPICKLE);
    assert_non_null(strstr(e.msg, "64 bits"));
    static const uint8_t global_unterminated[] = "\x80\x02" "ccollections";
    assert_int_equal(pickle_read_state_dict(global_unterminated, sizeof global_unterminated - 1, &sd, &e), RLV_EPICKLE);
    pickle_state_dict_free(NULL);
}

int main(int argc, char **argv) {
    rlaifv_bin = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes_equal_twin),
        cmocka_unit_test(test_sharded_proto4_unaligned),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_pickle_direct),
        cmocka_unit_test(test_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
