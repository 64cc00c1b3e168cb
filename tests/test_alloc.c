/* test_alloc.c — rlv_score does not allocate once a worker has run its first job (issue 21,
 * "memory allocated at start-up"): the tokenizer scratch, the prompt arena and the text buffer
 * are the worker's, sized when it opens. Every malloc/calloc/realloc/aligned_alloc/posix_memalign
 * the engine's code makes is counted here (the linker's --wrap, tests/CMakeLists.txt), on every
 * thread. What may still allocate during a job, and is not exercised here: decoding an image the
 * image cache has not seen (the decoders' buffers, bounded by the image limits) and inserting a new
 * prefix into the prefix cache (an entry, bounded by prefix-cache-mb) — include/rlaifv.h. The
 * image cache's own inserts and evictions do not: its slots are one slab from imcache_open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imcache.h"
#include "rlaifv.h"
#include "test_util.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t al, size_t n);
int __real_posix_memalign(void **p, size_t al, size_t n);

static atomic_int counting;
static atomic_long n_alloc;

void *__wrap_malloc(size_t n) {
    if (atomic_load(&counting)) atomic_fetch_add(&n_alloc, 1);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b) {
    if (atomic_load(&counting)) atomic_fetch_add(&n_alloc, 1);
    return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n) {
    if (atomic_load(&counting)) atomic_fetch_add(&n_alloc, 1);
    return __real_realloc(p, n);
}
void *__wrap_aligned_alloc(size_t al, size_t n) {
    if (atomic_load(&counting)) atomic_fetch_add(&n_alloc, 1);
    return __real_aligned_alloc(al, n);
}
int __wrap_posix_memalign(void **p, size_t al, size_t n) {
    if (atomic_load(&counting)) atomic_fetch_add(&n_alloc, 1);
    return __real_posix_memalign(p, al, n);
}

static uint8_t *jpeg;
static size_t jpeg_len;

/* Allocations made by one rlv_score (which must succeed). */
static long score_allocs(rlv_worker *w, const uint8_t *img, size_t img_len, const char *prompt, const char *const *c,
                         int n) {
    size_t lens[16];
    for (int i = 0; i < n; i++) lens[i] = strlen(c[i]);
    rlv_job j = {.image = img, .image_len = img_len, .prompt = prompt, .prompt_len = strlen(prompt), .n_candidates = n,
                 .candidates = c, .candidate_lens = lens, .reward = RLV_REWARD_DEFAULT, .beta = 0.1, .token_logps = 1};
    const rlv_result *res;
    rlv_err e = {0};
    atomic_store(&n_alloc, 0);
    atomic_store(&counting, 1);
    int rc = rlv_score(w, &j, &res, &e);
    atomic_store(&counting, 0);
    if (rc) fail_msg("rlv_score: %s", e.msg);
    assert_int_equal(res->n, n);
    return atomic_load(&n_alloc);
}

static const char *const CANDS[] = {
    "A car.",
    "Two sheep are standing on the road in front of a stopped car, which waits for them to cross.",
    "The car stopped because a flock of sheep is crossing the road; the driver waits patiently while the "
    "animals walk from one side to the other, and nobody is hurt.",
    "Sheep.",
    "There is a red light.",
    "The road is blocked by animals.",
    "It ran out of fuel.",
    "A dog is barking at the car.",
};

static void open_engine(rlv_engine **e, rlv_worker **w, size_t prefix_cache_bytes) {
    rlv_engine_opts o;
    rlv_engine_opts_default(&o);
    o.model_dir = RLV_TEST_DATA "/e2e/policy";
    o.ref_model_dir = RLV_TEST_DATA "/e2e/reference";
    o.prefix_cache_bytes = prefix_cache_bytes;
    o.blas_threads = 2;
    rlv_err err = {0};
    if (rlv_engine_open(e, &o, &err)) fail_msg("engine: %s", err.msg);
    if (rlv_worker_open(w, *e, &err)) fail_msg("worker: %s", err.msg);
}

/* After one warm-up job: new prompts, new candidates of every length, 1..8 of them, the cached
 * image and no image — not one allocation (the prefix cache off: a new prefix would be inserted). */
static void test_jobs_after_the_first_do_not_allocate(void **state) {
    (void)state;
    rlv_engine *e;
    rlv_worker *w;
    open_engine(&e, &w, 0);
    assert_true(score_allocs(w, jpeg, jpeg_len, "Why did the car stop?", CANDS, 2) > 0); /* decode + cache insert */
    static const char *const prompts[] = {"Why did the car stop?", "What is in the picture?",
                                          "Describe everything you can see in this image, in detail, including colours.",
                                          "<image>\nHow many animals are there?"};
    long total = 0;
    for (int r = 0; r < 16; r++) {
        int n = 1 + r % 8;
        const uint8_t *img = r % 5 == 4 ? NULL : jpeg; /* text-only jobs too */
        long a = score_allocs(w, img, img ? jpeg_len : 0, prompts[r % 4], CANDS + (r % 3), n > 6 ? 6 : n);
        if (a) print_message("job %d (%d candidates, prompt %d, %s): %ld allocations\n", r, n, r % 4, img ? "image" : "no image", a);
        total += a;
    }
    assert_int_equal(total, 0);
    rlv_worker_free(&w);
    rlv_engine_free(&e);
}

/* With the prefix cache on, a job whose (image, prompt) was seen attaches the cached prefix:
 * still no allocation; the first job of a prefix inserts one entry per model (it does allocate). */
static void test_prefix_cache_hits_do_not_allocate(void **state) {
    (void)state;
    rlv_engine *e;
    rlv_worker *w;
    open_engine(&e, &w, 64 << 20);
    assert_true(score_allocs(w, jpeg, jpeg_len, "Why did the car stop?", CANDS, 3) > 0);
    for (int r = 0; r < 6; r++)
        assert_int_equal(score_allocs(w, jpeg, jpeg_len, "Why did the car stop?", CANDS + r % 3, 1 + r), 0);
    rlv_worker_free(&w);
    rlv_engine_free(&e);
}

/* The image cache fills, replaces and evicts within the slab it allocated at open. */
static void test_image_cache_puts_do_not_allocate(void **state) {
    (void)state;
    enum { N = 1000, SLOTS = 4 };
    imcache *c = NULL;
    rlv_err e = {0};
    assert_int_equal(imcache_open(&c, SLOTS * imcache_entry_bytes(N), N, &e), RLV_OK);
    static float v[N], out[N];
    atomic_store(&n_alloc, 0);
    atomic_store(&counting, 1);
    for (int i = 0; i < 3 * SLOTS; i++) {
        imcache_key k = {(uint64_t)i, 0, 7};
        v[0] = (float)i;
        assert_int_equal(imcache_put(c, &k, v, N, &e), RLV_OK);
        assert_int_equal(imcache_get(c, &k, out, N), 1);
        assert_true(out[0] == (float)i);
        assert_int_equal(imcache_put(c, &k, v, N / 2, &e), RLV_OK); /* a smaller entry replaces it */
    }
    atomic_store(&counting, 0);
    assert_int_equal(atomic_load(&n_alloc), 0);
    imcache_stats st;
    imcache_get_stats(c, &st);
    assert_int_equal(st.entries, SLOTS);
    assert_int_equal(st.evictions, 2 * SLOTS);
    imcache_free(&c);
}

int main(void) {
    jpeg = slurp(RLV_SOURCE_DIR "/tests/data/images/car_sheep.jpeg", &jpeg_len);
    if (!jpeg) {
        fprintf(stderr, "test_alloc: cannot read tests/data/images/car_sheep.jpeg\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_after_the_first_do_not_allocate),
        cmocka_unit_test(test_prefix_cache_hits_do_not_allocate),
        cmocka_unit_test(test_image_cache_puts_do_not_allocate),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(jpeg);
    return rc;
}
