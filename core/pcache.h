/* pcache.h — the prefix cache: (model identity, the image's 128-bit hash or no image, the exact
 * prefix token ids) -> that model's decoder state after the prefix, as llm_prefix_save lays it
 * out (K/V rows of every layer, the last row's logits), so a repeated (image, prompt) costs only
 * its candidates: no vision, no prefix forward.
 * Owns: the entries (one allocation each: key ids + value bytes), an LRU order, a byte budget
 * (value + ids + per-entry overhead) and a reference count per entry.
 * Thread-safe: one mutex. A hit hands out a pinned entry that the caller reads in place (no copy)
 * until pcache_release; an entry evicted or replaced while pinned leaves the table at once (its
 * bytes stop counting) and is freed by its last release.
 * Knows nothing of what the value bytes mean (llm.h does). */
#ifndef RLV_PCACHE_H
#define RLV_PCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pcache_key {
    uint64_t model;           /* identity of the model (decoder and vision weights, compute mode) */
    uint64_t img_lo, img_hi;  /* 128-bit hash of the encoded image (imcache_key_of); 0, 0 without one */
    int has_image;
    const int32_t *ids;       /* [n] the prefix token ids, borrowed for the call */
    int n;
} pcache_key;

typedef struct pcache pcache;
typedef struct pcache_entry pcache_entry;

/* A cache holding at most cap_bytes (0: nothing is stored, every get misses). */
int pcache_open(pcache **out, size_t cap_bytes, rlv_err *err);
/* Frees every entry; *c becomes NULL; NULL-safe. No entry may still be pinned. */
void pcache_free(pcache **c);

/* On a hit pins the entry, makes it most recent and returns it (read it with pcache_value until
 * pcache_release); NULL on a miss. */
const pcache_entry *pcache_get(pcache *c, const pcache_key *k);
/* Unpins an entry from pcache_get; *e becomes NULL; NULL-safe. */
void pcache_release(pcache *c, const pcache_entry **e);
/* The value bytes of an entry (16-byte aligned) and their count. */
const void *pcache_value(const pcache_entry *e, size_t *bytes);

/* Two steps to store a value without holding the lock while it is written:
 * pcache_reserve allocates an unpublished entry for key k with value_bytes of value (NULL when
 * it can never fit the budget, or out of memory: the caller then simply does not cache);
 * the caller fills pcache_value_w(e), then pcache_publish takes ownership (*e becomes NULL),
 * replaces an entry of the same key and evicts least recently used entries until it fits. */
pcache_entry *pcache_reserve(pcache *c, const pcache_key *k, size_t value_bytes);
void *pcache_value_w(pcache_entry *e);
void pcache_publish(pcache *c, pcache_entry **e);
/* Frees a reserved entry that will not be published; *e becomes NULL; NULL-safe. */
void pcache_discard(pcache_entry **e);

typedef struct pcache_stats {
    uint64_t hits, misses, inserts, evictions;
    size_t used_bytes, cap_bytes, entries;
} pcache_stats;
void pcache_get_stats(pcache *c, pcache_stats *s);

/* Bytes an entry of n ids and value_bytes of value counts against the budget. */
size_t pcache_entry_bytes(int n, size_t value_bytes);

#ifdef __cplusplus
}
#endif
#endif
