/* test_config.c — config.json parsing: the real RLAIF-V-12B file, derived sizes, and one
 * error per missing or ill-typed field that names the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model_config.h"

/* RLAIF-V-12B's config.json (docs/model.md §1). */
static const char *REAL =
    "{\"_name_or_path\": \"HaoyeZhang/RLAIF-V-12B\", \"architectures\": [\"OmniLMMForCausalLM\"],"
    "\"attention_dropout\": 0.0, \"bos_token_id\": 1, \"eos_token_id\": 2, \"fully_tune\": true,"
    "\"hidden_act\": \"silu\", \"hidden_size\": 4096, \"image_size\": 448, \"initializer_range\": 0.02,"
    "\"intermediate_size\": 14336, \"max_position_embeddings\": 32768, \"mm_use_im_start_end\": true,"
    "\"mm_vision_tower\": \"eva02_enormous_patch14_clip_224.laion2b_plus\", \"model_type\": \"omnilmm\","
    "\"num_attention_heads\": 32, \"num_hidden_layers\": 32, \"num_key_value_heads\": 8, \"num_query\": 256,"
    "\"pad_token_id\": 2, \"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"sliding_window\": 4096,"
    "\"tie_word_embeddings\": false, \"torch_dtype\": \"bfloat16\", \"transformers_version\": \"4.36.0\","
    "\"tune_CLIP\": true, \"tune_mm_mlp_adapter\": false, \"use_cache\": false, \"use_mm_proj\": true,"
    "\"vocab_size\": 32009}";

static void test_real(void **s) {
    (void)s;
    rlv_model_config c;
    rlv_err e = {0};
    assert_int_equal(model_config_parse(&c, REAL, strlen(REAL), &e), RLV_OK);
    assert_int_equal(c.hidden_size, 4096);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.kv_dim, 1024);
    assert_int_equal(c.num_query, 256);
    assert_int_equal(c.query_grid, 16);
    assert_int_equal(c.resampler_heads, 32);
    assert_int_equal(c.vision.embed_dim, 1792);
    assert_int_equal(c.vision.depth, 64);
    assert_int_equal(c.vision.mlp_dim, 15360);
    assert_int_equal(c.vit_grid, 32);
    assert_int_equal(c.vit_tokens, 1025);
    assert_int_equal(c.vocab_size, 32009);
    assert_true(c.rms_norm_eps == 1e-5);
    assert_int_equal(c.sliding_window, 4096);
    assert_string_equal(c.model_type, "omnilmm");
}

static void expect_err(const char *from, const char *to, const char *field);

/* sliding_window: null (Mistral v0.2 style) and absent mean no window; a non-integer is named. */
static void test_sliding_window(void **s) {
    (void)s;
    char buf[4096];
    const char *from = "\"sliding_window\": 4096", *at = strstr(REAL, from);
    assert_non_null(at);
    rlv_model_config c;
    rlv_err e = {0};
    const char *to[] = {"\"sliding_window\": null", "\"no_sliding_window\": 1"};
    for (int i = 0; i < 2; i++) {
        snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - REAL), REAL, to[i], at + strlen(from));
        if (model_config_parse(&c, buf, strlen(buf), &e)) fail_msg("%s", e.msg);
        assert_int_equal(c.sliding_window, 0);
    }
    expect_err(from, "\"sliding_window\": \"4096\"", "sliding_window");
    expect_err(from, "\"sliding_window\": 0", "sliding_window");
}

/* Replace the first occurrence of `from` in REAL by `to` and expect an error naming `field`. */
static void expect_err(const char *from, const char *to, const char *field) {
    char buf[4096];
    const char *p = strstr(REAL, from);
    assert_non_null(p);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - REAL), REAL, to, p + strlen(from));
    rlv_model_config c;
    rlv_err e = {0};
    assert_int_equal(model_config_parse(&c, buf, strlen(buf), &e), RLV_ECONFIG);
    if (!strstr(e.msg, field)) fail_msg("message '%s' does not name '%s'", e.msg, field);
}

static void test_errors(void **s) {
    (void)s;
    expect_err("\"hidden_size\": 4096,", "", "'hidden_size'");
    expect_err("\"hidden_size\": 4096", "\"hidden_size\": \"4096\"", "'hidden_size'");
    expect_err("\"num_query\": 256", "\"num_query\": 250", "num_query");
    expect_err("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": null", "'rms_norm_eps'");
    expect_err("\"mm_use_im_start_end\": true", "\"mm_use_im_start_end\": 1", "'mm_use_im_start_end'");
    expect_err("\"vocab_size\": 32009", "\"vocab_size\": -1", "'vocab_size'");
    expect_err("eva02_enormous_patch14_clip_224", "vit_huge", "vision tower");
    expect_err("\"num_key_value_heads\": 8", "\"num_key_value_heads\": 5", "num_key_value_heads");
    rlv_model_config c;
    rlv_err e = {0};
    assert_int_equal(model_config_parse(&c, "[1, 2]", 6, &e), RLV_ECONFIG);
    assert_non_null(strstr(e.msg, "not an object"));
    expect_err("\"vocab_size\": 32009}", "\"vocab_size\": 32009", "JSON");
    expect_err("\"vocab_size\": 32009}", "\"vocab_size\": 32009, \"vision_config\": {\"embed_dim\": 96}}",
               "vision_config.num_heads");
    /* numbers we read are range-checked whatever their size (past 64 bits too), never wrapped */
    expect_err("\"vocab_size\": 32009", "\"vocab_size\": 1000000000000000019884624838656",
               "'vocab_size' = 1e+30 out of range [3, 1073741824]");
    expect_err("\"vocab_size\": 32009", "\"vocab_size\": 1e30", "'vocab_size' = 1e+30 out of range");
    expect_err("\"hidden_size\": 4096", "\"hidden_size\": -1000000000000000019884624838656", "'hidden_size' = -1e+30");
    expect_err("\"vocab_size\": 32009", "\"vocab_size\": 32009.5", "'vocab_size' must be an integer");
    expect_err("\"vocab_size\": 32009}", "\"vocab_size\": 32009, \"vision_config\": {\"embed_dim\": 96, \"num_heads\": "
               "4, \"depth\": 1e30, \"mlp_dim\": 192, \"patch_size\": 14, \"base_grid\": 2}}", "vision_config.depth");
}

/* transformers writes int(1e30) (VERY_LARGE_INTEGER) into files; where we do not read a number,
 * its size does not matter. An integral real is an integer (Python writes 32009.0 for a float). */
static void test_big_unused_numbers(void **s) {
    (void)s;
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s, \"model_max_length\": 1000000000000000019884624838656, \"x\": "
             "[-1000000000000000019884624838656, {\"y\": 1e300}], \"unused_big\": 1e30}", (int)strlen(REAL) - 1, REAL);
    rlv_model_config c;
    rlv_err e = {0};
    if (model_config_parse(&c, buf, strlen(buf), &e)) fail_msg("%s", e.msg);
    assert_int_equal(c.vocab_size, 32009);
    assert_int_equal(c.hidden_size, 4096);
    const char *from = "\"vocab_size\": 32009";
    const char *at = strstr(REAL, from);
    snprintf(buf, sizeof buf, "%.*s\"vocab_size\": 32009.0%s", (int)(at - REAL), REAL, at + strlen(from));
    if (model_config_parse(&c, buf, strlen(buf), &e)) fail_msg("%s", e.msg);
    assert_int_equal(c.vocab_size, 32009);
}

static void test_vision_override(void **s) {
    (void)s;
    char buf[4096];
    snprintf(buf, sizeof buf, "%.*s, \"vision_config\": {\"embed_dim\": 96, \"num_heads\": 4, \"depth\": 3,"
             " \"mlp_dim\": 192, \"patch_size\": 14, \"base_grid\": 2}}", (int)strlen(REAL) - 1, REAL);
    rlv_model_config c;
    rlv_err e = {0};
    assert_int_equal(model_config_parse(&c, buf, strlen(buf), &e), RLV_OK);
    assert_int_equal(c.vision.embed_dim, 96);
    assert_int_equal(c.vision.depth, 3);
    assert_int_equal(c.vision.base_grid, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real), cmocka_unit_test(test_sliding_window),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_vision_override),
        cmocka_unit_test(test_big_unused_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
