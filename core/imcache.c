/* imcache.c — LRU image-embedding cache (see imcache.h).
 * Design notes: (1) every field is guarded by c->mu; (2) a slot of the slab is either on the free
 * list or an entry, and an entry is in exactly one hash chain and in the LRU list (head = most
 * recent) at once; (3) used == count * imcache_entry_bytes(slot_floats) <= cap after every put. */
#include "imcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lru.h"

typedef struct ent {
    lru_node lru;             /* first: the entry is its node's address */
    imcache_key key;
    struct ent *chain;        /* next in the bucket */
    size_t n;
    float v[];                /* [n] */
} ent;

struct imcache {
    pthread_mutex_t mu;
    unsigned char *slab;      /* [n_slots][slot_bytes], allocated at open */
    size_t n_slots, slot_bytes, slot_floats;
    ent *free_list;           /* unused slots, linked through chain */
    ent **bucket;             /* [n_slots] heads: at most one entry per bucket on average */
    size_t nbucket;           /* power of two */
    lru_list lru;
    size_t used, cap, count;
    uint64_t hits, misses, inserts, evictions;
};

imcache_key imcache_key_of(const void *bytes, size_t len, uint64_t model) {
    XXH128_hash_t h = XXH3_128bits(bytes, len);
    imcache_key k = {h.low64, h.high64, model};
    return k;
}

uint64_t imcache_model_id(const void *bytes, size_t len) { return XXH3_64bits(bytes, len); }

size_t imcache_entry_bytes(size_t n) { /* slots follow each other in the slab: keep ent's alignment */
    size_t a = _Alignof(ent), b = sizeof(ent) + n * sizeof(float);
    return (b + a - 1) / a * a;
}

static size_t slot(const imcache *c, const imcache_key *k) { return (size_t)(k->lo ^ k->model) & (c->nbucket - 1); }
static int same(const imcache_key *a, const imcache_key *b) { return a->lo == b->lo && a->hi == b->hi && a->model == b->model; }

int imcache_open(imcache **out, size_t cap_bytes, size_t entry_floats, rlv_err *err) {
    *out = NULL;
    imcache *c = calloc(1, sizeof *c);
    if (!c) return rlv_errf(err, RLV_ENOMEM, "image cache");
    c->slot_floats = entry_floats;
    c->slot_bytes = imcache_entry_bytes(entry_floats);
    c->n_slots = cap_bytes / c->slot_bytes;
    c->cap = cap_bytes;
    c->nbucket = 64;
    while (c->nbucket < c->n_slots) c->nbucket *= 2;
    c->bucket = calloc(c->nbucket, sizeof *c->bucket);
    c->slab = c->n_slots ? malloc(c->n_slots * c->slot_bytes) : NULL; /* ent's alignment: malloc's */
    if (!c->bucket || (c->n_slots && !c->slab)) {
        size_t n = c->n_slots * c->slot_bytes;
        free(c->bucket);
        free(c);
        return rlv_errf(err, RLV_ENOMEM, "image cache: a slab of %zu bytes (%zu slots of %zu floats) for cache-mb",
                        n, cap_bytes / imcache_entry_bytes(entry_floats), entry_floats);
    }
    for (size_t i = c->n_slots; i-- > 0;) { /* the free list in slab order: slot 0 first */
        ent *e = (ent *)(c->slab + i * c->slot_bytes);
        e->chain = c->free_list;
        c->free_list = e;
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return RLV_OK;
}

void imcache_free(imcache **cp) {
    if (!cp || !*cp) return;
    imcache *c = *cp;
    free(c->slab);
    free(c->bucket);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *cp = NULL;
}

static ent **find(imcache *c, const imcache_key *k) {
    ent **p = &c->bucket[slot(c, k)];
    while (*p && !same(&(*p)->key, k)) p = &(*p)->chain;
    return p;
}

static void drop(imcache *c, ent *e) {
    ent **p = find(c, &e->key);
    *p = e->chain;
    lru_unlink(&c->lru, &e->lru);
    c->used -= c->slot_bytes;
    c->count--;
    e->chain = c->free_list;
    c->free_list = e;
}

int imcache_get(imcache *c, const imcache_key *k, float *out, size_t n) {
    pthread_mutex_lock(&c->mu);
    ent *e = *find(c, k);
    int hit = e && e->n == n;
    if (hit) {
        memcpy(out, e->v, n * sizeof(float));
        lru_touch(&c->lru, &e->lru);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

int imcache_put(imcache *c, const imcache_key *k, const float *emb, size_t n, rlv_err *err) {
    (void)err;
    if (!c->n_slots || n > c->slot_floats) return RLV_OK; /* never fits: not cached (also cap = 0) */
    pthread_mutex_lock(&c->mu);
    ent *old = *find(c, k);
    if (old) drop(c, old);
    if (!c->free_list) {
        drop(c, (ent *)c->lru.tail);
        c->evictions++;
    }
    ent *e = c->free_list;
    c->free_list = e->chain;
    e->key = *k;
    e->n = n;
    e->lru.prev = e->lru.next = NULL;
    memcpy(e->v, emb, n * sizeof(float));
    ent **p = &c->bucket[slot(c, k)];
    e->chain = *p;
    *p = e;
    lru_front(&c->lru, &e->lru);
    c->used += c->slot_bytes;
    c->count++;
    c->inserts++;
    pthread_mutex_unlock(&c->mu);
    return RLV_OK;
}

void imcache_get_stats(imcache *c, imcache_stats *s) {
    pthread_mutex_lock(&c->mu);
    s->hits = c->hits;
    s->misses = c->misses;
    s->inserts = c->inserts;
    s->evictions = c->evictions;
    s->used_bytes = c->used;
    s->cap_bytes = c->cap;
    s->entries = c->count;
    pthread_mutex_unlock(&c->mu);
}
