/* hugemem.h — memory on 2 MB pages for the buffers the matrix kernels stream through.
 * Owns: the mappings it hands out. Knows nothing of what is stored in them.
 *
 * Why: the products read x and stored weights and write y by rows, 14-32 rows 16 KB apart, each
 * on another 4 KB page, and walk packed blocks, the held x and repacked panels of 28-32 KB (the
 * address translations, not measured apart, are the likely cost). On 2 MB pages the products ran
 * 1.06 x faster (median over 22 shapes in three alternated runs, Zen 4), a real-width job and
 * the full-size job 1.04 x (docs/performance.md, "Huge pages"). They are asked for with
 * madvise(MADV_HUGEPAGE), so they come where the kernel's transparent_hugepage setting is
 * `madvise` or `always`; with `never` the memory is the same, on 4 KB pages.
 *
 * Use:  float *y = hugemem_alloc(bytes, 0);  ...  hugemem_free(y);
 * Returns zeroed memory aligned to the page (4 KB: direct reads may go into it), or NULL when
 * out of memory. Buffers under HUGEMEM_MIN come from the heap (a huge page each would waste
 * memory), and so does every buffer under AddressSanitizer (which checks heap bounds, not a
 * mapping's). A mapping is 2 MB-aligned. populate: every page is faulted in now (memory is
 * taken at start-up, not on a job's first touch); NULL if that fails. hugemem_free(NULL) is a
 * no-op. */
#ifndef RLV_HUGEMEM_H
#define RLV_HUGEMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HUGEMEM_MIN ((size_t)1 << 20)

/* 1 where every buffer comes from the heap: under AddressSanitizer, which checks heap bounds. */
#if defined(__SANITIZE_ADDRESS__)
#define HUGEMEM_HEAP_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HUGEMEM_HEAP_ONLY 1
#endif
#endif
#ifndef HUGEMEM_HEAP_ONLY
#define HUGEMEM_HEAP_ONLY 0
#endif

void *hugemem_alloc(size_t bytes, int populate);
void hugemem_free(void *p);

/* The host's transparent_hugepage setting, which decides whether the advice is heeded: "always",
 * "madvise" (both give these buffers 2 MB pages), "never", or "unavailable" (a kernel without
 * THP, or the setting unreadable). Static string. */
const char *hugemem_thp(void);
/* Bytes of this process's anonymous memory on huge pages now (AnonHugePages of
 * /proc/self/smaps_rollup), 0 when unreadable: what the advice got, for `info` and the log. */
size_t hugemem_huge_bytes(void);

#ifdef __cplusplus
}
#endif

#endif
