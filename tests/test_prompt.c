/* test_prompt.c — prompt assembly against the Hugging Face tokenizers library: for each case of
 * omni/prompt_expected.jsonl (whole conversations built and tokenised by tok_oracle.js),
 * shared prefix + candidate ids = the library's ids of the whole string, on the OmniLMM-style
 * tokenizer.json and on the rebuilt tokenizer.model directory; the docs/model.md §7.3 example id by
 * id; and the refusals (image tokens in user text, token limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "prompt.h"

#define DATA RLV_TEST_DATA "/tok"

static tok *load(const char *p) {
    tok *t = NULL;
    rlv_err e = {0};
    if (tok_load(&t, p, &e)) fail_msg("%s", e.msg);
    return t;
}

static void check_oracle(const char *tokpath) {
    tok *t = load(tokpath);
    FILE *f = fopen(DATA "/omni/prompt_expected.jsonl", "r");
    assert_non_null(f);
    static char line[1 << 22];
    int cases = 0, cands = 0;
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        assert_non_null(c);
        json_t *jc = json_object_get(c, "candidates"), *full = json_object_get(c, "full_ids");
        int n = (int)json_array_size(jc);
        const char **cs = calloc((size_t)n, sizeof *cs);
        for (int i = 0; i < n; i++) cs[i] = json_string_value(json_array_get(jc, i));
        prompt_req req = {json_string_value(json_object_get(c, "system")), json_string_value(json_object_get(c, "question")),
                          cs, n, (int)json_integer_value(json_object_get(c, "num_query")), 4096};
        prompt_ids *p = NULL;
        rlv_err e = {0};
        if (prompt_build(&p, t, &req, &e)) fail_msg("%s", e.msg);
        assert_int_equal(p->split_ok, 1);
        assert_int_equal(p->n_cands, n);
        assert_int_equal(p->prefix[p->image_pos - 1], 32001);
        for (int i = 0; i < req.num_query; i++) assert_int_equal(p->prefix[p->image_pos + i], 32000);
        assert_int_equal(p->prefix[p->image_pos + req.num_query], 32002);
        assert_int_equal(p->prefix[p->n_prefix - 1], 13); /* the "\n" closing "\n<|assistant|>\n" */
        for (int i = 0; i < n; i++) {
            json_t *w = json_array_get(full, (size_t)i);
            const prompt_cand *pc = &p->cands[i];
            assert_int_equal((int)json_array_size(w), p->n_prefix + pc->n);
            for (int k = 0; k < p->n_prefix; k++) assert_int_equal(json_integer_value(json_array_get(w, (size_t)k)), p->prefix[k]);
            for (int k = 0; k < pc->n; k++)
                assert_int_equal(json_integer_value(json_array_get(w, (size_t)(p->n_prefix + k))), pc->ids[k]);
            assert_int_equal(pc->score_from, 0);
            assert_int_equal(pc->ids[pc->n - 1], 2);
            cands++;
        }
        prompt_free(&p);
        assert_null(p);
        free(cs);
        json_decref(c);
        cases++;
    }
    fclose(f);
    printf("%s: %d prompts, %d candidates: prefix + candidate ids = the library's whole-string ids\n", tokpath, cases, cands);
    assert_true(cases >= 5);
    tok_free(&t);
}

static void test_oracle_json(void **s) { (void)s; check_oracle(DATA "/omni/tokenizer.json"); }
static void test_oracle_spm(void **s) { (void)s; check_oracle(DATA "/spm_mistral"); }

/* docs/model.md §7.3, id by id. */
static void test_spec_example(void **s) {
    (void)s;
    tok *t = load(DATA "/spm_mistral");
    const char *cands[] = {"The image shows a red car.", ""};
    prompt_req req = {NULL, "What is in the image?", cands, 2, 256, 2048};
    prompt_ids *p = NULL;
    rlv_err e = {0};
    if (prompt_build(&p, t, &req, &e)) fail_msg("%s", e.msg);
    const int32_t head[] = {1, 523, 28766, 6574, 28766, 28767, 13, 1976, 460, 396, 18278, 10895, 13892, 28725, 690, 5212,
                            10865, 28725, 10537, 28725, 304, 27057, 11194, 298, 272, 2930, 28742, 28713, 4224, 28723,
                            2, 28705, 13, 28789, 28766, 1838, 28766, 28767, 13, 32001};
    const int32_t tail[] = {32002, 28705, 13, 3195, 349, 297, 272, 3469, 28804, 2,
                            28705, 13, 28789, 28766, 489, 11143, 28766, 28767, 13};
    const int32_t cand[] = {1014, 3469, 4370, 264, 2760, 1253, 28723, 2};
    assert_int_equal(p->image_pos, 40);
    assert_int_equal(p->n_prefix, 40 + 256 + (int)(sizeof tail / sizeof *tail));
    assert_memory_equal(p->prefix, head, sizeof head);
    assert_memory_equal(p->prefix + 40 + 256, tail, sizeof tail);
    assert_int_equal(p->cands[0].n, 8);
    assert_memory_equal(p->cands[0].ids, cand, sizeof cand);
    assert_int_equal(p->cands[1].n, 1); /* empty response: [</s>] */
    assert_int_equal(p->cands[1].ids[0], 2);
    size_t len;
    char *text = prompt_text(NULL, "What is in the image?", 2, "The", &len);
    assert_string_equal(text, "<|system|>\nYou are an artificial intelligence assistant, which gives helpful, detailed, "
                              "and polite answers to the human's questions.</s>\n<|user|>\n<im_start><im_patch><im_patch>"
                              "<im_end>\nWhat is in the image?</s>\n<|assistant|>\nThe</s>");
    assert_int_equal(len, strlen(text));
    free(text);
    prompt_free(&p);
    prompt_free(&p);
    tok_free(&t);
}

static void expect_err(const tok *t, prompt_req req, int code, const char *needle) {
    prompt_ids *p = NULL;
    rlv_err e = {0};
    int rc = prompt_build(&p, t, &req, &e);
    if (rc != code || !strstr(e.msg, needle)) fail_msg("rc %d msg '%s' (want %d, '%s')", rc, e.msg, code, needle);
    assert_null(p);
}

static void test_refusals(void **s) {
    (void)s;
    tok *t = load(DATA "/omni/tokenizer.json");
    const char *ok[] = {"fine", "also fine"};
    const char *bad1[] = {"fine", "a <im_patch> here"};
    const char *bad2[] = {"<im_end>"};
    const char *longc[] = {"short", "short too", "a much longer candidate that goes over the limit by many tokens"};
    expect_err(t, (prompt_req){NULL, "Q", bad1, 2, 4, 2048}, RLV_EINVAL, "candidate 1 contains the image token <im_patch>");
    expect_err(t, (prompt_req){NULL, "Q", bad2, 1, 4, 2048}, RLV_EINVAL, "candidate 0");
    expect_err(t, (prompt_req){NULL, "see <im_start>", ok, 2, 4, 2048}, RLV_EINVAL, "prompt contains the image token <im_start>");
    expect_err(t, (prompt_req){"sys <im_end>", "Q", ok, 2, 4, 2048}, RLV_EINVAL, "system text");
    expect_err(t, (prompt_req){NULL, "<image> and <image>", ok, 2, 4, 2048}, RLV_EINVAL, "more than one <image>");
    expect_err(t, (prompt_req){NULL, "Q", ok, 0, 4, 2048}, RLV_EINVAL, "candidates");
    expect_err(t, (prompt_req){NULL, "Q", ok, 2, -1, 2048}, RLV_EINVAL, "num_query");
    { /* num_query 0: a job without an image, no image block at all */
        prompt_ids *q = NULL;
        rlv_err e0 = {0};
        assert_int_equal(prompt_build(&q, t, &(prompt_req){NULL, "Q <image>", ok, 2, 0, 2048}, &e0), RLV_OK);
        assert_int_equal(q->image_pos, -1);
        for (int i = 0; i < q->n_prefix; i++) assert_true(q->prefix[i] < 32000 || q->prefix[i] > 32002);
        prompt_free(&q);
    }
    expect_err(t, (prompt_req){NULL, "Q", ok, 2, 256, 100}, RLV_ETOO_LONG, "prompt: ");
    /* find the prefix length, then a limit that only the third candidate exceeds */
    prompt_ids *p = NULL;
    rlv_err e = {0};
    assert_int_equal(prompt_build(&p, t, &(prompt_req){NULL, "Q", longc, 2, 4, 2048}, &e), RLV_OK);
    int lim = p->n_prefix + p->cands[0].n + p->cands[1].n + 2;
    prompt_free(&p);
    expect_err(t, (prompt_req){NULL, "Q", longc, 3, 4, lim}, RLV_ETOO_LONG, "candidate 2:");
    /* a tokenizer without the image tokens */
    tok *plain = load(DATA "/mistral/tokenizer.json");
    expect_err(plain, (prompt_req){NULL, "Q", ok, 2, 4, 2048}, RLV_ETOKEN, "<im_start>");
    tok_free(&plain);
    tok_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_oracle_json),
        cmocka_unit_test(test_oracle_spm),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
