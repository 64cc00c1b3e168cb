/* test_wstream.c — wstream.h: direct reads of file byte ranges into a ring of slots. Every
 * range of every item is compared with the file's bytes over several passes, with 1, 2 and 3
 * slots, ranges at unaligned offsets and lengths (one ending at the file's unaligned end, one
 * longer than a read chunk); a consumer that holds a slot while the reader could run ahead; an
 * abort in the middle of a pass (the next get is item 0, with its own bytes); a range past the
 * end of the file (its item comes back NULL, counted as failed, the others intact); the errors
 * of the plan and of a file that does not open. Files live in the build tree (direct reads need
 * a file system that has them, as the checkpoints' do). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "wstream.h"

#define DIR RLV_TEST_DATA "/wstream"
#define BIG_LEN ((size_t)(20u << 20) + 12345) /* past one 16 MiB read chunk, unaligned end */
#define SMALL_LEN ((size_t)70001)

static uint8_t byte_at(int file, uint64_t i) { return (uint8_t)((i * 2654435761u) >> 13 ^ (uint64_t)file * 77); }

static void write_file(const char *path, int file, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s: %s", path, strerror(errno));
    uint8_t buf[65536];
    for (size_t i = 0; i < n;) {
        size_t k = n - i < sizeof buf ? n - i : sizeof buf;
        for (size_t j = 0; j < k; j++) buf[j] = byte_at(file, i + j);
        assert_int_equal(fwrite(buf, 1, k, f), k);
        i += k;
    }
    assert_int_equal(fclose(f), 0);
}

static const char *path_of(int file) { return file ? DIR "/small.bin" : DIR "/big.bin"; }

static int setup(void **st) {
    (void)st;
    if (system("mkdir -p '" DIR "'") != 0) return -1;
    write_file(path_of(0), 0, BIG_LEN);
    write_file(path_of(1), 1, SMALL_LEN);
    return 0;
}

typedef struct rng {
    int item, file;
    uint64_t off;
    size_t n, slot_off;
} rng;

/* Six items; item 2 has ranges of both files, item 4 ends at the big file's end, item 5 has no
 * range (a layer whose matrices are all in memory: it is handed over like the others). */
static const rng RANGES[] = {
    {0, 0, 0, 4096, 0},         {0, 1, 1, 3, 0},             {1, 0, 4097, 1, 0},
    {1, 0, 123456, 5000000, 0}, {2, 1, 69000, 1001, 0},      {2, 0, 8191, 8193, 0},
    {2, 1, 0, SMALL_LEN, 0},    {3, 0, 17, (size_t)(17u << 20), 0}, {4, 0, BIG_LEN - 777, 777, 0},
};
#define N_RANGES (int)(sizeof RANGES / sizeof RANGES[0])
#define N_ITEMS 6

static wstream_plan *make_plan(rng *r) {
    wstream_plan *p;
    rlv_err err = {0};
    assert_int_equal(wstream_plan_new(&p, N_ITEMS, &err), RLV_OK);
    for (int k = 0; k < N_RANGES; k++) {
        r[k] = RANGES[k];
        assert_int_equal(wstream_plan_add(p, r[k].item, path_of(r[k].file), r[k].off, r[k].n, &r[k].slot_off, &err),
                         RLV_OK);
    }
    return p;
}

/* Item i's ranges in slot equal the files' bytes. */
static void check_item(const rng *r, int i, const uint8_t *slot) {
    assert_non_null(slot);
    for (int k = 0; k < N_RANGES; k++) {
        if (r[k].item != i) continue;
        const uint8_t *b = slot + r[k].slot_off;
        for (size_t j = 0; j < r[k].n; j++)
            if (b[j] != byte_at(r[k].file, r[k].off + j))
                fail_msg("item %d range %d byte %zu: %u, file has %u", i, k, j, b[j], byte_at(r[k].file, r[k].off + j));
    }
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_passes(void **st) {
    (void)st;
    rng r[N_RANGES];
    wstream_plan *p = make_plan(r);
    size_t total = 0;
    for (int k = 0; k < N_RANGES; k++) total += r[k].n;
    assert_int_equal(wstream_plan_bytes(p), total);
    assert_int_equal(wstream_plan_items(p), N_ITEMS);
    assert_true(wstream_plan_slot_bytes(p) >= (size_t)(17u << 20));
    rlv_err err = {0};
    assert_int_equal(wstream_plan_check(p, &err), RLV_OK);
    for (int slots = 1; slots <= 3; slots++) {
        wstream *s;
        assert_int_equal(wstream_open(&s, p, slots, &err), RLV_OK);
        assert_true(wstream_bytes(s) >= (size_t)slots * wstream_plan_slot_bytes(p));
        for (int pass = 0; pass < 3; pass++)
            for (int i = 0; i < N_ITEMS; i++) {
                const uint8_t *slot = wstream_get(s, i);
                check_item(r, i, slot);
                /* held while the reader may fill the other slots: it must not touch this one */
                if (i == 1) sleep_ms(30);
                check_item(r, i, slot);
                wstream_done(s, i);
            }
        wstream_stats stt;
        wstream_get_stats(s, &stt);
        assert_true(stt.items >= 3 * N_ITEMS && stt.items <= 3 * N_ITEMS + (uint64_t)slots);
        assert_int_equal(stt.failed, 0);
        assert_true(stt.bytes >= 3 * total);
        print_message("%d slots: %llu items, %.1f MB read, %.3f s waited\n", slots, (unsigned long long)stt.items,
                      stt.bytes / 1e6, stt.wait_s);
        wstream_close(&s);
        assert_null(s);
    }
    wstream_plan_free(&p);
    assert_null(p);
}

static void test_abort(void **st) {
    (void)st;
    rng r[N_RANGES];
    wstream_plan *p = make_plan(r);
    rlv_err err = {0};
    wstream *s;
    assert_int_equal(wstream_open(&s, p, 2, &err), RLV_OK);
    wstream_abort(s); /* at a pass's start: nothing to end */
    for (int stop = 1; stop < N_ITEMS; stop++) {
        for (int i = 0; i < stop; i++) {
            check_item(r, i, wstream_get(s, i));
            wstream_done(s, i);
        }
        wstream_abort(s); /* the next pass starts at item 0, whatever was loaded or in flight */
    }
    for (int i = 0; i < N_ITEMS; i++) {
        check_item(r, i, wstream_get(s, i));
        wstream_done(s, i);
    }
    wstream_abort(s); /* after the last item: nothing to end */
    check_item(r, 0, wstream_get(s, 0));
    wstream_done(s, 0);
    wstream_close(&s); /* with item 1 loading or loaded */
    wstream_plan_free(&p);
}

/* A range past the file's end: that item is NULL every pass, the others are served. */
static void test_short_file(void **st) {
    (void)st;
    const char *path = DIR "/short.bin";
    write_file(path, 1, SMALL_LEN);
    wstream_plan *p;
    rlv_err err = {0};
    size_t o0, o1, o2;
    assert_int_equal(wstream_plan_new(&p, 3, &err), RLV_OK);
    assert_int_equal(wstream_plan_add(p, 0, path, 10, 100, &o0, &err), RLV_OK);
    assert_int_equal(wstream_plan_add(p, 1, path, SMALL_LEN - 50, 51, &o1, &err), RLV_OK);
    assert_int_equal(wstream_plan_add(p, 2, path, SMALL_LEN - 50, 50, &o2, &err), RLV_OK);
    wstream *s;
    assert_int_equal(wstream_open(&s, p, 2, &err), RLV_OK);
    for (int pass = 0; pass < 2; pass++) {
        const uint8_t *a = wstream_get(s, 0);
        assert_non_null(a);
        for (int j = 0; j < 100; j++) assert_int_equal(a[o0 + j], byte_at(1, 10 + (uint64_t)j));
        wstream_done(s, 0);
        assert_null(wstream_get(s, 1));
        wstream_done(s, 1);
        const uint8_t *c = wstream_get(s, 2);
        assert_non_null(c);
        for (int j = 0; j < 50; j++) assert_int_equal(c[o2 + j], byte_at(1, SMALL_LEN - 50 + (uint64_t)j));
        wstream_done(s, 2);
    }
    wstream_stats stt;
    wstream_get_stats(s, &stt);
    assert_true(stt.failed >= 2);
    wstream_close(&s);
    wstream_plan_free(&p);
}

static void test_errors(void **st) {
    (void)st;
    wstream_plan *p;
    rlv_err err = {0};
    size_t o;
    assert_int_equal(wstream_plan_new(&p, 0, &err), RLV_EINVAL);
    assert_null(p);
    assert_int_equal(wstream_plan_new(&p, 2, &err), RLV_OK);
    assert_int_equal(wstream_plan_add(p, 2, path_of(0), 0, 10, &o, &err), RLV_EINVAL);
    assert_int_equal(wstream_plan_add(p, -1, path_of(0), 0, 10, &o, &err), RLV_EINVAL);
    assert_int_equal(wstream_plan_add(p, 0, path_of(0), 0, 0, &o, &err), RLV_EINVAL);
    assert_int_equal(wstream_plan_add(p, 0, path_of(0), 0, 10, &o, &err), RLV_OK);
    assert_int_equal(wstream_plan_add(p, 1, DIR "/no-such-file.bin", 0, 10, &o, &err), RLV_OK);
    assert_int_equal(wstream_plan_check(p, &err), RLV_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "no-such-file.bin"));
    wstream *s = (wstream *)&err;
    assert_int_equal(wstream_open(&s, p, 2, &err), RLV_EUNSUPPORTED);
    assert_null(s);
    assert_int_equal(wstream_open(&s, p, 0, &err), RLV_EINVAL);
    wstream_close(&s); /* NULL: no-op */
    wstream_plan_free(&p);
    wstream_plan_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_passes), cmocka_unit_test(test_abort),
                                       cmocka_unit_test(test_short_file), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, setup, NULL);
}
