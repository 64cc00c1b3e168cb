/* test_tok.c — the tokenizer against the real Hugging Face tokenizers library (expected.jsonl from
 * tests/reference/tok_oracle.js) and against sentencepiece (sp_expected.jsonl from tok_files.py):
 * ids with and without BOS, decode, for every string of tests/data/tok_corpus.jsonl, on
 * tokenizer.json files and on tokenizer.model files converted as transformers does; and for the
 * added-token flags (single_word x lstrip x rstrip x normalized), every string of
 * tests/data/tok_words.jsonl (words_expected.jsonl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <jansson.h>

#include "tok.h"

#define DATA RLV_TEST_DATA "/tok"
#define CORPUS RLV_SOURCE_DIR "/tests/data/tok_corpus.jsonl"
#define WORDS RLV_SOURCE_DIR "/tests/data/tok_words.jsonl"
#define VERY_LARGE_INTEGER "1000000000000000019884624838656" /* transformers' int(1e30) */
#define CAP 16384

/* ---------- jsonl ---------- */

typedef struct jl {
    json_t **v;
    int n;
} jl;

static jl jl_read(const char *path) {
    jl r = {0};
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return r; }
    static char line[1 << 20];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n <= 1) continue;
        json_error_t je;
        json_t *v = json_loadb(line, n, JSON_ALLOW_NUL, &je);
        if (!v) { fprintf(stderr, "%s: %s\n", path, je.text); continue; }
        if (r.n == cap) { cap = cap ? 2 * cap : 1024; r.v = realloc(r.v, cap * sizeof *r.v); }
        r.v[r.n++] = v;
    }
    fclose(f);
    return r;
}

static void jl_free(jl *r) {
    for (int i = 0; i < r->n; i++) json_decref(r->v[i]);
    free(r->v);
}

static int ids_equal(json_t *arr, const int32_t *ids, int n) {
    if (!json_is_array(arr) || (int)json_array_size(arr) != n) return 0;
    for (int i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, i)) != ids[i]) return 0;
    return 1;
}

static void show(const char *what, const char *text, size_t len, json_t *want, const int32_t *got, int n) {
    char *w = json_dumps(want, JSON_COMPACT);
    fprintf(stderr, "  %s mismatch for %.*s\n    want %.300s\n    got  [", what, (int)(len > 80 ? 80 : len), text, w);
    for (int i = 0; i < n && i < 60; i++) fprintf(stderr, "%d%s", got[i], i + 1 < n ? "," : "");
    fprintf(stderr, "]\n");
    free(w);
}

/* Compares t with an oracle file over a corpus; returns the number of mismatching checks. */
static int check_corpus(const tok *t, const char *corpus_path, const char *expected, int *n_strings) {
    jl corpus = jl_read(corpus_path), exp = jl_read(expected);
    int bad = 0;
    static int32_t ids[CAP];
    static char dec[1 << 20];
    assert_true(corpus.n >= 500);
    assert_int_equal(corpus.n, exp.n);
    for (int i = 0; i < corpus.n; i++) {
        json_t *jt = json_object_get(corpus.v[i], "text");
        const char *text = json_string_value(jt);
        size_t len = json_string_length(jt);
        for (int bos = 0; bos < 2; bos++) {
            int n;
            rlv_err e = {0};
            assert_int_equal(tok_encode(t, text, len, bos, ids, CAP, &n, &e), RLV_OK);
            json_t *want = json_object_get(exp.v[i], bos ? "bos" : "nobos");
            if (!ids_equal(want, ids, n)) {
                if (bad++ < 5) show(bos ? "ids+bos" : "ids", text, len, want, ids, n);
                continue;
            }
            size_t dl;
            assert_int_equal(tok_decode(t, ids, n, bos, dec, sizeof dec, &dl, &e), RLV_OK);
            json_t *wd = json_object_get(exp.v[i], bos ? "dec_skip" : "dec");
            if (dl != json_string_length(wd) || memcmp(dec, json_string_value(wd), dl)) {
                if (bad++ < 5)
                    fprintf(stderr, "  decode%s mismatch for %.60s: want '%.80s' got '%.80s'\n", bos ? "(skip)" : "",
                            text, json_string_value(wd), dec);
            }
        }
    }
    *n_strings = corpus.n;
    jl_free(&corpus);
    jl_free(&exp);
    return bad;
}

static int check_hf(const tok *t, const char *expected, int *n_strings) {
    return check_corpus(t, CORPUS, expected, n_strings);
}

static void check_json_dir(const char *name) {
    char p[512], e[512];
    snprintf(p, sizeof p, DATA "/%s/tokenizer.json", name);
    snprintf(e, sizeof e, DATA "/%s/expected.jsonl", name);
    tok *t = NULL;
    rlv_err err = {0};
    if (tok_load(&t, p, &err)) fail_msg("%s", err.msg);
    assert_string_equal(tok_source(t), "tokenizer.json");
    int n, bad = check_hf(t, e, &n);
    printf("%s: %d strings x (ids, ids+BOS, decode, decode skip-special): %d mismatches\n", name, n, bad);
    assert_int_equal(bad, 0);
    tok_free(&t);
    assert_null(t);
}

static void test_mistral_json(void **s) { (void)s; check_json_dir("mistral"); }
static void test_omni_json(void **s) { (void)s; check_json_dir("omni"); }
static void test_flags_json(void **s) { (void)s; check_json_dir("omni_flags"); }
static void test_metaspace_json(void **s) { (void)s; check_json_dir("metaspace"); check_json_dir("metaspace_split"); }

/* The 16 combinations of single_word, lstrip, rstrip, normalized on the 16 WORD_TOKENS of
 * tok_files.py, over the word-boundary corpus; on the Prepend/Replace normaliser (sw_n_*) and
 * on the Metaspace pre-tokeniser (sw_m_*). */
static void test_added_flags_json(void **s) {
    (void)s;
    int total = 0, dirs = 0;
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < 16; k++) {
            char name[32], p[512], e[512];
            snprintf(name, sizeof name, "sw_%c_%c%c%c%c", "nm"[b], k & 8 ? 's' : '-', k & 4 ? 'l' : '-', k & 2 ? 'r' : '-',
                     k & 1 ? 'n' : '-');
            snprintf(p, sizeof p, DATA "/%s/tokenizer.json", name);
            snprintf(e, sizeof e, DATA "/%s/words_expected.jsonl", name);
            tok *t = NULL;
            rlv_err err = {0};
            if (tok_load(&t, p, &err)) fail_msg("%s", err.msg);
            int n, bad = check_corpus(t, WORDS, e, &n);
            if (bad) fail_msg("%s: %d strings, %d mismatches", name, n, bad);
            total += n;
            dirs++;
            tok_free(&t);
        }
    printf("added-token flags: %d tokenizers x %d strings each = %d strings x (ids, ids+BOS, decode, decode "
           "skip-special): 0 mismatches\n", dirs, total / dirs, total);
    assert_int_equal(dirs, 32);
}

/* Mixed flags, from a tokenizer.json directory (its tokenizer_config.json carries transformers'
 * VERY_LARGE_INTEGER) and from tokenizer.model + tokenizer_config.json's added_tokens_decoder. */
static void test_added_flags_dirs(void **s) {
    (void)s;
    const char *dirs[] = {DATA "/sw_mixed", DATA "/spm_sw"}, *src[] = {"tokenizer.json", "tokenizer.model"};
    for (int k = 0; k < 2; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s/tokenizer_config.json", dirs[k]);
        FILE *f = fopen(p, "rb");
        assert_non_null(f);
        static char cfg[1 << 16];
        size_t n = fread(cfg, 1, sizeof cfg - 1, f);
        cfg[n] = 0;
        fclose(f);
        assert_non_null(strstr(cfg, "\"model_max_length\": " VERY_LARGE_INTEGER));
        if (k == 1) assert_non_null(strstr(cfg, "\"single_word\": true"));
        tok *t = NULL;
        rlv_err e = {0};
        if (tok_load(&t, dirs[k], &e)) fail_msg("%s", e.msg);
        assert_string_equal(tok_source(t), src[k]);
        int ns, bad = check_corpus(t, WORDS, DATA "/sw_mixed/words_expected.jsonl", &ns);
        printf("%s vs library on sw_mixed/tokenizer.json: %d strings, %d mismatches\n", dirs[k], ns, bad);
        assert_int_equal(bad, 0);
        tok_free(&t);
    }
}

/* docs/model.md §7.2 figures. */
static void test_spec_examples(void **s) {
    (void)s;
    const char *paths[] = {DATA "/omni/tokenizer.json", DATA "/spm_mistral"};
    for (int k = 0; k < 2; k++) {
        tok *t = NULL;
        rlv_err e = {0};
        if (tok_load(&t, paths[k], &e)) fail_msg("%s", e.msg);
        int32_t ids[64];
        int n;
        assert_int_equal(tok_encode(t, "Hello world", 11, 1, ids, 64, &n, &e), RLV_OK);
        int32_t hw[] = {1, 22557, 1526};
        assert_int_equal(n, 3);
        assert_memory_equal(ids, hw, sizeof hw);
        const char *as = "\n<|assistant|>\nThe";
        assert_int_equal(tok_encode(t, as, strlen(as), 1, ids, 64, &n, &e), RLV_OK);
        int32_t want[] = {1, 28705, 13, 28789, 28766, 489, 11143, 28766, 28767, 13, 1014};
        assert_int_equal(n, 11);
        assert_memory_equal(ids, want, sizeof want);
        assert_int_equal(tok_encode(t, "</s>\n", 5, 0, ids, 64, &n, &e), RLV_OK);
        int32_t eos[] = {2, 28705, 13};
        assert_int_equal(n, 3);
        assert_memory_equal(ids, eos, sizeof eos);
        assert_int_equal(tok_encode(t, "", 0, 1, ids, 64, &n, &e), RLV_OK);
        assert_int_equal(n, 1);
        assert_int_equal(ids[0], 1);
        assert_int_equal(tok_piece_id(t, "<im_patch>"), 32000);
        assert_int_equal(tok_piece_id(t, "<im_start>"), 32001);
        assert_int_equal(tok_piece_id(t, "</quad>"), 32008);
        assert_int_equal(tok_piece_id(t, "\xE2\x96\x81The"), 415);
        assert_int_equal(tok_piece_id(t, "no such piece"), -1);
        assert_int_equal(tok_vocab_size(t), 32009);
        assert_string_equal(tok_piece(t, 13), "<0x0A>");
        assert_null(tok_piece(t, 32009));
        assert_true(tok_is_special(t, 32000));
        assert_false(tok_is_special(t, 415));
        /* too small a buffer: ELIMIT and the full count */
        assert_int_equal(tok_encode(t, as, strlen(as), 1, ids, 4, &n, &e), RLV_ELIMIT);
        assert_int_equal(n, 11);
        assert_memory_equal(ids, want, 4 * sizeof *ids);
        /* invalid UTF-8 is refused, not guessed at */
        assert_int_equal(tok_encode(t, "a\xC3(", 3, 1, ids, 64, &n, &e), RLV_EINVAL);
        assert_int_equal(tok_encode(t, "\xED\xA0\x80", 3, 1, ids, 64, &n, &e), RLV_EINVAL); /* surrogate */
        char out[8];
        size_t dl;
        int32_t hello[] = {1, 22557, 1526};
        assert_int_equal(tok_decode(t, hello, 3, 0, out, sizeof out, &dl, &e), RLV_ELIMIT);
        assert_int_equal(dl, strlen("<s> Hello world"));
        assert_string_equal(out, "<s> Hel");
        tok_free(&t);
    }
}

/* The rebuilt Mistral tokenizer.model: converted merges = the tokenizer.json merges, ids = the
 * library's ids on the OmniLMM-style tokenizer.json, for every corpus string. */
static void test_spm_mistral(void **s) {
    (void)s;
    tok *j = NULL, *m = NULL;
    rlv_err e = {0};
    if (tok_load(&j, DATA "/mistral/tokenizer.json", &e)) fail_msg("%s", e.msg);
    if (tok_load(&m, DATA "/spm_mistral", &e)) fail_msg("%s", e.msg);
    assert_string_equal(tok_source(m), "tokenizer.model");
    assert_int_equal(tok_n_merges(j), 58980);
    assert_int_equal(tok_n_merges(m), tok_n_merges(j));
    int diff = 0;
    for (int r = 0; r < tok_n_merges(j); r++) {
        int a, b, c, d;
        assert_int_equal(tok_merge(j, r, &a, &b), RLV_OK);
        assert_int_equal(tok_merge(m, r, &c, &d), RLV_OK);
        if (a != c || b != d) {
            if (diff++ < 5) fprintf(stderr, "  merge %d: json %s %s, model %s %s\n", r, tok_piece(j, a), tok_piece(j, b),
                                    tok_piece(m, c), tok_piece(m, d));
        }
    }
    assert_int_equal(tok_merge(m, tok_n_merges(m), &diff, &diff), RLV_EINVAL);
    printf("spm_mistral: %d merges, %d differ from tokenizer.json\n", tok_n_merges(m), diff);
    assert_int_equal(diff, 0);
    int n, bad = check_hf(m, DATA "/omni/expected.jsonl", &n);
    printf("spm_mistral vs library on omni tokenizer.json: %d strings, %d mismatches\n", n, bad);
    assert_int_equal(bad, 0);
    tok_free(&j);
    tok_free(&m);
}

/* Trained SentencePiece BPE models: ids = sentencepiece's for text without special tokens. */
static void test_spm_small(void **s) {
    (void)s;
    const char *names[] = {"spm_small_1000", "spm_small_2000"};
    static int32_t ids[CAP];
    for (int k = 0; k < 2; k++) {
        char p[512];
        snprintf(p, sizeof p, DATA "/%s/tokenizer.model", names[k]);
        tok *t = NULL;
        rlv_err e = {0};
        if (tok_load(&t, p, &e)) fail_msg("%s", e.msg);
        snprintf(p, sizeof p, DATA "/%s/sp_expected.jsonl", names[k]);
        jl x = jl_read(p);
        assert_true(x.n >= 500);
        int bad = 0;
        for (int i = 0; i < x.n; i++) {
            json_t *jt = json_object_get(x.v[i], "text");
            int n;
            assert_int_equal(tok_encode(t, json_string_value(jt), json_string_length(jt), 0, ids, CAP, &n, &e), RLV_OK);
            if (!ids_equal(json_object_get(x.v[i], "ids"), ids, n) && bad++ < 5)
                show("sentencepiece", json_string_value(jt), json_string_length(jt), json_object_get(x.v[i], "ids"), ids, n);
        }
        printf("%s: %d strings vs sentencepiece, %d mismatches, %d merges\n", names[k], x.n, bad, tok_n_merges(t));
        assert_int_equal(bad, 0);
        /* BOS from add_bos_token's default (true) without a tokenizer_config.json */
        int n;
        assert_int_equal(tok_encode(t, "a", 1, 1, ids, CAP, &n, &e), RLV_OK);
        assert_int_equal(ids[0], 1);
        jl_free(&x);
        tok_free(&t);
    }
}

static void test_dir_prefers_json(void **s) {
    (void)s;
    tok *t = NULL;
    rlv_err e = {0};
    if (tok_load(&t, DATA "/both", &e)) fail_msg("%s", e.msg);
    assert_string_equal(tok_source(t), "tokenizer.json");
    tok_free(&t);
    if (tok_load(&t, DATA "/both/tokenizer.model", &e)) fail_msg("%s", e.msg);
    assert_string_equal(tok_source(t), "tokenizer.model");
    assert_int_equal(tok_vocab_size(t), 32009);
    tok_free(&t);
    tok_free(&t); /* harmless */
    tok_free(NULL);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Unsupported features and broken files are load errors that name the culprit. */
static void test_load_errors(void **s) {
    (void)s;
    static const struct {
        const char *json, *needle;
        int code;
    } cases[] = {
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "Unigram", RLV_EUNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": \"NFKC\"}}",
         "NFKC", RLV_EUNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
         "ByteLevel", RLV_EUNSUPPORTED},
        /* numbers we use are range-checked, whatever their size */
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 1e30}, \"merges\": []}}", "'a': id 1e+30 out of range",
         RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": " VERY_LARGE_INTEGER "}, \"merges\": []}}",
         "'a': id 1e+30 out of range", RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0.5}, \"merges\": []}}", "'a': id is not an integer",
         RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": "
         VERY_LARGE_INTEGER ", \"content\": \"<x>\"}]}", "added_tokens[0] '<x>': id 1e+30 out of range",
         RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"decoder\": {\"type\": \"Strip\", "
         "\"content\": \" \", \"start\": " VERY_LARGE_INTEGER ", \"stop\": 0}}", "Strip decoder", RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": "
         "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"a\"}}], \"special_tokens\": {\"a\": "
         "{\"ids\": [1e30]}}}}", "'a': id 1e+30 is not an integer in", RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "merges[0]", RLV_ETOKEN},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"decoder\": {\"type\": \"WordPiece\"}}",
         "WordPiece", RLV_EUNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"dropout\": 0.1}}", "dropout", RLV_EUNSUPPORTED},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -4}, \"merges\": []}}", "'a'", RLV_ETOKEN},
        {"{\"model\": ", "line", RLV_ETOKEN},
    };
    char path[512];
    snprintf(path, sizeof path, DATA "/bad_tokenizer.json");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].json);
        tok *t = NULL;
        rlv_err e = {0};
        int rc = tok_load(&t, path, &e);
        if (rc != cases[i].code || !strstr(e.msg, cases[i].needle))
            fail_msg("case %zu: rc %d msg '%s' (want %d, '%s')", i, rc, e.msg, cases[i].code, cases[i].needle);
        assert_null(t);
    }
    tok *t = NULL;
    rlv_err e = {0};
    assert_int_equal(tok_load(&t, DATA "/no/such/dir", &e), RLV_EIO);
    snprintf(path, sizeof path, DATA "/bad.model");
    write_file(path, "\x0a\xff\xff\xff\xff\x0f");
    assert_int_equal(tok_load(&t, path, &e), RLV_EFORMAT);
    assert_non_null(strstr(e.msg, "bad.model"));
}

/* Numbers past 64 bits where nothing reads them load, as the library loads them. */
static void test_big_unused_numbers(void **s) {
    (void)s;
    char path[512];
    snprintf(path, sizeof path, DATA "/big_tokenizer.json");
    write_file(path, "{\"version\": " VERY_LARGE_INTEGER ", \"x\": [-" VERY_LARGE_INTEGER ", 1e300, {\"y\": "
                     VERY_LARGE_INTEGER "0}], \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
                     "\"merges\": [\"a b\"], \"max\": " VERY_LARGE_INTEGER "}, \"added_tokens\": [{\"id\": 3, \"content\": "
                     "\"<x>\", \"special\": true, \"model_max_length\": " VERY_LARGE_INTEGER "}]}");
    tok *t = NULL;
    rlv_err e = {0};
    if (tok_load(&t, path, &e)) fail_msg("%s", e.msg);
    int32_t ids[8];
    int n;
    assert_int_equal(tok_encode(t, "ab<x>", 5, 0, ids, 8, &n, &e), RLV_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    tok_free(&t);
}

/* Read-only after load: concurrent encodes give the same ids. */
typedef struct th_arg {
    const tok *t;
    jl *corpus;
    long sum;
} th_arg;

static void *th_run(void *p) {
    th_arg *a = p;
    int32_t *ids = malloc(CAP * sizeof *ids);
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < a->corpus->n; i++) {
            json_t *jt = json_object_get(a->corpus->v[i], "text");
            int n;
            if (tok_encode(a->t, json_string_value(jt), json_string_length(jt), 1, ids, CAP, &n, NULL)) { a->sum = -1; break; }
            for (int k = 0; k < n; k++) a->sum += (long)ids[k] * (k + 1);
        }
    free(ids);
    return NULL;
}

static void test_threads(void **s) {
    (void)s;
    tok *t = NULL;
    rlv_err e = {0};
    if (tok_load(&t, DATA "/omni/tokenizer.json", &e)) fail_msg("%s", e.msg);
    jl corpus = jl_read(CORPUS);
    th_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (th_arg){t, &corpus, 0};
        pthread_create(&th[i], NULL, th_run, &a[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 1; i < 4; i++) assert_true(a[i].sum == a[0].sum);
    assert_true(a[0].sum > 0);
    jl_free(&corpus);
    tok_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_examples),  cmocka_unit_test(test_mistral_json),
        cmocka_unit_test(test_omni_json),      cmocka_unit_test(test_flags_json),
        cmocka_unit_test(test_metaspace_json), cmocka_unit_test(test_spm_mistral),
        cmocka_unit_test(test_spm_small),      cmocka_unit_test(test_dir_prefers_json),
        cmocka_unit_test(test_load_errors),    cmocka_unit_test(test_threads),
        cmocka_unit_test(test_added_flags_json), cmocka_unit_test(test_added_flags_dirs),
        cmocka_unit_test(test_big_unused_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
