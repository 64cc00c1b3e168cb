/* lru.h — the intrusive recency list both caches keep (imcache.c, pcache.c): head = most recently
 * used, tail = the next to evict. Owns nothing: a node lives inside its entry (as its first
 * member, so the entry is the node's address); the caller's lock guards the list. */
#ifndef RLV_LRU_H
#define RLV_LRU_H

#include <stddef.h>

typedef struct lru_node {
    struct lru_node *prev, *next;
} lru_node;

typedef struct lru_list {
    lru_node *head, *tail;
} lru_list;

static inline void lru_unlink(lru_list *l, lru_node *e) {
    if (e->prev) e->prev->next = e->next;
    else l->head = e->next;
    if (e->next) e->next->prev = e->prev;
    else l->tail = e->prev;
    e->prev = e->next = NULL;
}

static inline void lru_front(lru_list *l, lru_node *e) {
    e->prev = NULL;
    e->next = l->head;
    if (l->head) l->head->prev = e;
    l->head = e;
    if (!l->tail) l->tail = e;
}

/* Moves a listed node to the front (a hit). */
static inline void lru_touch(lru_list *l, lru_node *e) {
    lru_unlink(l, e);
    lru_front(l, e);
}

#endif
