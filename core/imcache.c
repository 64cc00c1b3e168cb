/* imcache.c — LRU image-embedding cache (see imcache.h).
 * Design notes: (1) every field is guarded by c->mu; (2) an entry is in exactly one hash chain and
 * in the LRU list (head = most recent) at once; (3) used == sum of imcache_entry_bytes of the
 * entries <= cap after every put. */
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
    ent **bucket;
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

size_t imcache_entry_bytes(size_t n) { return sizeof(ent) + n * sizeof(float); }

static size_t slot(const imcache *c, const imcache_key *k) { return (size_t)(k->lo ^ k->model) & (c->nbucket - 1); }
static int same(const imcache_key *a, const imcache_key *b) { return a->lo == b->lo && a->hi == b->hi && a->model == b->model; }

int imcache_open(imcache **out, size_t cap_bytes, rlv_err *err) {
    *out = NULL;
    imcache *c = calloc(1, sizeof *c);
    if (!c) return rlv_errf(err, RLV_ENOMEM, "image cache");
    c->nbucket = 64;
    c->bucket = calloc(c->nbucket, sizeof *c->bucket);
    if (!c->bucket) { free(c); return rlv_errf(err, RLV_ENOMEM, "image cache"); }
    c->cap = cap_bytes;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return RLV_OK;
}

void imcache_free(imcache **cp) {
    if (!cp || !*cp) return;
    imcache *c = *cp;
    for (lru_node *e = c->lru.head, *n; e; e = n) { n = e->next; free(e); }
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
    c->used -= imcache_entry_bytes(e->n);
    c->count--;
    free(e);
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

/* Doubles the bucket array when chains would grow past 2 on average (allocation failure is harmless:
 * the table just stays smaller). */
static void grow(imcache *c) {
    size_t nb = c->nbucket * 2;
    ent **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < c->nbucket; i++)
        for (ent *e = c->bucket[i], *nx; e; e = nx) {
            nx = e->chain;
            size_t s = (size_t)(e->key.lo ^ e->key.model) & (nb - 1);
            e->chain = b[s];
            b[s] = e;
        }
    free(c->bucket);
    c->bucket = b;
    c->nbucket = nb;
}

int imcache_put(imcache *c, const imcache_key *k, const float *emb, size_t n, rlv_err *err) {
    size_t need = imcache_entry_bytes(n);
    if (need > c->cap) return RLV_OK; /* never fits: not cached (also cap = 0) */
    ent *e = malloc(need); /* outside the lock */
    if (!e) return rlv_errf(err, RLV_ENOMEM, "image cache entry of %zu bytes", need);
    e->key = *k;
    e->n = n;
    e->chain = NULL;
    e->lru.prev = e->lru.next = NULL;
    memcpy(e->v, emb, n * sizeof(float));
    pthread_mutex_lock(&c->mu);
    ent *old = *find(c, k);
    if (old) drop(c, old);
    while (c->used + need > c->cap && c->lru.tail) {
        drop(c, (ent *)c->lru.tail);
        c->evictions++;
    }
    if (c->count + 1 > 2 * c->nbucket) grow(c);
    ent **p = &c->bucket[slot(c, k)];
    e->chain = *p;
    *p = e;
    lru_front(&c->lru, &e->lru);
    c->used += need;
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
