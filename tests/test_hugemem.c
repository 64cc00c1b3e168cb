/* test_hugemem.c — hugemem.h: zeroed, page-aligned, writable buffers on both paths (heap under
 * HUGEMEM_MIN, a mapping from it up); a mapping is 2 MB-aligned, advised for huge pages (the
 * `hg` flag in /proc/self/smaps, wherever the kernel has transparent huge pages), holds no more
 * than its data and header page, is faulted in whole when populated, and is gone once freed.
 * hugemem_thp reads the host's setting, and hugemem_huge_bytes sees a populated mapping's 2 MB
 * pages come and go. Under AddressSanitizer every buffer is a heap buffer (so that overflows are
 * caught): the mapping checks are Release-only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hugemem.h"

/* The smaps entry of the mapping that holds p: its range, Rss (KB) and whether VmFlags has hg.
 * Returns 0 when no mapping holds p. */
static int vma_of(const void *p, uintptr_t *lo, uintptr_t *hi, long *rss_kb, int *hg) {
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) fail_msg("cannot read /proc/self/smaps");
    char line[512];
    int in = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            if (found) break;
            in = (uintptr_t)p >= a && (uintptr_t)p < b;
            if (in) *lo = a, *hi = b, *rss_kb = -1, *hg = 0, found = 1;
        } else if (in && !strncmp(line, "Rss:", 4))
            *rss_kb = strtol(line + 4, NULL, 10);
        else if (in && !strncmp(line, "VmFlags:", 8))
            *hg = strstr(line, " hg") != NULL;
    }
    fclose(f);
    return found;
}

static int kernel_has_thp(void) { return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0; }

/* Zeroed, page-aligned, every byte writable and kept. */
static void check_buffer(unsigned char *p, size_t n) {
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % (uintptr_t)sysconf(_SC_PAGESIZE), 0);
    for (size_t i = 0; i < n; i++)
        if (p[i]) fail_msg("byte %zu of %zu is %d, not zero", i, n, p[i]);
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(i * 131 + 7);
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(i * 131 + 7)) fail_msg("byte %zu of %zu did not keep its value", i, n);
}

static void test_small(void **state) {
    (void)state;
    size_t sizes[] = {0, 1, 100, 4096, HUGEMEM_MIN - 1}; /* 0: a buffer all the same (llm_ws, wstream rely on it) */
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (int pop = 0; pop < 2; pop++) {
            unsigned char *p = hugemem_alloc(sizes[i], pop);
            check_buffer(p, sizes[i]);
            hugemem_free(p);
        }
    hugemem_free(NULL);
}

static void test_mapping(void **state) {
    (void)state;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), huge = (size_t)2 << 20;
    size_t sizes[] = {HUGEMEM_MIN, 5 * huge + 123, 8 * huge};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (int pop = 0; pop < 2; pop++) {
            size_t n = sizes[i], data = (n + pg - 1) / pg * pg;
            unsigned char *p = hugemem_alloc(n, pop);
            assert_non_null(p);
            uintptr_t lo = 0, hi = 0;
            long rss = 0;
            int hg = 0;
            if (!HUGEMEM_HEAP_ONLY) {
                assert_int_equal((uintptr_t)p % huge, 0);
                assert_true(vma_of(p, &lo, &hi, &rss, &hg));
                /* the data is its own mapping (the advice splits it from the header page), no longer than asked */
                assert_int_equal(lo, (uintptr_t)p);
                assert_int_equal(hi, (uintptr_t)p + data);
                if (kernel_has_thp()) assert_true(hg);
                if (pop) assert_true(rss * 1024 >= (long)data);
                uintptr_t hlo, hhi;
                long hrss;
                int hhg;
                assert_true(vma_of(p - pg, &hlo, &hhi, &hrss, &hhg)); /* the header page */
                assert_true(hlo <= (uintptr_t)p - pg && hhi == (uintptr_t)p);
            }
            check_buffer(p, n);
            hugemem_free(p);
            if (!HUGEMEM_HEAP_ONLY) {
                uintptr_t l2, h2;
                long r2;
                int g2;
                /* nothing of it is left: no mapping at the data's first byte, or another one */
                assert_false(vma_of(p, &l2, &h2, &r2, &g2) && l2 == lo && h2 == hi);
            }
        }
}

/* hugemem_thp: the word in brackets of the kernel's setting ("unavailable" without one). */
static void test_thp(void **state) {
    (void)state;
    const char *mode = hugemem_thp(), *want = "unavailable";
    char buf[128] = {0}, word[16] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *l = strchr(buf, '['), *r = l ? strchr(l, ']') : NULL;
        if (r && r - l - 1 < (long)sizeof word) memcpy(word, l + 1, (size_t)(r - l - 1)), want = word;
    }
    assert_string_equal(mode, want);
}

/* hugemem_huge_bytes counts the 2 MB pages a populated mapping took, where the setting gives them. */
static void test_huge_bytes(void **state) {
    (void)state;
    size_t before = hugemem_huge_bytes(), n = (size_t)16 << 20;
    unsigned char *p = hugemem_alloc(n, 1);
    assert_non_null(p);
    size_t after = hugemem_huge_bytes();
    const char *mode = hugemem_thp();
    int expect = !HUGEMEM_HEAP_ONLY && (!strcmp(mode, "always") || !strcmp(mode, "madvise"));
    print_message("thp %s: %zu -> %zu bytes on huge pages after 16 MB populated\n", mode, before, after);
    /* at least one 2 MB page of the eight: compaction may fail for some on a fragmented host */
    if (expect) assert_true(after >= before + ((size_t)2 << 20));
    hugemem_free(p);
    if (expect) assert_true(hugemem_huge_bytes() + ((size_t)2 << 20) <= after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_mapping),
        cmocka_unit_test(test_thp),
        cmocka_unit_test(test_huge_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
