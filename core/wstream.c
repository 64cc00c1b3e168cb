/* wstream.c — direct reads of weights into a ring of slots (wstream.h).
 *
 * Items are numbered by a running sequence s = pass * n_items + item; sequence s lives in slot
 * s % n_slots. The consumer's next sequence is `tail` (it holds it between get and done); the
 * reader loads `head` once head < tail + n_slots, so it never overwrites a slot the consumer holds
 * or has not taken yet. An abort moves both to the next pass's start and bumps `gen`: a read in
 * flight sees the change between chunks and is dropped. */
#include "wstream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "hugemem.h"

/* One pread at most this long: an abort is seen within one chunk's read. */
#define WSTREAM_CHUNK ((size_t)16 << 20)

typedef struct wrange {
    int item, file;
    uint64_t a;     /* aligned file offset the read starts at */
    size_t len;     /* aligned bytes to read (may pass the end of the file) */
    size_t need;    /* bytes the range needs from a: lead + n */
    size_t pos;     /* where the read lands in the slot (aligned) */
} wrange;

struct wstream_plan {
    char **paths;
    int n_files;
    wrange *r;
    int n_r, cap_r;
    size_t *used;   /* [n_items] bytes of each item's slot */
    int n_items;
    size_t bytes;   /* sum of the ranges' n */
};

struct wstream {
    const wstream_plan *p;
    int *fds;
    int n_slots;
    size_t slot_bytes, mem_bytes;
    uint8_t *mem;
    int64_t *slot_seq; /* sequence loaded in each slot, -1: none */
    int *slot_ok;
    int64_t head, tail;
    atomic_int gen;
    int quit, started;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wstream_stats st;
};

static size_t align_up(size_t n) { return (n + WSTREAM_ALIGN - 1) & ~(size_t)(WSTREAM_ALIGN - 1); }

int wstream_plan_new(wstream_plan **out, int n_items, rlv_err *err) {
    *out = NULL;
    if (n_items < 1) return rlv_errf(err, RLV_EINVAL, "a weight stream needs at least one item (%d)", n_items);
    wstream_plan *p = calloc(1, sizeof *p);
    if (p) p->used = calloc((size_t)n_items, sizeof *p->used);
    if (!p || !p->used) {
        free(p);
        return rlv_errf(err, RLV_ENOMEM, "out of memory for a weight stream's plan");
    }
    p->n_items = n_items;
    *out = p;
    return RLV_OK;
}

void wstream_plan_free(wstream_plan **pp) {
    if (!pp || !*pp) return;
    wstream_plan *p = *pp;
    for (int i = 0; i < p->n_files; i++) free(p->paths[i]);
    free(p->paths);
    free(p->r);
    free(p->used);
    free(p);
    *pp = NULL;
}

static int file_index(wstream_plan *p, const char *path) {
    for (int i = 0; i < p->n_files; i++)
        if (!strcmp(p->paths[i], path)) return i;
    char **np = realloc(p->paths, (size_t)(p->n_files + 1) * sizeof *np);
    if (!np) return -1;
    p->paths = np;
    if (!(np[p->n_files] = strdup(path))) return -1;
    return p->n_files++;
}

int wstream_plan_add(wstream_plan *p, int item, const char *path, uint64_t off, size_t n, size_t *slot_off,
                     rlv_err *err) {
    if (item < 0 || item >= p->n_items || !n)
        return rlv_errf(err, RLV_EINVAL, "weight stream: item %d of %d, %zu bytes", item, p->n_items, n);
    if (p->n_r == p->cap_r) {
        int cap = p->cap_r ? 2 * p->cap_r : 16;
        wrange *r = realloc(p->r, (size_t)cap * sizeof *r);
        if (!r) return rlv_errf(err, RLV_ENOMEM, "out of memory for a weight stream's plan");
        p->r = r;
        p->cap_r = cap;
    }
    int f = file_index(p, path);
    if (f < 0) return rlv_errf(err, RLV_ENOMEM, "out of memory for a weight stream's plan");
    uint64_t a = off & ~(uint64_t)(WSTREAM_ALIGN - 1);
    size_t lead = (size_t)(off - a);
    wrange *r = &p->r[p->n_r++];
    *r = (wrange){.item = item, .file = f, .a = a, .len = align_up(lead + n), .need = lead + n, .pos = p->used[item]};
    p->used[item] += r->len;
    p->bytes += n;
    *slot_off = r->pos + lead;
    return RLV_OK;
}

size_t wstream_plan_slot_bytes(const wstream_plan *p) {
    size_t m = 0;
    for (int i = 0; i < p->n_items; i++)
        if (p->used[i] > m) m = p->used[i];
    return m;
}
size_t wstream_plan_bytes(const wstream_plan *p) { return p->bytes; }
int wstream_plan_items(const wstream_plan *p) { return p->n_items; }

static int open_direct(const char *path, rlv_err *err) {
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        rlv_errf(err, RLV_EUNSUPPORTED, "%s: cannot be opened for direct reads (O_DIRECT): %s", path, strerror(errno));
    return fd;
}

int wstream_plan_check(const wstream_plan *p, rlv_err *err) {
    for (int i = 0; i < p->n_files; i++) {
        int fd = open_direct(p->paths[i], err);
        if (fd < 0) return RLV_EUNSUPPORTED;
        close(fd);
    }
    return RLV_OK;
}

int wstream_plan_finish(wstream_plan **p, rlv_err *err) {
    if (*p && !wstream_plan_bytes(*p)) wstream_plan_free(p);
    int rc = *p ? wstream_plan_check(*p, err) : RLV_OK;
    if (rc) wstream_plan_free(p);
    return rc;
}

/* Reads item `item` into slot; 1 done, 0 a read failed, -1 abandoned (gen moved on). */
static int load(wstream *s, int item, uint8_t *slot, int gen, uint64_t *bytes) {
    const wstream_plan *p = s->p;
    for (int k = 0; k < p->n_r; k++) {
        const wrange *r = &p->r[k];
        if (r->item != item) continue;
        size_t done = 0;
        while (done < r->need) {
            if (atomic_load(&s->gen) != gen) return -1;
            size_t want = r->len - done < WSTREAM_CHUNK ? r->len - done : WSTREAM_CHUNK;
            ssize_t got = pread(s->fds[r->file], slot + r->pos + done, want, (off_t)(r->a + done));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return 0; /* an error, or the file ends before the range does */
            done += (size_t)got;
            *bytes += (uint64_t)got;
        }
    }
    return 1;
}

static void *reader(void *arg) {
    wstream *s = arg;
    int n = s->p->n_items;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->quit && s->head >= s->tail + s->n_slots) pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit) break;
        int64_t seq = s->head;
        int slot = (int)(seq % s->n_slots), gen = atomic_load(&s->gen);
        s->slot_seq[slot] = -1;
        pthread_mutex_unlock(&s->mu);
        uint64_t bytes = 0;
        int ok = load(s, (int)(seq % n), s->mem + (size_t)slot * s->slot_bytes, gen, &bytes);
        pthread_mutex_lock(&s->mu);
        s->st.bytes += bytes;
        if (ok < 0 || gen != atomic_load(&s->gen)) continue; /* aborted: head was moved */
        s->slot_seq[slot] = seq;
        s->slot_ok[slot] = ok;
        s->st.items++;
        s->st.failed += !ok;
        s->head++;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int wstream_open(wstream **out, const wstream_plan *p, int n_slots, rlv_err *err) {
    *out = NULL;
    if (n_slots < 1) return rlv_errf(err, RLV_EINVAL, "a weight stream needs at least one slot (%d)", n_slots);
    wstream *s = calloc(1, sizeof *s);
    if (!s) return rlv_errf(err, RLV_ENOMEM, "out of memory for a weight stream");
    s->p = p;
    s->n_slots = n_slots;
    s->slot_bytes = align_up(wstream_plan_slot_bytes(p));
    s->mem_bytes = s->slot_bytes * (size_t)n_slots;
    s->fds = malloc((size_t)(p->n_files ? p->n_files : 1) * sizeof *s->fds);
    s->slot_seq = malloc((size_t)n_slots * sizeof *s->slot_seq);
    s->slot_ok = calloc((size_t)n_slots, sizeof *s->slot_ok);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    int rc = RLV_OK;
    if (!s->fds || !s->slot_seq || !s->slot_ok) rc = rlv_errf(err, RLV_ENOMEM, "out of memory for a weight stream");
    for (int i = 0; s->fds && i < p->n_files; i++) s->fds[i] = -1;
    for (int i = 0; !rc && i < n_slots; i++) s->slot_seq[i] = -1;
    for (int i = 0; !rc && i < p->n_files; i++)
        if ((s->fds[i] = open_direct(p->paths[i], err)) < 0) rc = RLV_EUNSUPPORTED;
    if (!rc) {
        /* populated now: memory is taken at start-up, not on a job's first read; page-aligned,
         * as direct reads need */
        s->mem = hugemem_alloc(s->mem_bytes, 1);
        if (!s->mem) rc = rlv_errf(err, RLV_ENOMEM, "weight stream: %zu bytes of slots", s->mem_bytes);
    }
    if (!rc && pthread_create(&s->th, NULL, reader, s) != 0)
        rc = rlv_errf(err, RLV_EIO, "weight stream: cannot start its reader thread");
    else if (!rc)
        s->started = 1;
    if (rc) {
        wstream_close(&s);
        return rc;
    }
    *out = s;
    return RLV_OK;
}

void wstream_close(wstream **sp) {
    if (!sp || !*sp) return;
    wstream *s = *sp;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->quit = 1;
        atomic_fetch_add(&s->gen, 1);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->th, NULL);
    }
    for (int i = 0; s->fds && i < s->p->n_files; i++)
        if (s->fds[i] >= 0) close(s->fds[i]);
    hugemem_free(s->mem);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s->fds);
    free(s->slot_seq);
    free(s->slot_ok);
    free(s);
    *sp = NULL;
}

const uint8_t *wstream_get(wstream *s, int i) {
    pthread_mutex_lock(&s->mu);
    int64_t seq = s->tail;
    RLV_ASSERT(seq % s->p->n_items == i);
    int slot = (int)(seq % s->n_slots);
    if (s->slot_seq[slot] != seq) {
        double t0 = clock_now_ms();
        while (s->slot_seq[slot] != seq) pthread_cond_wait(&s->cv, &s->mu);
        s->st.wait_s += (clock_now_ms() - t0) * 1e-3;
    }
    const uint8_t *r = s->slot_ok[slot] ? s->mem + (size_t)slot * s->slot_bytes : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

void wstream_done(wstream *s, int i) {
    pthread_mutex_lock(&s->mu);
    RLV_ASSERT(s->tail % s->p->n_items == i);
    s->tail++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void wstream_abort(wstream *s) {
    pthread_mutex_lock(&s->mu);
    int64_t n = s->p->n_items;
    if (s->tail % n) {
        int64_t next = (s->tail / n + 1) * n;
        atomic_fetch_add(&s->gen, 1);
        s->tail = s->head = next;
        for (int i = 0; i < s->n_slots; i++) s->slot_seq[i] = -1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

size_t wstream_bytes(const wstream *s) { return s ? s->mem_bytes : 0; }

void wstream_get_stats(wstream *s, wstream_stats *out) {
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    pthread_mutex_unlock(&s->mu);
}
