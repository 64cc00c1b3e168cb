/* imcache.h — the image-embedding cache: encoded image bytes + model identity -> the
 * num_query x hidden f32 image embedding, so a repeated image skips decode, ViT and resampler.
 * Owns: the entries (copies) in one slab of equal slots allocated at open (a put allocates
 * nothing), an LRU order and a byte budget (slots x per-entry bytes), the 128-bit key hash
 * (XXH3-128 from Debian's libxxhash, not a home-made hash).
 * Thread-safe: one mutex; lookups copy the rows out under it, so no pointer into the cache escapes.
 * Knows nothing of what the floats mean. */
#ifndef RLV_IMCACHE_H
#define RLV_IMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imcache_key {
    uint64_t lo, hi;   /* XXH3-128 of the encoded image bytes */
    uint64_t model;    /* identity of the model whose embedding this is (imcache_model_id) */
} imcache_key;

/* Key of (bytes, model): hashing ~1 MB takes well under a millisecond. */
imcache_key imcache_key_of(const void *bytes, size_t len, uint64_t model);
/* A model identity from any bytes that identify it (e.g. the vision weights' file names, offsets
 * and sizes, or the weights themselves): policy and reference share it only if their vision
 * weights are identical. */
uint64_t imcache_model_id(const void *bytes, size_t len);

typedef struct imcache imcache;

/* A cache of cap_bytes / imcache_entry_bytes(entry_floats) slots of entry_floats floats each,
 * allocated here as one slab (its pages are touched only as slots fill). 0 slots: every put is
 * dropped, every get misses. RLV_OK or RLV_ENOMEM naming the slab's size. */
int imcache_open(imcache **out, size_t cap_bytes, size_t entry_floats, rlv_err *err);
/* Frees every entry; *c becomes NULL; NULL-safe. Not concurrent with other calls on c. */
void imcache_free(imcache **c);

/* On a hit copies n floats into out, makes the entry most recent and returns 1; else 0 (an entry
 * with another size is a miss). */
int imcache_get(imcache *c, const imcache_key *k, float *out, size_t n);
/* Stores a copy of emb[n] in a slot (replacing an entry of the same key), evicting the least
 * recently used entry when no slot is free. n above the slot size is not stored. Allocates
 * nothing; returns RLV_OK (err is kept for callers that may one day fail). */
int imcache_put(imcache *c, const imcache_key *k, const float *emb, size_t n, rlv_err *err);

typedef struct imcache_stats {
    uint64_t hits, misses, inserts, evictions;
    size_t used_bytes, cap_bytes;
    size_t entries;
} imcache_stats;
void imcache_get_stats(imcache *c, imcache_stats *s);

/* Bytes one slot of n floats counts against the budget. */
size_t imcache_entry_bytes(size_t n);

#ifdef __cplusplus
}
#endif
#endif
