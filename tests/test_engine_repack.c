/* test_engine_repack.c — rlv_engine_opts.repack (setting repack-weights) and .stream (setting
 * stream-weights) through rlv_score: with
 * the weights repacked into the kernel's panels, every token log-prob and reward of a job equals
 * the one with the weights read as stored bit for bit (products of at most 4 rows run on the
 * tiles with repacked weights and on the gemv without; both sum in the same order, test_mm
 * test_rows); `info` reports the copies, a reference's vision tensors identical to
 * the policy's are copied once, `auto` repacks models that fit in memory, `off` copies nothing. With
 * compute bf16 (where the CPU has it), whose kernel reads repacked bf16 panels in place in its own
 * layout, repacked equals as stored too. With the decoders' layers and the vision tower's blocks
 * read directly into a worker's slots (stream on; repacked or not), the same bits as read from the
 * mapping. Checkpoints whose products' weights are stored as panels (rlaifv convert --panels, the
 * fixture fx_panels): the same bits again, in every repack and stream mode, nothing copied
 * with repack off (their panels read directly with stream on), the panels copied as they are
 * with auto|on; shared vision stays shared; another kernel's layout refused. */
#include <math.h>
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

static uint8_t *jpeg;
static size_t jpeg_len;
static const char *const CANDS[] = {"A car stopped on a road.", "Sheep are crossing in front of the car.", "A red light.",
                                    "The driver waits for the animals to pass, then drives on slowly.", "Nothing."};

typedef struct out {
    int n, tokens[8];
    double reward[8];
    float logp[2][8][96];
} out;

/* RLV_OK, or RLV_EUNSUPPORTED for compute bf16 on a CPU without AVX512_BF16. *info (may be NULL):
 * the engine's (the bytes it reads directly per job, shares between the models...). */
static int score_with(const char *pol, const char *ref, rlv_repack rp, rlv_compute compute, rlv_stream stream,
                      const uint8_t *img, size_t img_len, out *o, size_t *repacked, rlv_engine_info *info) {
    rlv_engine_opts eo;
    rlv_engine_opts_default(&eo);
    eo.model_dir = pol;
    eo.ref_model_dir = ref;
    eo.repack = rp;
    eo.compute = compute;
    eo.stream = stream;
    eo.blas_threads = 2;
    rlv_engine *e;
    rlv_worker *w;
    rlv_err err = {0};
    int rc = rlv_engine_open(&e, &eo, &err);
    if (rc == RLV_EUNSUPPORTED && compute == RLV_COMPUTE_BF16) return rc;
    if (rc) fail_msg("engine %s: %s", pol, err.msg);
    if (rlv_worker_open(&w, e, &err)) fail_msg("worker: %s", err.msg);
    rlv_engine_info in;
    rlv_engine_get_info(e, &in);
    *repacked = in.repacked_bytes;
    if (info) *info = in;
    size_t lens[5];
    for (int i = 0; i < 5; i++) lens[i] = strlen(CANDS[i]);
    const char *prompt = "Why did the car stop?";
    rlv_job j = {.image = img, .image_len = img_len, .prompt = prompt, .prompt_len = strlen(prompt), .n_candidates = 5,
                 .candidates = CANDS, .candidate_lens = lens, .reward = RLV_REWARD_DEFAULT, .token_logps = 1};
    const rlv_result *res;
    if (rlv_score(w, &j, &res, &err)) fail_msg("score: %s", err.msg);
    memset(o, 0, sizeof *o);
    o->n = res->n;
    for (int r = 0; r < res->n; r++) {
        const rlv_ranked *k = &res->ranking[r];
        int i = k->index;
        assert_true(k->tokens <= 96);
        o->tokens[i] = k->tokens;
        o->reward[i] = k->reward;
        memcpy(o->logp[0][i], k->policy.token_logps, (size_t)k->tokens * sizeof(float));
        if (res->has_reference) memcpy(o->logp[1][i], k->reference.token_logps, (size_t)k->tokens * sizeof(float));
    }
    rlv_worker_free(&w);
    rlv_engine_free(&e);
    return RLV_OK;
}

static int score_on(const char *pol, const char *ref, rlv_repack rp, rlv_compute compute, const uint8_t *img,
                    size_t img_len, out *o, size_t *repacked) {
    return score_with(pol, ref, rp, compute, RLV_STREAM_AUTO, img, img_len, o, repacked, NULL);
}

static void score(const char *pol, const char *ref, rlv_repack rp, const uint8_t *img, size_t img_len, out *o,
                  size_t *repacked) {
    score_on(pol, ref, rp, RLV_COMPUTE_FP32, img, img_len, o, repacked);
}

static void same(const out *a, const out *b, const char *what) {
    assert_int_equal(a->n, b->n);
    double worst = 0;
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->tokens[i], b->tokens[i]);
        double d = fabs(a->reward[i] - b->reward[i]);
        if (d > worst) worst = d;
        for (int m = 0; m < 2; m++)
            for (int t = 0; t < a->tokens[i]; t++) {
                d = fabs((double)a->logp[m][i][t] - b->logp[m][i][t]);
                if (d > worst) worst = d;
            }
    }
    print_message("%s: max |difference| %.3g\n", what, worst);
    assert_true(worst == 0);
}

/* Direct reads of the decoders' layers and the tower's blocks (stream on): the same bits as read
 * from the mapping, every matrix of every layer and block read from a slot; auto leaves a model that fits mapped; with the
 * weights repacked there is less (on the packed kernels: nothing) left to read directly. */
static void stream_pair(const char *pol, const char *ref, const char *what) {
    out a, b;
    size_t ra, rb, sb, s0 = 0;
    rlv_engine_info in;
    char msg[256];
    for (int img = 0; img < 2; img++) {
        score_with(pol, ref, RLV_REPACK_OFF, RLV_COMPUTE_FP32, RLV_STREAM_OFF, img ? jpeg : NULL, img ? jpeg_len : 0,
                   &a, &ra, &in);
        assert_int_equal(in.streamed_bytes, 0);
        for (int rep = 0; rep < 2; rep++) {
            score_with(pol, ref, rep ? RLV_REPACK_ON : RLV_REPACK_OFF, RLV_COMPUTE_FP32, RLV_STREAM_ON,
                       img ? jpeg : NULL, img ? jpeg_len : 0, &b, &rb, &in);
            sb = in.streamed_bytes;
            snprintf(msg, sizeof msg, "%s, read directly (%zu bytes a job, %zu repacked), %s image", what, sb, rb,
                     img ? "with" : "without");
            same(&a, &b, msg);
            if (!rep) assert_true((s0 = sb) > 0);
            else if (rb > 0) assert_true(sb < s0); /* repacked matrices are not read from the files */
            else assert_int_equal(sb, s0);         /* the generic kernel repacks nothing */
        }
        score_with(pol, ref, RLV_REPACK_OFF, RLV_COMPUTE_FP32, RLV_STREAM_AUTO, img ? jpeg : NULL, img ? jpeg_len : 0,
                   &b, &rb, &in);
        assert_int_equal(in.streamed_bytes, 0); /* a test model fits in memory */
    }
}

static void pair(const char *pol, const char *ref, const char *what) {
    out a, b, c;
    size_t ra, rb, rc, rp1;
    for (int img = 0; img < 2; img++) {
        score(pol, ref, RLV_REPACK_OFF, img ? jpeg : NULL, img ? jpeg_len : 0, &a, &ra);
        score(pol, ref, RLV_REPACK_ON, img ? jpeg : NULL, img ? jpeg_len : 0, &b, &rb);
        score(pol, ref, RLV_REPACK_AUTO, img ? jpeg : NULL, img ? jpeg_len : 0, &c, &rc);
        assert_int_equal(ra, 0);
        assert_true(rb > 0);
        assert_int_equal(rc, rb); /* a test model fits in memory */
        same(&a, &b, what);
        same(&a, &c, what);
    }
    score(pol, NULL, RLV_REPACK_ON, jpeg, jpeg_len, &a, &rp1);
    print_message("%s: repacked %zu bytes for the policy, %zu for the pair\n", what, rp1, rb);
    assert_true(rb > rp1 && rb <= 2 * rp1);
    stream_pair(pol, ref, what);
    /* bf16 compute: its kernel reads repacked bf16 panels in place, in its own layout */
    if (score_on(pol, ref, RLV_REPACK_OFF, RLV_COMPUTE_BF16, jpeg, jpeg_len, &a, &ra) == RLV_EUNSUPPORTED) {
        print_message("%s: compute bf16 refused on this CPU (no AVX512_BF16), as documented\n", what);
        return;
    }
    assert_int_equal(score_on(pol, ref, RLV_REPACK_ON, RLV_COMPUTE_BF16, jpeg, jpeg_len, &b, &rb), RLV_OK);
    assert_true(rb > 0);
    same(&a, &b, "compute bf16");
}

static void test_e2e_pair(void **st) {
    (void)st;
    pair(RLV_TEST_DATA "/e2e/policy", RLV_TEST_DATA "/e2e/reference", "e2e pair");
}

/* the demo pair's reference has the policy's vision bytes: copied once */
static void test_demo_pair(void **st) {
    (void)st;
    out a;
    size_t rp1, rb;
    pair(RLV_SOURCE_DIR "/models/demo/policy", RLV_SOURCE_DIR "/models/demo/reference", "demo pair");
    score(RLV_SOURCE_DIR "/models/demo/policy", NULL, RLV_REPACK_ON, jpeg, jpeg_len, &a, &rp1);
    score(RLV_SOURCE_DIR "/models/demo/policy", RLV_SOURCE_DIR "/models/demo/reference", RLV_REPACK_ON, jpeg, jpeg_len, &a, &rb);
    assert_true(rb < 2 * rp1);
}

/* The pair pol/ref converted to panels (pp/pr): every mode scores the original's bits. */
static void panel_pair(const char *pol, const char *ref, const char *pp, const char *pr, const char *what) {
    out a, b;
    size_t ra, rb, rp, sb, s_orig, s_pan = 0;
    rlv_engine_info in;
    char msg[256];
    score_with(pol, ref, RLV_REPACK_OFF, RLV_COMPUTE_FP32, RLV_STREAM_OFF, jpeg, jpeg_len, &a, &ra, &in);
    s_orig = in.shared_bytes; /* the reference's bytes served from the policy's */
    score_with(pol, ref, RLV_REPACK_ON, RLV_COMPUTE_FP32, RLV_STREAM_OFF, NULL, 0, &b, &rp, NULL);
    for (int rep = 0; rep < 3; rep++)
        for (int sm = 0; sm < 2; sm++) {
            score_with(pp, pr, (rlv_repack)rep, RLV_COMPUTE_FP32, sm ? RLV_STREAM_ON : RLV_STREAM_OFF, jpeg, jpeg_len,
                       &b, &rb, &in);
            sb = in.streamed_bytes;
            if (rep == RLV_REPACK_OFF && !sm) s_pan = in.shared_bytes;
            snprintf(msg, sizeof msg, "%s as panels, repack %s, stream %s (%zu bytes copied, %zu read directly)", what,
                     rlv_repack_name((rlv_repack)rep), sm ? "on" : "off", rb, sb);
            same(&a, &b, msg);
            /* off: nothing copied, the panels read where they lie (the files' direct reads with
             * stream on); auto|on: the panels copied as they are, the rest repacked — as many
             * bytes as the original's repacked copies (the pair fits this machine's memory) */
            if (rep == RLV_REPACK_OFF) assert_int_equal(rb, 0);
            else assert_int_equal(rb, rp);
            if (sm && rep == RLV_REPACK_OFF) assert_true(sb > 0);
            if (rep != RLV_REPACK_OFF) assert_int_equal(sb, 0);
        }
    print_message("%s: %zu bytes shared as stored, %zu as panels\n", what, s_orig, s_pan);
    assert_int_equal(s_pan, s_orig);
    /* another layout: the bf16 kernel's pairs where the CPU has it, else compute bf16 is refused anyway */
    rlv_engine_opts eo;
    rlv_engine_opts_default(&eo);
    eo.model_dir = pp;
    eo.compute = RLV_COMPUTE_BF16;
    eo.model_dir = pol;
    rlv_engine *e = NULL;
    rlv_err err = {0};
    int bf16 = rlv_engine_open(&e, &eo, &err) == RLV_OK; /* this CPU has AVX512_BF16 */
    rlv_engine_free(&e);
    eo.model_dir = pp;
    assert_int_equal(rlv_engine_open(&e, &eo, &err), RLV_EUNSUPPORTED);
    assert_null(e);
    print_message("%s, compute bf16: %s\n", what, err.msg);
    if (bf16) assert_non_null(strstr(err.msg, "stored as panels of layout nr"));
}

static void test_panels(void **st) {
    (void)st;
    panel_pair(RLV_TEST_DATA "/e2e/policy", RLV_TEST_DATA "/e2e/reference", RLV_TEST_DATA "/panels/e2e/policy",
               RLV_TEST_DATA "/panels/e2e/reference", "e2e pair");
    panel_pair(RLV_SOURCE_DIR "/models/demo/policy", RLV_SOURCE_DIR "/models/demo/reference",
               RLV_TEST_DATA "/panels/demo/policy", RLV_TEST_DATA "/panels/demo/reference", "demo pair");
}

static void test_names(void **st) {
    (void)st;
    static const char *const words[] = {"off", "auto", "on"}; /* both enums' values 0, 1, 2 */
    for (int i = 0; i < 3; i++) {
        rlv_repack r;
        rlv_stream sm;
        assert_int_equal(rlv_repack_parse(words[i], &r), RLV_OK);
        assert_int_equal(rlv_stream_parse(words[i], &sm), RLV_OK);
        assert_int_equal(r, i);
        assert_int_equal(sm, i);
        assert_string_equal(rlv_repack_name((rlv_repack)i), words[i]);
        assert_string_equal(rlv_stream_name((rlv_stream)i), words[i]);
    }
    rlv_repack r;
    rlv_stream sm;
    assert_int_equal(rlv_repack_parse("yes", &r), RLV_EINVAL);
    assert_int_equal(rlv_stream_parse("always", &sm), RLV_EINVAL);
    assert_null(rlv_repack_name((rlv_repack)7));
    assert_null(rlv_stream_name((rlv_stream)5));
    rlv_engine_opts eo;
    rlv_engine_opts_default(&eo);
    assert_int_equal(eo.repack, RLV_REPACK_OFF);
    assert_int_equal(eo.stream, RLV_STREAM_AUTO);
    eo.model_dir = RLV_TEST_DATA "/e2e/policy";
    rlv_engine *e = NULL;
    rlv_err err = {0};
    eo.stream = (rlv_stream)4;
    assert_int_equal(rlv_engine_open(&e, &eo, &err), RLV_EINVAL);
    assert_null(e);
    eo.stream = RLV_STREAM_AUTO;
    eo.repack = (rlv_repack)9;
    assert_int_equal(rlv_engine_open(&e, &eo, &err), RLV_EINVAL);
    assert_null(e);
    /* a limit past Mistral's 4096-token window is refused, not silently attended in full */
    eo.repack = RLV_REPACK_OFF;
    eo.max_seq_tokens = 4097;
    assert_int_equal(rlv_engine_open(&e, &eo, &err), RLV_ECONFIG);
    assert_non_null(strstr(err.msg, "sliding_window 4096"));
    eo.max_seq_tokens = 4096;
    assert_int_equal(rlv_engine_open(&e, &eo, &err), RLV_OK);
    rlv_engine_free(&e);
}

int main(void) {
    jpeg = slurp(RLV_SOURCE_DIR "/tests/data/images/car_sheep.jpeg", &jpeg_len);
    if (!jpeg) {
        fprintf(stderr, "test_engine_repack: cannot read tests/data/images/car_sheep.jpeg\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_names), cmocka_unit_test(test_e2e_pair),
                                       cmocka_unit_test(test_demo_pair), cmocka_unit_test(test_panels)};
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(jpeg);
    return rc;
}
