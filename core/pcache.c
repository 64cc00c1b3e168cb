/* pcache.c — LRU prefix cache with pinned entries (see pcache.h).
 * Design notes: (1) every field of pcache, and every entry's links and refs, are guarded by c->mu;
 * the value bytes are written before pcache_publish and only read after, so they need no lock;
 * (2) a published entry is either in the table (in exactly one hash chain and in the LRU list,
 * head = most recent) or out of it for good (evicted/replaced, freed when refs reaches 0);
 * (3) used == sum of the table entries' bytes <= cap after every publish; pinned entries out
 * of the table are not counted (at most one per worker and model). */
#include "pcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "lru.h"

struct pcache_entry {
    lru_node lru;                      /* first: the entry is its node's address */
    uint64_t model, img_lo, img_hi, hash;
    int has_image, n;
    struct pcache_entry *chain;        /* next in the bucket */
    int refs;                          /* pins by pcache_get */
    int in_table;
    size_t value_bytes, bytes;         /* bytes: what it counts against the budget */
    int32_t *ids;                      /* [n], after the value */
    /* the value follows at VALUE_OFF */
};

#define VALUE_OFF ((sizeof(pcache_entry) + 15) & ~(size_t)15)

struct pcache {
    pthread_mutex_t mu;
    pcache_entry **bucket;
    size_t nbucket;  /* power of two */
    lru_list lru;
    size_t used, cap, count;
    uint64_t hits, misses, inserts, evictions;
};

static uint64_t key_hash(const pcache_key *k) {
    uint64_t seed = k->model ^ (k->img_lo * 0x9E3779B97F4A7C15ull) ^ (k->img_hi >> 1) ^ (uint64_t)k->has_image;
    return XXH3_64bits_withSeed(k->ids, (size_t)k->n * sizeof *k->ids, seed);
}

static int same(const pcache_entry *e, const pcache_key *k, uint64_t h) {
    return e->hash == h && e->model == k->model && e->has_image == k->has_image && e->img_lo == k->img_lo &&
           e->img_hi == k->img_hi && e->n == k->n && !memcmp(e->ids, k->ids, (size_t)k->n * sizeof *k->ids);
}

size_t pcache_entry_bytes(int n, size_t value_bytes) {
    return VALUE_OFF + ((value_bytes + 15) & ~(size_t)15) + (size_t)n * sizeof(int32_t);
}

int pcache_open(pcache **out, size_t cap_bytes, rlv_err *err) {
    *out = NULL;
    pcache *c = calloc(1, sizeof *c);
    if (!c) return rlv_errf(err, RLV_ENOMEM, "prefix cache");
    c->nbucket = 64;
    c->bucket = calloc(c->nbucket, sizeof *c->bucket);
    if (!c->bucket) {
        free(c);
        return rlv_errf(err, RLV_ENOMEM, "prefix cache");
    }
    c->cap = cap_bytes;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return RLV_OK;
}

void pcache_free(pcache **cp) {
    if (!cp || !*cp) return;
    pcache *c = *cp;
    for (lru_node *e = c->lru.head, *nx; e; e = nx) {
        nx = e->next;
        RLV_ASSERT(((pcache_entry *)e)->refs == 0);
        free(e);
    }
    free(c->bucket);
    pthread_mutex_destroy(&c->mu);
    free(c);
    *cp = NULL;
}

static pcache_entry **find(pcache *c, const pcache_key *k, uint64_t h) {
    pcache_entry **p = &c->bucket[h & (c->nbucket - 1)];
    while (*p && !same(*p, k, h)) p = &(*p)->chain;
    return p;
}

/* Takes e out of the table (design note 2); frees it unless pinned. */
static void drop(pcache *c, pcache_entry *e) {
    pcache_entry **p = &c->bucket[e->hash & (c->nbucket - 1)];
    while (*p != e) p = &(*p)->chain;
    *p = e->chain;
    lru_unlink(&c->lru, &e->lru);
    c->used -= e->bytes;
    c->count--;
    e->in_table = 0;
    if (!e->refs) free(e);
}

const pcache_entry *pcache_get(pcache *c, const pcache_key *k) {
    uint64_t h = key_hash(k);
    pthread_mutex_lock(&c->mu);
    pcache_entry *e = *find(c, k, h);
    if (e) {
        e->refs++;
        lru_touch(&c->lru, &e->lru);
        c->hits++;
    } else {
        c->misses++;
    }
    pthread_mutex_unlock(&c->mu);
    return e;
}

void pcache_release(pcache *c, const pcache_entry **ep) {
    if (!ep || !*ep) return;
    pcache_entry *e = (pcache_entry *)*ep;
    pthread_mutex_lock(&c->mu);
    RLV_ASSERT(e->refs > 0);
    int gone = --e->refs == 0 && !e->in_table;
    pthread_mutex_unlock(&c->mu);
    if (gone) free(e);
    *ep = NULL;
}

const void *pcache_value(const pcache_entry *e, size_t *bytes) {
    if (bytes) *bytes = e->value_bytes;
    return (const char *)e + VALUE_OFF;
}

void *pcache_value_w(pcache_entry *e) { return (char *)e + VALUE_OFF; }

pcache_entry *pcache_reserve(pcache *c, const pcache_key *k, size_t value_bytes) {
    size_t need = pcache_entry_bytes(k->n, value_bytes);
    if (need > c->cap) return NULL; /* never fits (also cap = 0) */
    pcache_entry *e = malloc(need);  /* glibc malloc: 16-byte aligned, so is the value */
    if (!e) return NULL;
    memset(e, 0, sizeof *e);
    e->model = k->model, e->img_lo = k->img_lo, e->img_hi = k->img_hi, e->has_image = k->has_image;
    e->n = k->n;
    e->hash = key_hash(k);
    e->value_bytes = value_bytes;
    e->bytes = need;
    e->ids = (int32_t *)((char *)e + VALUE_OFF + ((value_bytes + 15) & ~(size_t)15));
    memcpy(e->ids, k->ids, (size_t)k->n * sizeof *k->ids);
    return e;
}

void pcache_discard(pcache_entry **e) {
    if (!e) return;
    free(*e);
    *e = NULL;
}

/* Doubles the bucket array when chains would grow past 2 on average (allocation failure is
 * harmless: the table just stays smaller). */
static void grow(pcache *c) {
    size_t nb = c->nbucket * 2;
    pcache_entry **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < c->nbucket; i++)
        for (pcache_entry *e = c->bucket[i], *nx; e; e = nx) {
            nx = e->chain;
            e->chain = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
        }
    free(c->bucket);
    c->bucket = b;
    c->nbucket = nb;
}

void pcache_publish(pcache *c, pcache_entry **ep) {
    pcache_entry *e = *ep;
    *ep = NULL;
    pcache_key k = {e->model, e->img_lo, e->img_hi, e->has_image, e->ids, e->n};
    pthread_mutex_lock(&c->mu);
    pcache_entry *old = *find(c, &k, e->hash);
    if (old) drop(c, old); /* two workers missed the same key at once: the later one wins */
    while (c->used + e->bytes > c->cap && c->lru.tail) {
        drop(c, (pcache_entry *)c->lru.tail);
        c->evictions++;
    }
    if (c->count + 1 > 2 * c->nbucket) grow(c);
    pcache_entry **p = &c->bucket[e->hash & (c->nbucket - 1)];
    e->chain = *p;
    *p = e;
    e->in_table = 1;
    lru_front(&c->lru, &e->lru);
    c->used += e->bytes;
    c->count++;
    c->inserts++;
    pthread_mutex_unlock(&c->mu);
}

void pcache_get_stats(pcache *c, pcache_stats *s) {
    pthread_mutex_lock(&c->mu);
    *s = (pcache_stats){c->hits, c->misses, c->inserts, c->evictions, c->used, c->cap, c->count};
    pthread_mutex_unlock(&c->mu);
}
