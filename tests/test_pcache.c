/* test_pcache.c — the prefix cache alone: exact keys, LRU eviction by bytes, entries pinned
 * across eviction and replacement, and threads that get, publish and release one key at once
 * (run under TSan by scripts/test.sh's sanitizer builds as well). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pcache.h"

enum { VB = 4096 }; /* value bytes of every test entry */

static int32_t ids_a[] = {1, 2, 3, 4, 5}, ids_b[] = {1, 2, 3, 4, 6}, ids_c[] = {1, 2, 3, 4};

static pcache_key key(const int32_t *ids, int n, uint64_t model, uint64_t img) {
    return (pcache_key){model, img, img * 3, img != 0, ids, n};
}

/* Publishes an entry whose value is VB bytes of `tag`. */
static void put(pcache *c, const pcache_key *k, int tag) {
    pcache_entry *e = pcache_reserve(c, k, VB);
    assert_non_null(e);
    memset(pcache_value_w(e), tag, VB);
    pcache_publish(c, &e);
    assert_null(e);
}

/* The tag of k's value, or -1 on a miss. */
static int tag_of(pcache *c, const pcache_key *k) {
    const pcache_entry *e = pcache_get(c, k);
    if (!e) return -1;
    size_t n;
    const unsigned char *v = pcache_value(e, &n);
    assert_int_equal(n, VB);
    int t = v[0];
    for (size_t i = 0; i < n; i++) assert_int_equal(v[i], t);
    pcache_release(c, &e);
    assert_null(e);
    return t;
}

static void test_keys_exact(void **s) {
    (void)s;
    pcache *c = NULL;
    rlv_err err = {0};
    assert_int_equal(pcache_open(&c, 64 * pcache_entry_bytes(5, VB), &err), RLV_OK);
    pcache_key a = key(ids_a, 5, 7, 0), a_img = key(ids_a, 5, 7, 42), a_img2 = key(ids_a, 5, 7, 43),
               a_m = key(ids_a, 5, 8, 0), b = key(ids_b, 5, 7, 0), cc = key(ids_c, 4, 7, 0);
    put(c, &a, 1);
    assert_int_equal(tag_of(c, &a), 1);
    int32_t copy[5];
    memcpy(copy, ids_a, sizeof copy);
    pcache_key a2 = key(copy, 5, 7, 0); /* the ids are compared by value */
    assert_int_equal(tag_of(c, &a2), 1);
    assert_int_equal(tag_of(c, &a_img), -1);  /* with an image */
    assert_int_equal(tag_of(c, &a_m), -1);    /* another model */
    assert_int_equal(tag_of(c, &b), -1);      /* one id differs */
    assert_int_equal(tag_of(c, &cc), -1);     /* a shorter prefix */
    put(c, &a_img, 2);
    assert_int_equal(tag_of(c, &a_img), 2);
    assert_int_equal(tag_of(c, &a_img2), -1); /* another image */
    assert_int_equal(tag_of(c, &a), 1);
    pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.hits, 4);
    assert_int_equal(st.misses, 5);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.used_bytes, 2 * pcache_entry_bytes(5, VB));
    pcache_free(&c);
    assert_null(c);
    pcache_free(&c);
}

static void test_lru_bytes(void **s) {
    (void)s;
    pcache *c = NULL;
    rlv_err err = {0};
    size_t eb = pcache_entry_bytes(5, VB);
    assert_int_equal(pcache_open(&c, 3 * eb + eb / 2, &err), RLV_OK);
    pcache_key k[4];
    for (int i = 0; i < 4; i++) k[i] = key(ids_a, 5, 100 + (uint64_t)i, 0);
    for (int i = 0; i < 3; i++) put(c, &k[i], 10 + i);
    assert_int_equal(tag_of(c, &k[0]), 10); /* 0 becomes most recent: 1 is the least */
    put(c, &k[3], 13);
    assert_int_equal(tag_of(c, &k[1]), -1);
    assert_int_equal(tag_of(c, &k[0]), 10);
    assert_int_equal(tag_of(c, &k[2]), 12);
    assert_int_equal(tag_of(c, &k[3]), 13);
    put(c, &k[3], 23); /* the same key again: replaced, counted once */
    assert_int_equal(tag_of(c, &k[3]), 23);
    pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.used_bytes, 3 * eb);
    assert_int_equal(st.evictions, 1);
    assert_true(st.used_bytes <= st.cap_bytes);
    /* an entry larger than the whole budget is never reserved; so is any with cap 0 */
    pcache_key big = key(ids_a, 5, 1, 0);
    assert_null(pcache_reserve(c, &big, 4 * eb));
    pcache_free(&c);
    assert_int_equal(pcache_open(&c, 0, &err), RLV_OK);
    assert_null(pcache_reserve(c, &big, 1));
    assert_null(pcache_get(c, &big));
    pcache_free(&c);
}

/* A pinned entry stays readable after eviction and after replacement; it is freed by the last
 * release (ASan would report a leak or a use after free). */
static void test_pinned(void **s) {
    (void)s;
    pcache *c = NULL;
    rlv_err err = {0};
    size_t eb = pcache_entry_bytes(5, VB);
    assert_int_equal(pcache_open(&c, eb, &err), RLV_OK);
    pcache_key a = key(ids_a, 5, 1, 0), b = key(ids_b, 5, 1, 0);
    put(c, &a, 1);
    const pcache_entry *pa = pcache_get(c, &a), *pa2 = pcache_get(c, &a);
    assert_non_null(pa);
    put(c, &b, 2); /* evicts a while two workers read it */
    assert_int_equal(tag_of(c, &a), -1);
    const unsigned char *v = pcache_value(pa, NULL);
    for (int i = 0; i < VB; i++) assert_int_equal(v[i], 1);
    pcache_release(c, &pa);
    for (int i = 0; i < VB; i++) assert_int_equal(v[i], 1); /* still pinned by pa2 */
    pcache_release(c, &pa2);
    const pcache_entry *pb = pcache_get(c, &b);
    put(c, &b, 3); /* replaced while pinned */
    assert_int_equal(((const unsigned char *)pcache_value(pb, NULL))[VB - 1], 2);
    assert_int_equal(tag_of(c, &b), 3);
    pcache_release(c, &pb);
    pcache_release(c, &pb); /* NULL: harmless */
    pcache_entry *d = pcache_reserve(c, &a, VB);
    pcache_discard(&d);
    assert_null(d);
    pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.used_bytes, eb);
    pcache_free(&c);
}

/* Threads hammer two keys in a cache that holds one entry: every get sees a whole value of
 * its own key's tag, whatever publishes and evictions run meanwhile. */
typedef struct { pcache *c; int id; int bad; } hammer_arg;

static void *hammer(void *p) {
    hammer_arg *a = p;
    int32_t ids[5];
    memcpy(ids, a->id & 1 ? ids_a : ids_b, sizeof ids);
    pcache_key k = key(ids, 5, 9, 5);
    int tag = a->id & 1 ? 0x11 : 0x22;
    for (int it = 0; it < 2000; it++) {
        const pcache_entry *e = pcache_get(a->c, &k);
        if (!e) {
            pcache_entry *w = pcache_reserve(a->c, &k, VB);
            if (!w) { a->bad++; continue; }
            memset(pcache_value_w(w), tag, VB);
            pcache_publish(a->c, &w);
            continue;
        }
        const unsigned char *v = pcache_value(e, NULL);
        for (int i = 0; i < VB; i += 61) a->bad += v[i] != tag;
        pcache_release(a->c, &e);
    }
    return NULL;
}

static void test_threads(void **s) {
    (void)s;
    pcache *c = NULL;
    rlv_err err = {0};
    assert_int_equal(pcache_open(&c, pcache_entry_bytes(5, VB), &err), RLV_OK);
    enum { T = 4 };
    pthread_t th[T];
    hammer_arg a[T];
    for (int i = 0; i < T; i++) {
        a[i] = (hammer_arg){c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.hits + st.misses, (uint64_t)T * 2000);
    assert_true(st.entries == 1 && st.used_bytes <= st.cap_bytes);
    pcache_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_exact),
        cmocka_unit_test(test_lru_bytes),
        cmocka_unit_test(test_pinned),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
