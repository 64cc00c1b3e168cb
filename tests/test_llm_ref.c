/* test_llm_ref.c — the decoder's per-token log-probs against tests/reference/ref_llm.py
 * (float64, one full forward per candidate, no cache) within 1e-4 absolute, on small random
 * checkpoints: bf16 / f16 / f32 weights, GQA ratios 4, 2 and 1, vocab 32009 and small ones,
 * image-slot embedding rows in the prefix, N = 1..16 candidates of 1 to 400 tokens packed in
 * one batch. Plus: shape validation, limits and bad input as error values, workspace reuse,
 * two worker threads sharing one model, and log-probs on pools of 1, 2 and 3 threads. */
#include <math.h>
#include <pthread.h>
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

#include "ckpt.h"
#include "model_config.h"
#include "half.h"
#include "llm.h"
#include "cpu.h"
#include "mm.h"
#include "pool.h"
#include "clock.h"
#include "test_util.h"

#define DATA RLV_TEST_DATA "/llm"
#define TOL 1e-4

typedef struct lcase {
    char ckpt[512];
    int P;
    int32_t *prefix;
    int n_emb;
    int *emb_pos;
    float *emb;       /* [n_emb][hidden] */
    int n;            /* candidates */
    int *lens;
    int32_t **cand;
    double **exp;     /* reference log-probs */
    int total;
} lcase;

/* The products of every single-threaded test run on this 2-thread pool. */
static rlv_pool *g_pool;
static mm_ctx *g_mm;

static int expect_word(FILE *f, const char *w) {
    char buf[64];
    return fscanf(f, "%63s", buf) == 1 && strcmp(buf, w) == 0;
}

static lcase *case_load(const char *name) {
    char path[512];
    snprintf(path, sizeof path, DATA "/%s.txt", name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    lcase *c = calloc(1, sizeof *c);
    char emb_file[512];
    assert_true(expect_word(f, "ckpt") && fscanf(f, "%511s", c->ckpt) == 1);
    assert_true(expect_word(f, "prefix") && fscanf(f, "%d", &c->P) == 1 && c->P > 0);
    c->prefix = calloc((size_t)c->P, sizeof(int32_t));
    for (int i = 0; i < c->P; i++) assert_int_equal(fscanf(f, "%d", &c->prefix[i]), 1);
    assert_true(expect_word(f, "emb") && fscanf(f, "%d %511s", &c->n_emb, emb_file) == 2);
    c->emb_pos = calloc((size_t)c->n_emb + 1, sizeof(int));
    for (int i = 0; i < c->n_emb; i++) assert_int_equal(fscanf(f, "%d", &c->emb_pos[i]), 1);
    assert_true(expect_word(f, "ncand") && fscanf(f, "%d", &c->n) == 1 && c->n > 0);
    c->lens = calloc((size_t)c->n, sizeof(int));
    c->cand = calloc((size_t)c->n, sizeof(int32_t *));
    c->exp = calloc((size_t)c->n, sizeof(double *));
    for (int i = 0; i < c->n; i++) {
        int t;
        assert_true(expect_word(f, "cand") && fscanf(f, "%d", &c->lens[i]) == 1 && c->lens[i] > 0);
        c->cand[i] = calloc((size_t)c->lens[i], sizeof(int32_t));
        c->exp[i] = calloc((size_t)c->lens[i], sizeof(double));
        for (int j = 0; j < c->lens[i]; j++) assert_int_equal(fscanf(f, "%d", &c->cand[i][j]), 1);
        assert_true(expect_word(f, "logp") && fscanf(f, "%d", &t) == 1 && t == c->lens[i]);
        for (int j = 0; j < t; j++) assert_int_equal(fscanf(f, "%lf", &c->exp[i][j]), 1);
        c->total += c->lens[i];
    }
    fclose(f);
    if (c->n_emb) {
        FILE *e = fopen(emb_file, "rb");
        assert_non_null(e);
        fseek(e, 0, SEEK_END);
        long sz = ftell(e);
        fseek(e, 0, SEEK_SET);
        c->emb = malloc((size_t)sz);
        assert_int_equal(fread(c->emb, 1, (size_t)sz, e), (size_t)sz);
        fclose(e);
    }
    return c;
}

static void case_free(lcase *c) {
    for (int i = 0; i < c->n; i++) free(c->cand[i]), free(c->exp[i]);
    free(c->cand), free(c->exp), free(c->lens), free(c->prefix), free(c->emb_pos), free(c->emb);
    free(c);
}

typedef struct loaded {
    ckpt *ck;
    rlv_model_config cfg;
    llm_model *m;
} loaded;

static void load_model(loaded *L, const char *dir) {
    rlv_err e = {0};
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    assert_int_equal(model_config_load(&L->cfg, p, &e), RLV_OK);
    assert_int_equal(ckpt_open(&L->ck, dir, &e), RLV_OK);
    int rc = llm_model_init(&L->m, L->ck, &L->cfg, &e);
    if (rc) fprintf(stderr, "llm_model_init: %s\n", e.msg);
    assert_int_equal(rc, RLV_OK);
}

static void unload_model(loaded *L) {
    llm_model_free(&L->m);
    ckpt_free(&L->ck);
}

/* Scores candidates [0, n) of c in one batch on ws; returns max |got - expected|. */
static double score_cmp(llm_ws *ws, const lcase *c, int n) {
    rlv_err e = {0};
    int total = 0;
    for (int i = 0; i < n; i++) total += c->lens[i];
    double *lp = malloc((size_t)total * sizeof(double)), *sums = malloc((size_t)n * sizeof(double));
    int rc = llm_score(ws, (const int32_t *const *)c->cand, c->lens, n, lp, sums, &e);
    if (rc) fprintf(stderr, "llm_score: %s\n", e.msg);
    assert_int_equal(rc, RLV_OK);
    double worst = 0;
    int o = 0;
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < c->lens[i]; j++, o++) {
            double d = fabs(lp[o] - c->exp[i][j]);
            if (!(d <= worst)) worst = d;  /* NaN propagates as a failure */
            s += c->exp[i][j];
        }
        assert_true(fabs(sums[i] - s) <= TOL * c->lens[i]);
    }
    free(lp), free(sums);
    return worst;
}

static llm_ws *ws_for(const llm_model *m, const lcase *c) {
    llm_limits lim = {c->P, c->total, c->n};
    llm_ws *ws = NULL;
    rlv_err e = {0};
    assert_int_equal(llm_ws_init(&ws, m, &lim, g_mm, &e), RLV_OK);
    return ws;
}

static void prefix_ok(llm_ws *ws, const lcase *c) {
    rlv_err e = {0};
    int rc = llm_prefix(ws, c->prefix, c->P, c->emb, c->emb_pos, c->n_emb, &e);
    if (rc) fprintf(stderr, "llm_prefix: %s\n", e.msg);
    assert_int_equal(rc, RLV_OK);
}

/* All candidates of a case in one batch (and, with all_n, the first N of them for every N). */
static void check_case(const char *name, int all_n) {
    lcase *c = case_load(name);
    loaded L = {0};
    load_model(&L, c->ckpt);
    llm_ws *ws = ws_for(L.m, c);
    prefix_ok(ws, c);
    double worst = score_cmp(ws, c, c->n);
    printf("%-22s N=%2d, %4d tokens, max |logp - ref| = %.3g\n", name, c->n, c->total, worst);
    assert_true(worst <= TOL);
    if (all_n) { /* N = 1 .. n: the first N candidates in one batch, same prefix */
        for (int n = 1; n < c->n; n++) {
            double w = score_cmp(ws, c, n);
            assert_true(w <= TOL);
            if (w > worst) worst = w;
        }
        printf("%-22s N=1..%d, max |logp - ref| = %.3g\n", name, c->n, worst);
    }
    llm_ws_free(&ws);
    assert_null(ws);
    unload_model(&L);
    case_free(c);
}

static void test_bf16_gqa4_n1_to_16(void **s) { (void)s; check_case("bf16_gqa4_n16", 1); }
static void test_f32_gqa1(void **s) { (void)s; check_case("f32_gqa1_n4", 1); }
static void test_f16_gqa2(void **s) { (void)s; check_case("f16_gqa2_n8", 1); }
static void test_bf16_long(void **s) { (void)s; check_case("bf16_gqa1_long", 0); }
static void test_prefix_bos_only(void **s) { (void)s; check_case("bf16_gqa4_prefix1", 0); }
static void test_prefix_all_slots(void **s) { (void)s; check_case("f32_gqa1_allslots", 0); }

/* One workspace, larger than needed, reused across prefixes of two jobs and repeated calls:
 * results do not depend on what ran before. */
static void test_ws_reuse(void **s) {
    (void)s;
    lcase *a = case_load("bf16_gqa4_n16"), *b = case_load("bf16_gqa4_prefix1");
    loaded L = {0};
    load_model(&L, a->ckpt);
    llm_limits lim = {a->P + 7, a->total + 100, a->n + 3};
    llm_ws *ws = NULL;
    rlv_err e = {0};
    assert_int_equal(llm_ws_init(&ws, L.m, &lim, g_mm, &e), RLV_OK);
    assert_true(llm_ws_kv_bytes(ws) > 0 && llm_ws_scratch_bytes(ws) > 0);
    prefix_ok(ws, a);
    assert_true(score_cmp(ws, a, a->n) <= TOL);
    prefix_ok(ws, b);
    assert_true(score_cmp(ws, b, b->n) <= TOL);
    assert_true(score_cmp(ws, b, b->n) <= TOL);
    prefix_ok(ws, a);
    assert_true(score_cmp(ws, a, 3) <= TOL);
    llm_ws_free(&ws);
    llm_ws_free(&ws);  /* NULL: no-op */
    unload_model(&L);
    case_free(a), case_free(b);
}

/* Direct reads of the layers (llm_model_stream, design note 7), on a copy of case `name`'s
 * checkpoint: every layer is served from the workspace's slots (no read fails, one item per
 * layer per pass), the log-probs are the same bits as read from the mapping and match the
 * reference. Then the file is replaced by one whose layer-1 down_proj is zero: the mapping keeps
 * the old bytes, a new workspace reads the new ones, and its log-probs change — the products
 * read the slots, not the mapping. f32, f16 and bf16 weights. */
static void stream_case(const char *name) {
    lcase *c = case_load(name);
    char dir[600], file[700], src[700];
    snprintf(dir, sizeof dir, "%s/stream_%s", RLV_TEST_DATA, name);
    snprintf(src, sizeof src, "%s/model.safetensors", c->ckpt);
    size_t n = 0;
    uint8_t *bytes = slurp(src, &n);
    assert_non_null(bytes);
    assert_int_equal(mkdir(dir, 0755) == 0 || errno == EEXIST, 1);
    snprintf(file, sizeof file, "%s/config.json", c->ckpt);
    size_t cn = 0;
    void *cfg = slurp(file, &cn);
    assert_non_null(cfg);
    snprintf(file, sizeof file, "%s/config.json", dir);
    assert_int_equal(replace_file(file, cfg, cn), 0);
    free(cfg);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    assert_int_equal(replace_file(file, bytes, n), 0);
    loaded L = {0};
    load_model(&L, dir);
    llm_ws *ws = ws_for(L.m, c);
    double *a = malloc((size_t)c->total * sizeof(double)), *b = malloc((size_t)c->total * sizeof(double));
    rlv_err e = {0};
    prefix_ok(ws, c);
    assert_int_equal(llm_score(ws, (const int32_t *const *)c->cand, c->lens, c->n, a, NULL, &e), RLV_OK);
    assert_int_equal(llm_ws_stream_bytes(ws), 0);
    llm_ws_free(&ws);
    assert_int_equal(llm_model_stream(L.m, L.ck, &e), RLV_OK);
    size_t slot = 0, per_pass = llm_model_stream_bytes(L.m, &slot);
    assert_true(per_pass > 0 && slot > 0 && slot < per_pass);
    ws = ws_for(L.m, c);
    assert_true(llm_ws_stream_bytes(ws) >= 2 * slot);
    for (int round = 0; round < 2; round++) {
        prefix_ok(ws, c);
        memset(b, 0, (size_t)c->total * sizeof(double));
        assert_int_equal(llm_score(ws, (const int32_t *const *)c->cand, c->lens, c->n, b, NULL, &e), RLV_OK);
        assert_memory_equal(a, b, (size_t)c->total * sizeof(double));
    }
    assert_true(score_cmp(ws, c, c->n) <= TOL);
    wstream_stats st;
    llm_ws_stream_stats(ws, &st);
    int passes = 2 * 2 + 1; /* two prefix + score rounds, then score_cmp's */
    assert_int_equal(st.failed, 0);
    assert_true(st.items >= (uint64_t)(passes * L.cfg.num_hidden_layers));
    assert_true(st.bytes >= passes * per_pass);
    /* deadlines ever later, until a prefix stops between two layers (the stream aborts its pass)
     * and until one completes: every pass after a stop starts at layer 0 with the same bits */
    int mid = 0, done = 0;
    char want[64];
    for (double ms = 0.01; ms < 1e6 && !done; ms *= 1.05) { /* 5 % steps: a stop falls inside a pass */
        llm_ws_set_deadline(ws, clock_now_ms() + ms);
        int rc = llm_prefix(ws, c->prefix, c->P, c->emb, c->emb_pos, c->n_emb, &e);
        done = rc == RLV_OK;
        if (rc == RLV_ETIMEOUT && !strstr(e.msg, "after 0 of")) {
            snprintf(want, sizeof want, "after %d of", L.cfg.num_hidden_layers);
            assert_null(strstr(e.msg, want));
            mid++;
        } else if (!done) assert_int_equal(rc, RLV_ETIMEOUT);
        llm_ws_set_deadline(ws, 0);
        if (rc == RLV_ETIMEOUT && mid <= 3) {
            prefix_ok(ws, c);
            assert_int_equal(llm_score(ws, (const int32_t *const *)c->cand, c->lens, c->n, b, NULL, &e), RLV_OK);
            assert_memory_equal(a, b, (size_t)c->total * sizeof(double));
        }
    }
    printf("%-22s %d prefixes stopped between layers, then a complete one: %d\n", name, mid, done);
    assert_true(mid > 0 && done);
    llm_ws_free(&ws);
    /* the same file name, other bytes: only direct reads see them */
    const rlv_tensor *down = ckpt_find(L.ck, "model.layers.1.mlp.down_proj.weight");
    const char *path;
    uint64_t off;
    assert_non_null(down);
    assert_int_equal(ckpt_locate(L.ck, down->data, down->nbytes, &path, &off), RLV_OK);
    assert_string_equal(path, file);
    memset(bytes + off, 0, down->nbytes);
    assert_int_equal(replace_file(file, bytes, n), 0);
    ws = ws_for(L.m, c);
    prefix_ok(ws, c);
    assert_int_equal(llm_score(ws, (const int32_t *const *)c->cand, c->lens, c->n, b, NULL, &e), RLV_OK);
    assert_memory_not_equal(a, b, (size_t)c->total * sizeof(double));
    printf("%-22s read directly: %zu bytes a pass, %llu layers loaded, the same bits; changed file seen\n", name,
           per_pass, (unsigned long long)st.items);
    llm_ws_free(&ws);
    free(a), free(b), free(bytes);
    unload_model(&L);
    case_free(c);
}

static void test_stream(void **s) {
    (void)s;
    stream_case("bf16_gqa4_n16");
    stream_case("f32_gqa1_n4");
    stream_case("f16_gqa2_n8");
}

/* Log-probs of all candidates of case `name` (bf16 weights) on a pool of nth threads, into lp. */
static void score_on(const char *name, int nth, double *lp, int cap) {
    lcase *c = case_load(name);
    assert_true(c->total <= cap);
    loaded L = {0};
    load_model(&L, c->ckpt);
    rlv_pool *p = NULL;
    mm_ctx *mm = NULL;
    llm_ws *ws = NULL;
    rlv_err e = {0};
    llm_limits lim = {c->P, c->total, c->n};
    assert_int_equal(pool_init(&p, nth, &e), RLV_OK);
    assert_int_equal(mm_ctx_init(&mm, p, MM_COMPUTE_F32, &e), RLV_OK);
    assert_int_equal(llm_ws_init(&ws, L.m, &lim, mm, &e), RLV_OK);
    prefix_ok(ws, c);
    assert_int_equal(llm_score(ws, (const int32_t *const *)c->cand, c->lens, c->n, lp, NULL, &e), RLV_OK);
    llm_ws_free(&ws);
    mm_ctx_free(&mm);
    pool_free(&p);
    unload_model(&L);
    case_free(c);
}

/* Every stage of llm.c splits its work in the same pieces whatever the thread count (attention
 * items, rows), so it computes the same bits on any pool: with the weight products run on one
 * thread (tried by hand), 1, 2 and 3 threads give identical log-probs. The products split their
 * output columns by the thread count and OpenBLAS does not round a column the same way at every
 * width, so across the whole forward the log-probs agree to ~2e-6, not bitwise: the bound is
 * TOL / 10. The cases cover segments crossing the attention's 64-row blocks (16 candidates) and
 * a candidate longer than several blocks. */
static void test_thread_counts(void **s) {
    (void)s;
    const char *names[] = {"bf16_gqa4_n16", "bf16_gqa1_long"};
    enum { CAP = 4096 };
    double *a = malloc(CAP * sizeof(double)), *b = malloc(CAP * sizeof(double));
    for (int i = 0; i < 2; i++) {
        lcase *c = case_load(names[i]);
        int total = c->total;
        case_free(c);
        score_on(names[i], 1, a, CAP);
        for (int nth = 2; nth <= 3; nth++) {
            score_on(names[i], nth, b, CAP);
            double worst = 0;
            for (int k = 0; k < total; k++) worst = fmax(worst, fabs(a[k] - b[k]));
            printf("%-22s %d threads vs 1: max |diff| = %.3g over %d log-probs\n", names[i], nth, worst, total);
            assert_true(worst <= TOL / 10);
        }
    }
    free(a), free(b);
}

/* llm_prefix_score: one pass over prefix and candidates gives the reference's log-probs and the
 * same bits as llm_prefix then llm_score (the rows of a product and of an attention block are
 * computed alike whatever else is in the batch); ws keeps the prefix for further llm_score calls; with limits too small for one pass
 * it runs the two calls; a refused batch or a passed deadline leaves no prefix. */
static void test_prefix_score(void **s) {
    (void)s;
    const char *names[] = {"bf16_gqa4_n16", "f32_gqa1_n4", "f16_gqa2_n8", "bf16_gqa1_long", "bf16_gqa4_prefix1",
                           "f32_gqa1_allslots"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        lcase *c = case_load(names[i]);
        loaded L = {0};
        load_model(&L, c->ckpt);
        rlv_err e = {0};
        llm_ws *one = NULL, *two = NULL;
        llm_limits lim1 = {c->P, c->P + c->total, c->n}, lim2 = {c->P, c->total, c->n};
        assert_int_equal(llm_ws_init(&one, L.m, &lim1, g_mm, &e), RLV_OK);
        assert_int_equal(llm_ws_init(&two, L.m, &lim2, g_mm, &e), RLV_OK);
        double *f = malloc((size_t)c->total * sizeof(double)), *g = malloc((size_t)c->total * sizeof(double));
        double *sums = malloc((size_t)c->n * sizeof(double));
        const int32_t *const *cand = (const int32_t *const *)c->cand;
        int rc = llm_prefix_score(one, c->prefix, c->P, c->emb, c->emb_pos, c->n_emb, cand, c->lens, c->n, f, sums, &e);
        if (rc) fprintf(stderr, "llm_prefix_score: %s\n", e.msg);
        assert_int_equal(rc, RLV_OK);
        prefix_ok(two, c);
        assert_int_equal(llm_score(two, cand, c->lens, c->n, g, NULL, &e), RLV_OK);
        double worst = 0, diff = 0;
        for (int n = 0, o = 0; n < c->n; n++) {
            double sum = 0;
            for (int j = 0; j < c->lens[n]; j++, o++) {
                worst = fmax(worst, fabs(f[o] - c->exp[n][j]));
                diff = fmax(diff, fabs(f[o] - g[o]));
                sum += f[o];
            }
            assert_true(sums[n] == sum);
        }
        printf("%-22s one pass: P=%d, %d tokens, max |logp - ref| = %.3g, max |one pass - two| = %.3g\n", names[i],
               c->P, c->total, worst, diff);
        assert_true(worst <= TOL);
        /* bitwise on our kernels (test_mm test_rows); OpenBLAS may round a row by the batch */
        assert_true(diff <= (strcmp(mm_kernel_name(g_mm), "generic") ? 0.0 : TOL / 10));
        /* the prefix stays: scored again on its own, and saved */
        assert_true(score_cmp(one, c, c->n) <= TOL);
        size_t vb = llm_prefix_state_bytes(L.m, c->P);
        void *st = malloc(vb);
        assert_int_equal(llm_prefix_save(one, st, vb, &e), RLV_OK);
        free(st);
        /* limits too small for one pass (P + rows > max(max_prefix, max_cand_tokens)): two calls */
        if (c->P + c->total - c->n > (c->P > c->total ? c->P : c->total)) {
            assert_int_equal(llm_prefix_score(two, c->prefix, c->P, c->emb, c->emb_pos, c->n_emb, cand, c->lens, c->n,
                                              f, NULL, &e), RLV_OK);
            for (int k = 0; k < c->total; k++) assert_true(f[k] == g[k]);
        }
        /* refused: a candidate token outside the vocabulary, then a passed deadline; no prefix stays */
        int32_t bad[2] = {5, 32009};
        const int32_t *badp[1] = {bad};
        int blen[1] = {2};
        assert_int_equal(llm_prefix_score(one, c->prefix, c->P, c->emb, c->emb_pos, c->n_emb, badp, blen, 1, f, NULL, &e),
                         RLV_EINVAL);
        assert_int_equal(llm_score(one, cand, c->lens, c->n, f, NULL, &e), RLV_EINVAL);
        llm_ws_set_deadline(one, 1.0);
        assert_int_equal(llm_prefix_score(one, c->prefix, c->P, c->emb, c->emb_pos, c->n_emb, cand, c->lens, c->n, f,
                                          NULL, &e), RLV_ETIMEOUT);
        assert_non_null(strstr(e.msg, "prefix and candidates"));
        assert_int_equal(llm_score(one, cand, c->lens, c->n, f, NULL, &e), RLV_EINVAL);
        free(f), free(g), free(sums);
        llm_ws_free(&one);
        llm_ws_free(&two);
        unload_model(&L);
        case_free(c);
    }
}

typedef struct job { const llm_model *m; const lcase *c; double worst; } job;

static void *worker(void *arg) {
    job *j = arg;
    llm_limits lim = {j->c->P, j->c->total, j->c->n};
    llm_ws *ws = NULL;
    mm_ctx *mm = NULL;  /* each worker its own context, as rlv_worker has */
    rlv_err e = {0};
    j->worst = 1e9;
    if (mm_ctx_init(&mm, NULL, MM_COMPUTE_F32, &e)) return NULL;
    if (llm_ws_init(&ws, j->m, &lim, mm, &e)) { mm_ctx_free(&mm); return NULL; }
    double *lp = malloc((size_t)j->c->total * sizeof(double));
    double worst = 0;
    for (int rep = 0; rep < 3; rep++) {
        if (llm_prefix(ws, j->c->prefix, j->c->P, j->c->emb, j->c->emb_pos, j->c->n_emb, &e)) goto out;
        if (llm_score(ws, (const int32_t *const *)j->c->cand, j->c->lens, j->c->n, lp, NULL, &e)) goto out;
        for (int i = 0, o = 0; i < j->c->n; i++)
            for (int t = 0; t < j->c->lens[i]; t++, o++) {
                double d = fabs(lp[o] - j->c->exp[i][t]);
                if (!(d <= worst)) worst = d;
            }
    }
    j->worst = worst;
out:
    free(lp);
    llm_ws_free(&ws);
    mm_ctx_free(&mm);
    return NULL;
}

/* Drift bound of the optional bf16 compute mode (activations and weights rounded to bf16,
 * fp32 sums) from the float64 reference, per token log-prob, on these tiny random models.
 * Measured: see docs/performance.md "Matrix kernels"; the bound leaves about 3x headroom. */
#define BF16_TOL 0.05

/* compute bf16: runs within BF16_TOL of the reference where the CPU has AVX512_BF16; refused
 * with RLV_EUNSUPPORTED where it does not (asserted, so an AVX2-only CPU passes, not skips). */
static void test_bf16_compute(void **s) {
    (void)s;
    mm_ctx *mm = NULL;
    rlv_err e = {0};
    int rc = mm_ctx_init(&mm, g_pool, MM_COMPUTE_BF16, &e);
    if (!(cpu_features() & CPU_AVX512BF16)) {
        assert_int_equal(rc, RLV_EUNSUPPORTED);
        printf("compute bf16: refused on this CPU (%s)\n", e.msg);
        return;
    }
    assert_int_equal(rc, RLV_OK);
    static const char *names[] = {"bf16_gqa4_n16", "f32_gqa1_n4", "f16_gqa2_n8", "bf16_gqa1_long"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        lcase *c = case_load(names[i]);
        loaded L = {0};
        load_model(&L, c->ckpt);
        llm_limits lim = {c->P, c->total, c->n};
        llm_ws *ws = NULL;
        assert_int_equal(llm_ws_init(&ws, L.m, &lim, mm, &e), RLV_OK);
        prefix_ok(ws, c);
        double *lp = malloc((size_t)c->total * sizeof(double)), worst = 0;
        assert_int_equal(llm_score(ws, (const int32_t *const *)c->cand, c->lens, c->n, lp, NULL, &e), RLV_OK);
        for (int a = 0, o = 0; a < c->n; a++)
            for (int t = 0; t < c->lens[a]; t++, o++) {
                double d = fabs(lp[o] - c->exp[a][t]);
                if (!(d <= worst)) worst = d;
            }
        printf("%-22s compute bf16: max |logp - ref| = %.3g (bound %.3g)\n", names[i], worst, BF16_TOL);
        assert_true(worst <= BF16_TOL);
        free(lp);
        llm_ws_free(&ws);
        unload_model(&L);
        case_free(c);
    }
    mm_ctx_free(&mm);
}

/* Two workers, one shared read-only model, one workspace each, different jobs at once. */
static void test_threads(void **s) {
    (void)s;
    lcase *a = case_load("bf16_gqa4_n16"), *b = case_load("bf16_gqa4_prefix1");
    loaded L = {0};
    load_model(&L, a->ckpt);
    job ja = {L.m, a, 0}, jb = {L.m, b, 0};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, worker, &ja), 0);
    assert_int_equal(pthread_create(&tb, NULL, worker, &jb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_true(ja.worst <= TOL);
    assert_true(jb.worst <= TOL);
    unload_model(&L);
    case_free(a), case_free(b);
}

/* Wrong shapes, missing tensors and bad inputs are error values naming the culprit. */
static void test_errors(void **s) {
    (void)s;
    rlv_err e = {0};
    loaded B = {0};
    char p[600];
    snprintf(p, sizeof p, DATA "/ckpt/bad_kshape/config.json");
    assert_int_equal(model_config_load(&B.cfg, p, &e), RLV_OK);
    assert_int_equal(ckpt_open(&B.ck, DATA "/ckpt/bad_kshape", &e), RLV_OK);
    assert_int_equal(llm_model_init(&B.m, B.ck, &B.cfg, &e), RLV_ESHAPE);
    assert_null(B.m);
    assert_non_null(strstr(e.msg, "model.layers.1.self_attn.k_proj.weight"));
    rlv_model_config cfg2 = B.cfg;
    cfg2.num_key_value_heads = 3;  /* 4 heads are not a multiple of 3 */
    assert_int_equal(llm_model_init(&B.m, B.ck, &cfg2, &e), RLV_ECONFIG);
    ckpt_free(&B.ck);

    lcase *a = case_load("bf16_gqa4_n16");
    loaded L = {0};
    load_model(&L, a->ckpt);
    cfg2 = L.cfg;
    cfg2.num_hidden_layers = 3;  /* layer 2 is not in the file */
    llm_model *m3 = NULL;
    assert_int_equal(llm_model_init(&m3, L.ck, &cfg2, &e), RLV_EMISSING);
    assert_non_null(strstr(e.msg, "model.layers.2."));
    cfg2 = L.cfg;
    cfg2.vocab_size = 32000;  /* embed_tokens has 32009 rows */
    assert_int_equal(llm_model_init(&m3, L.ck, &cfg2, &e), RLV_ESHAPE);
    assert_null(m3);
    llm_limits bad = {0, 10, 1};
    llm_ws *ws = NULL;
    assert_int_equal(llm_ws_init(&ws, L.m, &bad, g_mm, &e), RLV_EINVAL);
    llm_limits lim = {a->P, 50, 4};
    assert_int_equal(llm_ws_init(&ws, L.m, &lim, g_mm, &e), RLV_OK);
    double lp[64];
    /* no prefix yet */
    assert_int_equal(llm_score(ws, (const int32_t *const *)a->cand, a->lens, 1, lp, NULL, &e), RLV_EINVAL);
    assert_int_equal(llm_prefix(ws, a->prefix, a->P + 1, a->emb, a->emb_pos, a->n_emb, &e), RLV_ETOO_LONG);
    assert_int_equal(llm_prefix(ws, a->prefix, 0, NULL, NULL, 0, &e), RLV_EINVAL);
    int32_t badid[2] = {1, 32009};
    assert_int_equal(llm_prefix(ws, badid, 2, NULL, NULL, 0, &e), RLV_EINVAL);
    assert_non_null(strstr(e.msg, "32009"));
    int rep[2] = {3, 3};
    assert_int_equal(llm_prefix(ws, a->prefix, a->P, a->emb, rep, 2, &e), RLV_EINVAL);
    int outside[1] = {a->P};
    assert_int_equal(llm_prefix(ws, a->prefix, a->P, a->emb, outside, 1, &e), RLV_EINVAL);
    prefix_ok(ws, a);
    /* candidate-side limits and values; the prefix survives a refused batch */
    assert_int_equal(llm_score(ws, (const int32_t *const *)a->cand, a->lens, 5, lp, NULL, &e), RLV_ELIMIT);
    int lens_long[2] = {40, 11};
    assert_int_equal(llm_score(ws, (const int32_t *const *)a->cand + 4, lens_long, 2, lp, NULL, &e),
                     RLV_ETOO_LONG);
    int zero[1] = {0};
    assert_int_equal(llm_score(ws, (const int32_t *const *)a->cand, zero, 1, lp, NULL, &e), RLV_EINVAL);
    const int32_t neg[2] = {5, -1};
    const int32_t *negp[1] = {neg};
    int two[1] = {2};
    assert_int_equal(llm_score(ws, negp, two, 1, lp, NULL, &e), RLV_EINVAL);
    assert_true(score_cmp(ws, a, 4) <= TOL);
    /* max_job_ms: a passed deadline stops before the first layer (the candidates' pass keeps the
     * prefix, a stopped prefix leaves none); a later one computes as before */
    llm_ws_set_deadline(ws, 1.0); /* 1 ms after the monotonic clock's origin: long past */
    assert_int_equal(llm_score(ws, (const int32_t *const *)a->cand, a->lens, 4, lp, NULL, &e), RLV_ETIMEOUT);
    assert_non_null(strstr(e.msg, "after 0 of 2 decoder layers"));
    assert_int_equal(llm_prefix(ws, a->prefix, a->P, a->emb, a->emb_pos, a->n_emb, &e), RLV_ETIMEOUT);
    assert_int_equal(llm_score(ws, (const int32_t *const *)a->cand, a->lens, 4, lp, NULL, &e), RLV_EINVAL);
    llm_ws_set_deadline(ws, clock_now_ms() + 600e3);
    prefix_ok(ws, a);
    assert_true(score_cmp(ws, a, 4) <= TOL);
    llm_ws_free(&ws);
    unload_model(&L);
    case_free(a);
    llm_model_free(NULL);
}

int main(void) {
    rlv_err e = {0};
    if (pool_init(&g_pool, 2, &e) || mm_ctx_init(&g_mm, g_pool, MM_COMPUTE_F32, &e)) {
        fprintf(stderr, "test_llm_ref: %s\n", e.msg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16_gqa4_n1_to_16), cmocka_unit_test(test_f32_gqa1),
        cmocka_unit_test(test_f16_gqa2),           cmocka_unit_test(test_bf16_long),
        cmocka_unit_test(test_prefix_bos_only),    cmocka_unit_test(test_prefix_all_slots),
        cmocka_unit_test(test_ws_reuse),           cmocka_unit_test(test_stream),           cmocka_unit_test(test_threads),
        cmocka_unit_test(test_errors),             cmocka_unit_test(test_thread_counts),
        cmocka_unit_test(test_bf16_compute),       cmocka_unit_test(test_prefix_score),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    mm_ctx_free(&g_mm);
    pool_free(&g_pool);
    return rc;
}
