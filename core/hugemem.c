/* hugemem.c — 2 MB-aligned anonymous mappings with MADV_HUGEPAGE (see hugemem.h).
 * Layout of a mapping: [header page][2 MB-aligned data ...]; the header (the mapping's base and
 * length) sits in the 64 bytes before the data, so hugemem_free needs only the pointer. A heap
 * buffer is laid out alike, [page][data], its header's len 0. */
#include "hugemem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL and the pages are touched */
#endif

#define HUGE_PAGE ((size_t)2 << 20)
#define HDR 64

typedef struct hdr {
    void *base;
    size_t len; /* of the mapping; 0: a heap buffer */
} hdr;

/* Page-aligned like a mapping (direct reads into it need that), the header in the page before. */
static void *heap_alloc(size_t bytes, size_t pg) {
    void *base;
    if (posix_memalign(&base, pg, bytes + pg)) return NULL;
    memset(base, 0, bytes + pg);
    char *p = (char *)base + pg;
    hdr h = {base, 0};
    memcpy(p - HDR, &h, sizeof h);
    return p;
}

void *hugemem_alloc(size_t bytes, int populate) {
    if (bytes > SIZE_MAX / 2) return NULL; /* no such memory; keeps the sums below from wrapping */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (HUGEMEM_HEAP_ONLY || bytes < HUGEMEM_MIN) return heap_alloc(bytes, pg);
    size_t data = (bytes + pg - 1) / pg * pg, len = data + HUGE_PAGE + pg;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return NULL;
    char *p = (char *)(((uintptr_t)base + pg + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    /* give back what lies before the header page and after the data */
    char *head = p - pg, *end = p + data;
    if (head > base) munmap(base, (size_t)(head - base));
    if (base + len > end) munmap(end, (size_t)(base + len - end));
    (void)madvise(p, data, MADV_HUGEPAGE); /* EINVAL where THP is not built: 4 KB pages */
    hdr h = {head, (size_t)(end - head)};
    memcpy(p - HDR, &h, sizeof h);
    if (populate && madvise(p, data, MADV_POPULATE_WRITE) != 0) {
        if (errno != EINVAL) { /* ENOMEM: say so now rather than be killed on a later touch */
            munmap(h.base, h.len);
            return NULL;
        }
        for (size_t o = 0; o < data; o += pg) ((volatile char *)p)[o] = 0;
    }
    return p;
}

void hugemem_free(void *p) {
    if (!p) return;
    hdr h;
    memcpy(&h, (char *)p - HDR, sizeof h);
    if (h.len) munmap(h.base, h.len);
    else free(h.base);
}

const char *hugemem_thp(void) {
    static const char *const modes[] = {"always", "madvise", "never"};
    char buf[128] = {0};
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return "unavailable";
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* the file lists every mode, the one in force in brackets: "always [madvise] never" */
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++) {
        char want[16];
        snprintf(want, sizeof want, "[%s]", modes[i]);
        if (strstr(buf, want)) return modes[i];
    }
    return "unavailable";
}

size_t hugemem_huge_bytes(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1) break;
    fclose(f);
    return (size_t)kb << 10;
}
