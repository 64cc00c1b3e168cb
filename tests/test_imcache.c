/* test_imcache.c — the image-embedding cache: keys, hit/miss, LRU eviction by bytes, and
 * concurrent workers that must only ever read back the rows stored under their key. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imcache.h"

enum { N = 1000 };

static void fill(float *v, int id) { for (int i = 0; i < N; i++) v[i] = (float)id * 1000.0f + (float)i; }
static int check(const float *v, int id) { for (int i = 0; i < N; i++) if (v[i] != (float)id * 1000.0f + (float)i) return 0; return 1; }

static imcache_key key(int id, uint64_t model) {
    char img[64];
    snprintf(img, sizeof img, "image bytes #%d", id);
    return imcache_key_of(img, strlen(img), model);
}

static void test_keys(void **s) {
    (void)s;
    imcache_key a = key(1, 7), b = key(1, 7), c = key(2, 7), d = key(1, 8);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(a.lo != c.lo || a.hi != c.hi);
    assert_true(a.model != d.model);
    assert_true(imcache_model_id("policy", 6) != imcache_model_id("reference", 9));
}

static void test_hit_miss_lru(void **s) {
    (void)s;
    imcache *c = NULL;
    rlv_err e = {0};
    size_t eb = imcache_entry_bytes(N);
    assert_int_equal(imcache_open(&c, 3 * eb, N, &e), RLV_OK);
    float v[N], got[N];
    imcache_key k[5];
    for (int i = 0; i < 5; i++) k[i] = key(i, 1);
    assert_int_equal(imcache_get(c, &k[0], got, N), 0);
    for (int i = 0; i < 3; i++) { fill(v, i); assert_int_equal(imcache_put(c, &k[i], v, N, &e), RLV_OK); }
    assert_int_equal(imcache_get(c, &k[0], got, N), 1);  /* 0 becomes most recent */
    assert_true(check(got, 0));
    assert_int_equal(imcache_get(c, &k[0], got, N - 1), 0); /* another size: a miss */
    imcache_key other_model = key(0, 2);
    assert_int_equal(imcache_get(c, &other_model, got, N), 0);
    fill(v, 3);
    assert_int_equal(imcache_put(c, &k[3], v, N, &e), RLV_OK); /* evicts 1, the least recent */
    assert_int_equal(imcache_get(c, &k[1], got, N), 0);
    assert_int_equal(imcache_get(c, &k[0], got, N), 1);
    assert_int_equal(imcache_get(c, &k[2], got, N), 1);
    assert_int_equal(imcache_get(c, &k[3], got, N), 1);
    assert_true(check(got, 3));
    fill(v, 3); /* same key again: replaced, not counted twice */
    assert_int_equal(imcache_put(c, &k[3], v, N, &e), RLV_OK);
    imcache_stats st;
    imcache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.used_bytes, 3 * eb);
    assert_int_equal(st.evictions, 1);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 4);
    /* bigger than the whole budget: not stored, nothing evicted */
    float *big = calloc(4 * N, sizeof *big);
    assert_int_equal(imcache_put(c, &k[4], big, 4 * N, &e), RLV_OK);
    assert_int_equal(imcache_get(c, &k[4], big, 4 * N), 0);
    imcache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    free(big);
    imcache_free(&c);
    assert_null(c);
    /* cap 0: disabled */
    assert_int_equal(imcache_open(&c, 0, N, &e), RLV_OK);
    fill(v, 1);
    assert_int_equal(imcache_put(c, &k[1], v, N, &e), RLV_OK);
    assert_int_equal(imcache_get(c, &k[1], got, N), 0);
    imcache_free(&c);
}

typedef struct { imcache *c; int seed; int bad; uint64_t gets; } worker;

static void *run(void *p) {
    worker *w = p;
    float v[N], got[N];
    unsigned r = (unsigned)w->seed;
    rlv_err e;
    for (int it = 0; it < 3000; it++) {
        r = r * 1103515245u + 12345u;
        int id = (int)((r >> 16) % 40);
        imcache_key k = key(id, 9);
        w->gets++;
        if (imcache_get(w->c, &k, got, N)) {
            if (!check(got, id)) w->bad++;
        } else {
            fill(v, id);
            if (imcache_put(w->c, &k, v, N, &e) != RLV_OK) w->bad++;
        }
    }
    return NULL;
}

static void test_concurrent(void **s) {
    (void)s;
    imcache *c = NULL;
    rlv_err e = {0};
    assert_int_equal(imcache_open(&c, 10 * imcache_entry_bytes(N) + 100, N, &e), RLV_OK);
    enum { NT = 4 };
    pthread_t th[NT];
    worker w[NT];
    for (int i = 0; i < NT; i++) {
        w[i] = (worker){c, i + 1, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, run, &w[i]), 0);
    }
    uint64_t gets = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
        gets += w[i].gets;
    }
    imcache_stats st;
    imcache_get_stats(c, &st);
    print_message("concurrent: %d threads, %llu gets, %llu hits, %llu evictions, %zu entries\n", NT,
                  (unsigned long long)gets, (unsigned long long)st.hits, (unsigned long long)st.evictions, st.entries);
    assert_int_equal(st.hits + st.misses, gets);
    assert_true(st.used_bytes <= st.cap_bytes);
    assert_int_equal(st.used_bytes, st.entries * imcache_entry_bytes(N));
    assert_int_equal(st.entries, 10);
    assert_true(st.hits > 0 && st.evictions > 0);
    imcache_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_hit_miss_lru),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
