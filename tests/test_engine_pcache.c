/* test_engine_pcache.c — the prefix cache through rlv_score: a job whose (image, prompt) was seen
 * gives log-probs, sums, means and rewards BITWISE identical to an engine without the cache, for
 * N = 1..16 candidates, with and without an image, both models; a partial hit (the reference's
 * entry only); and concurrent workers hitting one entry. Two pairs: the tiny random e2e pair
 * (tests/reference/make_ckpt.py) and the demo pair, whose reference takes the policy's image
 * embedding (its vision bytes are the policy's). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rlaifv.h"
#include "test_util.h"

enum { NMAX = 16 };

static const char *pairs[][2] = {
    {RLV_TEST_DATA "/e2e/policy", RLV_TEST_DATA "/e2e/reference"},
    {RLV_SOURCE_DIR "/models/demo/policy", RLV_SOURCE_DIR "/models/demo/reference"},
};
static const char *PROMPT = "What is in the image?";
static char cand_text[NMAX][96];
static const char *cands[NMAX];
static size_t cand_lens[NMAX];
static uint8_t *jpeg;
static size_t jpeg_len;

/* A result copied out of the worker: every number that reaches the client. */
typedef struct snap {
    int n, has_ref;
    rlv_ranked r[NMAX];
    float tok[2][NMAX][128];
} snap;

static void take(snap *s, const rlv_result *res) {
    memset(s, 0, sizeof *s);
    s->n = res->n;
    s->has_ref = res->has_reference;
    for (int i = 0; i < res->n; i++) {
        s->r[i] = res->ranking[i];
        assert_true(res->ranking[i].tokens <= 128);
        memcpy(s->tok[0][i], res->ranking[i].policy.token_logps, (size_t)res->ranking[i].tokens * sizeof(float));
        if (res->has_reference)
            memcpy(s->tok[1][i], res->ranking[i].reference.token_logps, (size_t)res->ranking[i].tokens * sizeof(float));
        s->r[i].policy.token_logps = s->r[i].reference.token_logps = NULL;
    }
}

/* 1 when a and b are bitwise the same (memcmp of the doubles and floats). */
static int same(const snap *a, const snap *b) {
    if (a->n != b->n || a->has_ref != b->has_ref) return 0;
    for (int i = 0; i < a->n; i++) {
        const rlv_ranked *x = &a->r[i], *y = &b->r[i];
        if (x->index != y->index || x->tokens != y->tokens || memcmp(&x->reward, &y->reward, sizeof x->reward) ||
            memcmp(&x->policy, &y->policy, sizeof x->policy) || memcmp(&x->reference, &y->reference, sizeof x->reference) ||
            memcmp(a->tok[0][i], b->tok[0][i], (size_t)x->tokens * sizeof(float)) ||
            memcmp(a->tok[1][i], b->tok[1][i], (size_t)x->tokens * sizeof(float)))
            return 0;
    }
    return 1;
}

static rlv_job job_of(int with_image, int n, const char *prompt) {
    return (rlv_job){.image = with_image ? jpeg : NULL, .image_len = with_image ? jpeg_len : 0, .prompt = prompt,
                     .prompt_len = strlen(prompt), .n_candidates = n, .candidates = cands, .candidate_lens = cand_lens,
                     .reward = RLV_REWARD_DEFAULT, .token_logps = 1};
}

static void open_pair(int pair, size_t prefix_cache_bytes, rlv_engine **e, rlv_worker **w) {
    rlv_engine_opts o;
    rlv_engine_opts_default(&o);
    o.model_dir = pairs[pair][0];
    o.ref_model_dir = pairs[pair][1];
    o.prefix_cache_bytes = prefix_cache_bytes;
    o.blas_threads = 2; /* the pool's threads split the work; results must not depend on the entry's address */
    rlv_err err = {0};
    int rc = rlv_engine_open(e, &o, &err);
    if (rc) fail_msg("%s: %s", pairs[pair][0], err.msg);
    if (w) assert_int_equal(rlv_worker_open(w, *e, &err), RLV_OK);
}

static const rlv_result *score(rlv_worker *w, const rlv_job *j) {
    const rlv_result *res = NULL;
    rlv_err err = {0};
    int rc = rlv_score(w, j, &res, &err);
    if (rc) fail_msg("rlv_score: %s", err.msg);
    return res;
}

static snap base[2][NMAX + 1]; /* [with_image][n]: the engine without a prefix cache */

static void run_pair(int pair) {
    rlv_engine *off = NULL, *on = NULL, *one = NULL;
    rlv_worker *w_off = NULL, *w_on = NULL, *w_one = NULL;
    open_pair(pair, 0, &off, &w_off);
    open_pair(pair, (size_t)64 << 20, &on, &w_on);
    snap got;
    for (int img = 0; img < 2; img++) {
        for (int n = 1; n <= NMAX; n++) {
            rlv_job j = job_of(img, n, PROMPT);
            const rlv_result *r = score(w_off, &j);
            assert_int_equal(r->prefix_cache_hit, 0);
            take(&base[img][n], r);
        }
        for (int pass = 0; pass < 2; pass++)
            for (int n = 1; n <= NMAX; n++) {
                rlv_job j = job_of(img, n, PROMPT);
                const rlv_result *r = score(w_on, &j);
                int hit = !(pass == 0 && n == 1); /* every N shares the prefix of the first job */
                assert_int_equal(r->prefix_cache_hit, hit);
                assert_int_equal(r->prefix_cache_hit_model[0], hit);
                assert_int_equal(r->prefix_cache_hit_model[1], hit);
                if (hit) assert_true(!r->image_ran_model[0] && !r->image_ran_model[1]);
                take(&got, r);
                if (!same(&got, &base[img][n])) fail_msg("pair %d image %d N %d pass %d: not bitwise equal", pair, img, n, pass);
            }
    }
    rlv_engine_info in;
    rlv_engine_get_info(on, &in);
    assert_int_equal(in.prefix_cache_entries, 4); /* 2 models x (image, no image) */
    assert_int_equal(in.prefix_cache_misses, 4);
    assert_int_equal(in.prefix_cache_hits, 2 * (2 * 2 * NMAX - 2));
    assert_true(in.prefix_cache_used_bytes > 0 && in.prefix_cache_used_bytes <= in.prefix_cache_capacity_bytes);
    /* another prompt with the same image: a miss */
    rlv_job other = job_of(1, 4, "What is in the image? What is in the image?"); /* more ids, whatever the vocabulary */
    assert_int_equal(score(w_on, &other)->prefix_cache_hit_model[0], 0);
    rlv_engine_get_info(off, &in);
    assert_int_equal(in.prefix_cache_entries, 0);

    /* a budget of one entry: the reference's replaces the policy's, so a repeat is a partial hit
     * (the policy runs vision and its prefix; the reference attaches its entry). Both entries of a
     * job have the same size (same architecture): a fresh engine's used bytes / 2 is one. */
    for (int img = 0; img < 2; img++) {
        rlv_job j = job_of(img, 8, PROMPT);
        open_pair(pair, (size_t)64 << 20, &one, &w_one);
        score(w_one, &j);
        rlv_engine_get_info(one, &in);
        assert_int_equal(in.prefix_cache_entries, 2);
        size_t one_entry = in.prefix_cache_used_bytes / 2;
        rlv_worker_free(&w_one);
        rlv_engine_free(&one);
        open_pair(pair, one_entry + one_entry / 4, &one, &w_one);
        for (int rep = 0; rep < 2; rep++) {
            const rlv_result *r = score(w_one, &j);
            assert_int_equal(r->prefix_cache_hit_model[0], 0);
            assert_int_equal(r->prefix_cache_hit_model[1], rep);
            assert_int_equal(r->prefix_cache_hit, 0);
            take(&got, r);
            if (!same(&got, &base[img][8])) fail_msg("pair %d image %d partial hit: not bitwise equal", pair, img);
        }
        rlv_worker_free(&w_one);
        rlv_engine_free(&one);
    }
    rlv_worker_free(&w_off);
    rlv_worker_free(&w_on);
    rlv_engine_free(&off);
    rlv_engine_free(&on);
}

static void test_e2e_pair(void **s) { (void)s; run_pair(0); }
static void test_demo_pair(void **s) { (void)s; run_pair(1); }

/* Workers on their own threads score one job at once, from a cold cache: some miss and publish,
 * the others hit (one entry, pinned by several at a time); all get the uncached result bitwise. */
typedef struct { rlv_engine *e; int img, n, bad, hits; } race_arg;

static void *race(void *p) {
    race_arg *a = p;
    rlv_worker *w = NULL;
    rlv_err err = {0};
    if (rlv_worker_open(&w, a->e, &err)) { a->bad = -1; return NULL; }
    for (int it = 0; it < 6; it++) {
        rlv_job j = job_of(a->img, a->n, PROMPT);
        const rlv_result *r = NULL;
        if (rlv_score(w, &j, &r, &err)) { a->bad++; continue; }
        snap s;
        take(&s, r);
        a->bad += !same(&s, &base[a->img][a->n]);
        a->hits += r->prefix_cache_hit;
    }
    rlv_worker_free(&w);
    return NULL;
}

static void test_concurrent(void **s) {
    (void)s;
    enum { T = 4, N = 6 };
    rlv_engine *off = NULL, *on = NULL;
    rlv_worker *w_off = NULL;
    open_pair(0, 0, &off, &w_off);
    for (int img = 0; img < 2; img++) {
        rlv_job j = job_of(img, N, PROMPT);
        take(&base[img][N], score(w_off, &j));
    }
    open_pair(0, (size_t)64 << 20, &on, NULL);
    int hits = 0;
    for (int img = 0; img < 2; img++) {
        pthread_t th[T];
        race_arg a[T];
        for (int i = 0; i < T; i++) {
            a[i] = (race_arg){on, img, N, 0, 0};
            assert_int_equal(pthread_create(&th[i], NULL, race, &a[i]), 0);
        }
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(a[i].bad, 0);
            hits += a[i].hits;
        }
    }
    rlv_engine_info in;
    rlv_engine_get_info(on, &in);
    assert_int_equal(in.prefix_cache_hits + in.prefix_cache_misses, 2 * T * 6 * 2);
    assert_int_equal(in.prefix_cache_entries, 4);
    assert_true(hits >= 2 * T * (6 - 1)); /* a worker misses only before the first entry is published */
    rlv_worker_free(&w_off);
    rlv_engine_free(&off);
    rlv_engine_free(&on);
}

int main(void) {
    for (int i = 0; i < NMAX; i++) {
        int k = i % 5 + 1;
        snprintf(cand_text[i], sizeof cand_text[i], "%s candidate %d%s", i % 2 ? "A sheep" : "The car", i,
                 k > 2 ? ", and a flock of sheep on a road." : ".");
        cands[i] = cand_text[i];
        cand_lens[i] = strlen(cand_text[i]);
    }
    jpeg = slurp(RLV_SOURCE_DIR "/tests/data/images/car_sheep.jpeg", &jpeg_len);
    if (!jpeg) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e2e_pair),
        cmocka_unit_test(test_demo_pair),
        cmocka_unit_test(test_concurrent),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(jpeg);
    return rc;
}
