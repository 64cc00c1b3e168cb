/* tok.c — Llama/Mistral BPE tokenizer, bit-exact with Hugging Face `tokenizers`.
 *
 * Design notes (the library's pipeline, in its order; docs/model.md §7.2):
 *  1. Added tokens whose `normalized` flag is false are cut out of the raw text first,
 *     leftmost-longest, even mid-word; a single_word token's match is dropped when a word
 *     character (regex \w, uword.h) touches it within the piece; lstrip/rstrip widen a kept match
 *     over Unicode whitespace.
 *  2. Each remaining piece is normalised (Prepend "▁" to a non-empty piece, Replace " "→"▁");
 *     added tokens with `normalized` true are then cut out of the normalised piece.
 *  3. Optional Metaspace pre-tokeniser (newer files): " "→"▁", prepend per prepend_scheme,
 *     optional split before each "▁".
 *  4. BPE per word: characters → vocab ids (byte fallback <0xXX>, else unk, fused), then merges by
 *     rank from a min-heap keyed (rank, position), stale entries skipped — the library's
 *     Word::merge_all, so ties resolve the same way. O(n log n) in the word length.
 *  5. The template's special tokens (BOS) around the sequence when asked.
 * Invariants: everything in `struct tok` is written only by tok_load(); encode/decode take all
 * mutable state from a per-call scratch. */
#include "tok.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jnum.h"
#include "spm.h"
#include "uword.h"
#include "utf8.h"

#define TOK_MAX_IDS (1 << 22)
#define NONE UINT32_MAX

typedef struct tok_added {
    int id;
    uint32_t off, len;   /* content in blob */
    uint32_t noff, nlen; /* content after the normaliser (matched in normalised text) */
    uint8_t lstrip, rstrip, normalized, special, single_word;
} tok_added;

enum { NORM_PREPEND, NORM_REPLACE };
typedef struct norm_op {
    int kind;
    char *a, *b; /* prepend: a; replace: a → b */
    size_t alen, blen;
} norm_op;

enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };
enum { DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_METASPACE };
typedef struct dec_op {
    int kind;
    char *a, *b; /* replace: a → b; strip/metaspace: a = the character */
    size_t alen, blen;
    int start, stop, prepend;
} dec_op;

struct tok {
    const char *source;
    int n_ids;           /* one more than the largest id */
    char *blob;          /* all strings, NUL-terminated */
    size_t blob_len, blob_cap;
    uint32_t *voff, *vlen; /* [n_ids] model vocab piece of an id, NONE if the model has no such id */
    uint32_t *doff, *dlen; /* [n_ids] text of an id for decode: added content overrides the model's */
    int32_t *vh;           /* piece → id open-addressing table, -1 = empty */
    uint32_t vh_mask;
    int32_t char1_id[128]; /* single-byte pieces, -1 if absent */
    int32_t byte_id[256];  /* <0xXX> pieces, -1 if absent */
    struct merge_slot {    /* merge table, one cache line per probe: key (left<<32|right) */
        uint64_t key;      /* UINT64_MAX = empty */
        uint32_t rank;
        int32_t new_id;
    } *mtab;
    uint32_t m_mask;
    uint8_t *inert;        /* [n_ids] 1 = in no merge pair: a word can be cut around it */
    int32_t *merges;       /* [n_merges][2] by rank */
    int n_merges;
    int unk_id;            /* -1 when no unk token */
    int byte_fallback, fuse_unk, ignore_merges;
    tok_added *added;      /* sorted by content length, longest first */
    int n_added;
    uint8_t first_byte[256]; /* bit 1: a raw added token starts with it; bit 2: a normalised one */
    int8_t *is_special;      /* [n_ids] */
    norm_op norm[8];
    int n_norm;
    int metaspace, ms_prepend, ms_split;
    char ms_repl[8];
    size_t ms_repl_len;
    dec_op dec[8];
    int n_dec;
    int32_t pre_ids[8], post_ids[8];
    int n_pre, n_post;
};

/* ---------- small helpers ---------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 31);
}

static int utf8_len(uint8_t c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

static uint32_t utf8_decode(const uint8_t *s, int *n) {
    int k = utf8_len(s[0]);
    uint32_t cp = k == 1 ? s[0] : k == 2 ? s[0] & 0x1f : k == 3 ? s[0] & 0x0f : s[0] & 0x07;
    for (int j = 1; j < k; j++) cp = cp << 6 | (s[j] & 0x3f);
    *n = k;
    return cp;
}

/* Rust's char::is_whitespace (Unicode White_Space). */
static int uni_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static int blob_add(tok *t, const char *s, size_t n, uint32_t *off) {
    if (t->blob_len + n + 1 > t->blob_cap) {
        size_t cap = t->blob_cap ? t->blob_cap : 1 << 16;
        while (cap < t->blob_len + n + 1) cap *= 2;
        char *b = realloc(t->blob, cap);
        if (!b) return RLV_ENOMEM;
        t->blob = b;
        t->blob_cap = cap;
    }
    if (t->blob_len + n + 1 > UINT32_MAX - 1) return RLV_ENOMEM;
    memcpy(t->blob + t->blob_len, s, n);
    t->blob[t->blob_len + n] = 0;
    *off = (uint32_t)t->blob_len;
    t->blob_len += n + 1;
    return RLV_OK;
}

static int vocab_find(const tok *t, const char *s, size_t n) {
    uint32_t h = (uint32_t)hash_bytes(s, n) & t->vh_mask;
    for (;;) {
        int32_t id = t->vh[h];
        if (id < 0) return -1;
        if (t->vlen[id] == n && !memcmp(t->blob + t->voff[id], s, n)) return id;
        h = (h + 1) & t->vh_mask;
    }
}

/* Sets the model piece of id (a later piece with the same text wins the lookup, like a dict). */
static int vocab_set(tok *t, int id, const char *s, size_t n) {
    int rc = blob_add(t, s, n, &t->voff[id]);
    if (rc) return rc;
    t->vlen[id] = (uint32_t)n;
    t->doff[id] = t->voff[id];
    t->dlen[id] = t->vlen[id];
    uint32_t h = (uint32_t)hash_bytes(s, n) & t->vh_mask;
    for (;;) {
        int32_t o = t->vh[h];
        if (o < 0 || (t->vlen[o] == n && !memcmp(t->blob + t->voff[o], s, n))) {
            t->vh[h] = id;
            return RLV_OK;
        }
        h = (h + 1) & t->vh_mask;
    }
}

static int tok_alloc_ids(tok *t, int n_ids, size_t n_vocab) {
    t->n_ids = n_ids;
    t->voff = malloc(n_ids * sizeof *t->voff);
    t->vlen = calloc(n_ids, sizeof *t->vlen);
    t->doff = malloc(n_ids * sizeof *t->doff);
    t->dlen = calloc(n_ids, sizeof *t->dlen);
    t->is_special = calloc(n_ids, 1);
    uint32_t sz = 1024;
    while (sz < 2 * n_vocab + 2) sz *= 2;
    t->vh = malloc(sz * sizeof *t->vh);
    t->vh_mask = sz - 1;
    if (!t->voff || !t->vlen || !t->doff || !t->dlen || !t->is_special || !t->vh) return RLV_ENOMEM;
    for (int i = 0; i < n_ids; i++) t->voff[i] = t->doff[i] = NONE;
    memset(t->vh, 0xff, sz * sizeof *t->vh);
    return RLV_OK;
}

static int merges_alloc(tok *t, size_t n) {
    uint32_t sz = 1024;
    while (sz < 2 * n + 2) sz *= 2;
    t->mtab = malloc(sz * sizeof *t->mtab);
    t->merges = malloc((n ? n : 1) * 2 * sizeof *t->merges);
    t->inert = malloc(t->n_ids > 0 ? (size_t)t->n_ids : 1);
    if (!t->mtab || !t->merges || !t->inert) return RLV_ENOMEM;
    for (uint32_t i = 0; i < sz; i++) t->mtab[i].key = UINT64_MAX;
    memset(t->inert, 1, t->n_ids > 0 ? (size_t)t->n_ids : 1);
    t->m_mask = sz - 1;
    return RLV_OK;
}

/* Appends a merge at the next rank; a pair seen again takes the later rank (a Rust HashMap
 * collected from the list keeps the last). */
static void merge_add(tok *t, int l, int r, int new_id) {
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    uint32_t h = (uint32_t)hash_pair(key) & t->m_mask;
    while (t->mtab[h].key != UINT64_MAX && t->mtab[h].key != key) h = (h + 1) & t->m_mask;
    t->mtab[h].key = key;
    t->mtab[h].rank = (uint32_t)t->n_merges;
    t->mtab[h].new_id = new_id;
    t->inert[l] = t->inert[r] = 0;
    t->merges[2 * t->n_merges] = l;
    t->merges[2 * t->n_merges + 1] = r;
    t->n_merges++;
}

static inline int merge_find(const tok *t, int l, int r, uint32_t *rank) {
    uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    uint32_t h = (uint32_t)hash_pair(key) & t->m_mask;
    for (;;) {
        uint64_t k = t->mtab[h].key;
        if (k == key) { *rank = t->mtab[h].rank; return t->mtab[h].new_id; }
        if (k == UINT64_MAX) return -1;
        h = (h + 1) & t->m_mask;
    }
}

static void fill_fast_tables(tok *t) {
    for (int c = 0; c < 128; c++) {
        char s[1] = {(char)c};
        t->char1_id[c] = vocab_find(t, s, 1);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = vocab_find(t, s, 6);
    }
}

/* ---------- normaliser ---------- */

/* Applies the normaliser ops to s (n bytes) into *out (grown as needed). */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static int sb_reserve(sbuf *b, size_t n) {
    if (n <= b->cap) return RLV_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < n) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) return RLV_ENOMEM;
    b->p = p;
    b->cap = cap;
    return RLV_OK;
}

static int sb_put(sbuf *b, const char *s, size_t n) {
    if (sb_reserve(b, b->n + n + 1)) return RLV_ENOMEM;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return RLV_OK;
}

static int replace_into(sbuf *out, const char *s, size_t n, const char *a, size_t alen, const char *b, size_t blen) {
    out->n = 0;
    if (sb_reserve(out, n + 1)) return RLV_ENOMEM;
    size_t i = 0, last = 0;
    while (alen && i + alen <= n) {
        if (s[i] == a[0] && !memcmp(s + i, a, alen)) {
            if (sb_put(out, s + last, i - last) || sb_put(out, b, blen)) return RLV_ENOMEM;
            i += alen;
            last = i;
        } else {
            i++;
        }
    }
    if (sb_put(out, s + last, n - last)) return RLV_ENOMEM;
    return RLV_OK;
}

/* Normalises s into a (b is scratch). Returns the result buffer (a or b). */
static sbuf *normalize(const tok *t, const char *s, size_t n, sbuf *a, sbuf *b, int *rc) {
    *rc = RLV_OK;
    a->n = 0;
    if ((*rc = sb_put(a, s, n))) return a;
    for (int i = 0; i < t->n_norm; i++) {
        const norm_op *op = &t->norm[i];
        if (op->kind == NORM_PREPEND) {
            if (a->n == 0) continue; /* Prepend leaves an empty string empty */
            b->n = 0;
            if ((*rc = sb_put(b, op->a, op->alen)) || (*rc = sb_put(b, a->p, a->n))) return a;
        } else if ((*rc = replace_into(b, a->p, a->n, op->a, op->alen, op->b, op->blen))) {
            return a;
        }
        sbuf tmp = *a;
        *a = *b;
        *b = tmp;
    }
    return a;
}

/* ---------- encode ---------- */

typedef struct heap_ent {
    uint32_t rank;
    int32_t pos, new_id;
} heap_ent;

/* The buffers an encoding works in (tok.h): they grow to the largest text seen and are kept. */
struct tok_scratch {
    sbuf na, nb, mb, mb2; /* normaliser ping-pong, metaspace buffer and its swap */
    int32_t *sym, *prev, *next;
    uint32_t *slen;       /* byte length of a live symbol, 0 once merged away */
    heap_ent *heap;
    size_t scap, hcap;
};

typedef struct enc {
    const tok *t;
    int32_t *ids;
    int cap, n;
    tok_scratch *s;
} enc;

static inline void emit(enc *e, int32_t id) {
    if (e->n < e->cap) e->ids[e->n] = id;
    e->n++;
}

static int scratch_reserve(tok_scratch *e, size_t nsym) {
    if (nsym <= e->scap) return RLV_OK;
    size_t cap = e->scap ? e->scap : 1024;
    while (cap < nsym) cap *= 2;
    free(e->sym); free(e->prev); free(e->next); free(e->slen); free(e->heap);
    e->sym = malloc(cap * sizeof *e->sym);
    e->prev = malloc(cap * sizeof *e->prev);
    e->next = malloc(cap * sizeof *e->next);
    e->slen = malloc(cap * sizeof *e->slen);
    e->hcap = 3 * cap; /* n-1 initial pairs + at most 2 per merge */
    e->heap = malloc(e->hcap * sizeof *e->heap);
    e->scap = cap;
    if (!e->sym || !e->prev || !e->next || !e->slen || !e->heap) { e->scap = 0; return RLV_ENOMEM; }
    return RLV_OK;
}

static void scratch_clear(tok_scratch *e) {
    free(e->na.p); free(e->nb.p); free(e->mb.p); free(e->mb2.p);
    free(e->sym); free(e->prev); free(e->next); free(e->slen); free(e->heap);
    memset(e, 0, sizeof *e);
}

int tok_scratch_new(tok_scratch **out, size_t text_bytes) {
    tok_scratch *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s) return RLV_ENOMEM;
    /* n bytes of text normalise to at most ~3n (Metaspace: a 1-byte space becomes 3-byte U+2581)
     * and make at most n + 1 symbols */
    size_t nb = 3 * text_bytes + 16;
    if (scratch_reserve(s, text_bytes + 1) || sb_reserve(&s->na, nb) || sb_reserve(&s->nb, nb) ||
        sb_reserve(&s->mb, nb) || sb_reserve(&s->mb2, nb)) {
        tok_scratch_free(&s);
        return RLV_ENOMEM;
    }
    *out = s;
    return RLV_OK;
}

void tok_scratch_free(tok_scratch **s) {
    if (!s || !*s) return;
    scratch_clear(*s);
    free(*s);
    *s = NULL;
}

static inline int heap_less(const heap_ent *a, const heap_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static inline void heap_push(heap_ent *h, size_t *n, heap_ent v) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&v, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline heap_ent heap_pop(heap_ent *h, size_t *n) {
    heap_ent top = h[0], v = h[--(*n)];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &v)) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = v;
    return top;
}

/* Word::merge_all over symbols [a, b): min-heap on (rank, position), stale entries skipped. */
static void merge_segment(enc *e, int a, int b) {
    const tok *t = e->t;
    size_t hn = 0;
    for (int i = a; i < b; i++) {
        e->s->prev[i] = i > a ? i - 1 : -1;
        e->s->next[i] = i + 1 < b ? i + 1 : -1;
    }
    for (int i = a; i + 1 < b; i++) {
        uint32_t rank;
        int nid = merge_find(t, e->s->sym[i], e->s->sym[i + 1], &rank);
        if (nid >= 0) heap_push(e->s->heap, &hn, (heap_ent){rank, i, nid});
    }
    while (hn) {
        heap_ent top = heap_pop(e->s->heap, &hn);
        int p = top.pos;
        if (e->s->slen[p] == 0 || e->s->next[p] < 0) continue;
        int q = e->s->next[p];
        uint32_t rank;
        if (merge_find(t, e->s->sym[p], e->s->sym[q], &rank) != top.new_id) continue; /* stale entry */
        e->s->sym[p] = top.new_id;
        e->s->slen[p] += e->s->slen[q];
        e->s->slen[q] = 0;
        e->s->next[p] = e->s->next[q];
        if (e->s->next[q] >= 0) e->s->prev[e->s->next[q]] = p;
        if (e->s->prev[p] >= 0) {
            int nid = merge_find(t, e->s->sym[e->s->prev[p]], e->s->sym[p], &rank);
            if (nid >= 0) heap_push(e->s->heap, &hn, (heap_ent){rank, e->s->prev[p], nid});
        }
        if (e->s->next[p] >= 0) {
            int nid = merge_find(t, e->s->sym[p], e->s->sym[e->s->next[p]], &rank);
            if (nid >= 0) heap_push(e->s->heap, &hn, (heap_ent){rank, p, nid});
        }
    }
}

/* BPE on one word (the library's BPE::merge_word + Word::merge_all). */
static int bpe_word(enc *e, const char *w, size_t n) {
    const tok *t = e->t;
    if (n == 0) return RLV_OK;
    if (t->ignore_merges) {
        int id = vocab_find(t, w, n);
        if (id >= 0) { emit(e, id); return RLV_OK; }
    }
    int rc = scratch_reserve(e->s, n + 1);
    if (rc) return rc;
    int ns = 0, unk_pending = 0;
    uint32_t unk_len = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)w[i];
        int k = utf8_len(c);
        int id = c < 0x80 ? t->char1_id[c] : vocab_find(t, w + i, (size_t)k);
        if (id >= 0) {
            if (unk_pending) { e->s->sym[ns] = t->unk_id; e->s->slen[ns++] = unk_len; unk_pending = 0; }
            e->s->sym[ns] = id;
            e->s->slen[ns++] = (uint32_t)k;
        } else {
            int ok = t->byte_fallback;
            for (int j = 0; ok && j < k; j++) ok = t->byte_id[(uint8_t)w[i + j]] >= 0;
            if (ok) { /* the library adds the bytes without flushing a pending unk */
                for (int j = 0; j < k; j++) { e->s->sym[ns] = t->byte_id[(uint8_t)w[i + j]]; e->s->slen[ns++] = 1; }
            } else if (t->unk_id >= 0) {
                if (unk_pending && t->fuse_unk) {
                    unk_len += (uint32_t)k;
                } else {
                    if (unk_pending) { e->s->sym[ns] = t->unk_id; e->s->slen[ns++] = unk_len; }
                    unk_pending = 1;
                    unk_len = (uint32_t)k;
                }
            }
        }
        i += (size_t)k;
    }
    if (unk_pending) { e->s->sym[ns] = t->unk_id; e->s->slen[ns++] = unk_len; }
    if (ns == 0) return RLV_OK;
    /* A symbol in no merge pair (e.g. the <0x0A> of a newline) can never join a neighbour, so
     * the word is merged segment by segment around it: same result, small heaps. */
    for (int a = 0; a < ns;) {
        int b = a + 1;
        if (!t->inert[e->s->sym[a]])
            while (b < ns && !t->inert[e->s->sym[b]]) b++;
        merge_segment(e, a, b);
        a = b;
    }
    for (int i = 0; i < ns; i++)
        if (e->s->slen[i]) emit(e, e->s->sym[i]);
    return RLV_OK;
}


/* Pre-tokeniser (Metaspace or none) then BPE. at_start: the piece begins the original text. */
static int pretok_bpe(enc *e, const char *s, size_t n, int at_start) {
    const tok *t = e->t;
    if (!t->metaspace) return bpe_word(e, s, n);
    int rc = replace_into(&e->s->mb, s, n, " ", 1, t->ms_repl, t->ms_repl_len);
    if (rc) return rc;
    const char *r = t->ms_repl;
    size_t rl = t->ms_repl_len;
    int starts = e->s->mb.n >= rl && !memcmp(e->s->mb.p, r, rl);
    if (!starts && (t->ms_prepend == PREPEND_ALWAYS || (t->ms_prepend == PREPEND_FIRST && at_start))) {
        sbuf *m2 = &e->s->mb2, sw;
        m2->n = 0;
        if (sb_put(m2, r, rl) || sb_put(m2, e->s->mb.p, e->s->mb.n)) return RLV_ENOMEM;
        sw = e->s->mb, e->s->mb = *m2, *m2 = sw;
    }
    const char *p = e->s->mb.p;
    size_t m = e->s->mb.n;
    if (!t->ms_split) return bpe_word(e, p, m);
    size_t st = 0;
    for (size_t i = rl; i + rl <= m; i++) {
        if (!memcmp(p + i, r, rl)) { /* MergedWithNext: each "▁" starts a word */
            if ((rc = bpe_word(e, p + st, i - st))) return rc;
            st = i;
            i += rl - 1;
        }
    }
    return bpe_word(e, p + st, m - st);
}

/* Whether the character ending at s[i] (i > 0) / starting at s[i] is a word character. */
static int word_before(const char *s, size_t i) {
    size_t j = i - 1;
    while (j > 0 && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
    int k;
    return uword_is_word(utf8_decode((const uint8_t *)s + j, &k));
}

static int word_at(const char *s, size_t i) {
    int k;
    return uword_is_word(utf8_decode((const uint8_t *)s + i, &k));
}

/* Longest added token of the set (bit) matching at s[i]; returns its index or -1. */
static int added_match(const tok *t, const char *s, size_t n, size_t i, int bit) {
    for (int a = 0; a < t->n_added; a++) { /* sorted longest first */
        const tok_added *ad = &t->added[a];
        if ((bit == 1) == (ad->normalized != 0)) continue;
        uint32_t off = bit == 1 ? ad->off : ad->noff, len = bit == 1 ? ad->len : ad->nlen;
        if (len && len <= n - i && !memcmp(s + i, t->blob + off, len)) return a;
    }
    return -1;
}

typedef int (*piece_fn)(enc *e, const char *s, size_t n, int at_start);

/* The library's AddedVocabulary::find_matches over one string: text pieces go to fn,
 * matched tokens are emitted. */
static int split_added(enc *e, const char *s, size_t n, int bit, int at_start, piece_fn fn) {
    const tok *t = e->t;
    size_t start_off = 0, i = 0;
    int rc;
    while (i < n) {
        if (!(t->first_byte[(uint8_t)s[i]] & bit)) { i++; continue; }
        int a = added_match(t, s, n, i, bit);
        if (a < 0) { i++; continue; }
        const tok_added *ad = &t->added[a];
        size_t start = i, stop = i + (bit == 1 ? ad->len : ad->nlen), end = stop;
        /* The library iterates its automaton's non-overlapping matches: the next search starts
         * at this match's end, also when the match is dropped or rstrip took more. */
        i = end;
        if (ad->single_word && ((start > 0 && word_before(s, start)) || (end < n && word_at(s, end)))) continue;
        if (ad->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t j = ns - 1;
                while (j > 0 && ((uint8_t)s[j] & 0xC0) == 0x80) j--;
                int k;
                if (!uni_space(utf8_decode((const uint8_t *)s + j, &k))) break;
                ns = j;
            }
            start = ns > start_off ? ns : start_off;
        }
        if (ad->rstrip) {
            int k;
            while (stop < n && uni_space(utf8_decode((const uint8_t *)s + stop, &k))) stop += (size_t)k;
        }
        if (start_off < start && (rc = fn(e, s + start_off, start - start_off, at_start && start_off == 0))) return rc;
        emit(e, ad->id);
        start_off = stop;
    }
    if (start_off < n) return fn(e, s + start_off, n - start_off, at_start && start_off == 0);
    return RLV_OK;
}

static int normalized_piece(enc *e, const char *s, size_t n, int at_start) {
    const tok *t = e->t;
    int rc;
    sbuf *nb = normalize(t, s, n, &e->s->na, &e->s->nb, &rc);
    if (rc) return rc;
    if (nb->n == 0) return RLV_OK;
    /* split_added may call pretok_bpe, which does not touch na/nb: the buffer stays valid. */
    return split_added(e, nb->p, nb->n, 2, at_start, pretok_bpe);
}

int tok_encode(const tok *t, const char *text, size_t len, int add_special, int32_t *ids, int cap,
               int *n_out, rlv_err *err) {
    tok_scratch s = {0};
    int rc = tok_encode_s(t, &s, text, len, add_special, ids, cap, n_out, err);
    scratch_clear(&s);
    return rc;
}

int tok_encode_s(const tok *t, tok_scratch *s, const char *text, size_t len, int add_special, int32_t *ids, int cap,
                 int *n_out, rlv_err *err) {
    *n_out = 0;
    size_t bad = utf8_check((const uint8_t *)text, len);
    if (bad != len)
        return rlv_errf(err, RLV_EINVAL, "text is not valid UTF-8 (byte %zu)", bad);
    enc e = {.t = t, .ids = ids, .cap = cap < 0 ? 0 : cap, .s = s};
    int rc = RLV_OK;
    if (add_special)
        for (int i = 0; i < t->n_pre; i++) emit(&e, t->pre_ids[i]);
    if (len) rc = split_added(&e, text, len, 1, 1, normalized_piece);
    if (!rc && add_special)
        for (int i = 0; i < t->n_post; i++) emit(&e, t->post_ids[i]);
    if (rc) return rlv_errf(err, rc, "tokenizer: out of memory encoding %zu bytes", len);
    *n_out = e.n;
    if (e.n > e.cap) return rlv_errf(err, RLV_ELIMIT, "text is %d tokens, room for %d", e.n, e.cap);
    return RLV_OK;
}

/* ---------- decode ---------- */

typedef struct slist {
    sbuf b;
    size_t *off, *len;
    int n, cap;
} slist;

static int sl_push(slist *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        size_t *o = realloc(l->off, cap * sizeof *o), *q;
        if (!o) return RLV_ENOMEM;
        l->off = o;
        if (!(q = realloc(l->len, cap * sizeof *q))) return RLV_ENOMEM;
        l->len = q;
        l->cap = cap;
    }
    l->off[l->n] = l->b.n;
    l->len[l->n] = n;
    l->n++;
    return sb_put(&l->b, s, n);
}

static void sl_free(slist *l) { free(l->b.p); free(l->off); free(l->len); memset(l, 0, sizeof *l); }

static int is_byte_token(const char *s, size_t n, uint8_t *v) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return 0;
    int x = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        x = x * 16 + d;
    }
    *v = (uint8_t)x;
    return 1;
}

static int flush_bytes(slist *out, sbuf *bytes) {
    int rc = RLV_OK;
    if (!bytes->n) return RLV_OK;
    if (utf8_check((const uint8_t *)bytes->p, bytes->n) == bytes->n) rc = sl_push(out, bytes->p, bytes->n);
    else
        for (size_t i = 0; i < bytes->n && !rc; i++) rc = sl_push(out, "\xEF\xBF\xBD", 3);
    bytes->n = 0;
    return rc;
}

static int dec_apply(const dec_op *op, const slist *in, slist *out) {
    int rc = RLV_OK;
    sbuf tmp = {0}, bytes = {0};
    if (op->kind == DEC_FUSE) {
        rc = sl_push(out, in->b.p ? in->b.p : "", in->b.n); /* strings are stored back to back */
        return rc;
    }
    for (int i = 0; i < in->n && !rc; i++) {
        const char *s = in->b.p + in->off[i];
        size_t n = in->len[i];
        if (op->kind == DEC_REPLACE) {
            if (!(rc = replace_into(&tmp, s, n, op->a, op->alen, op->b, op->blen))) rc = sl_push(out, tmp.p, tmp.n);
        } else if (op->kind == DEC_BYTEFALLBACK) {
            uint8_t v;
            if (is_byte_token(s, n, &v)) rc = sb_put(&bytes, (const char *)&v, 1);
            else if (!(rc = flush_bytes(out, &bytes))) rc = sl_push(out, s, n);
        } else if (op->kind == DEC_STRIP) {
            size_t a = 0, z = n;
            for (int k = 0; k < op->start && z - a >= op->alen && !memcmp(s + a, op->a, op->alen); k++) a += op->alen;
            for (int k = 0; k < op->stop && z - a >= op->alen && !memcmp(s + z - op->alen, op->a, op->alen); k++) z -= op->alen;
            rc = sl_push(out, s + a, z - a);
        } else { /* DEC_METASPACE: in the first token every replacement char goes, unless never */
            const char *sp = i == 0 && op->prepend != PREPEND_NEVER ? "" : " ";
            if (!(rc = replace_into(&tmp, s, n, op->a, op->alen, sp, strlen(sp)))) rc = sl_push(out, tmp.p, tmp.n);
        }
    }
    if (!rc && op->kind == DEC_BYTEFALLBACK) rc = flush_bytes(out, &bytes);
    free(tmp.p);
    free(bytes.p);
    return rc;
}

int tok_decode(const tok *t, const int32_t *ids, int n, int skip_special, char *out, size_t cap,
               size_t *len_out, rlv_err *err) {
    slist a = {0}, b = {0};
    int rc = RLV_OK;
    *len_out = 0;
    for (int i = 0; i < n && !rc; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->n_ids || t->doff[id] == NONE) continue;
        if (skip_special && t->is_special[id]) continue;
        rc = sl_push(&a, t->blob + t->doff[id], t->dlen[id]);
    }
    for (int k = 0; k < t->n_dec && !rc; k++) {
        b.n = 0;
        b.b.n = 0;
        rc = dec_apply(&t->dec[k], &a, &b);
        slist tmp = a;
        a = b;
        b = tmp;
    }
    if (!rc) {
        *len_out = a.b.n;
        if (cap) {
            size_t m = a.b.n < cap - 1 ? a.b.n : cap - 1;
            if (m) memcpy(out, a.b.p, m);
            out[m] = 0;
        }
        if (a.b.n + 1 > cap) rc = rlv_errf(err, RLV_ELIMIT, "decoded text is %zu bytes, room for %zu", a.b.n, cap ? cap - 1 : 0);
    } else {
        rlv_errf(err, rc, "tokenizer: out of memory decoding %d ids", n);
    }
    sl_free(&a);
    sl_free(&b);
    return rc;
}

/* ---------- queries ---------- */

int tok_piece_id(const tok *t, const char *piece) {
    size_t n = strlen(piece);
    for (int a = 0; a < t->n_added; a++)
        if (t->added[a].len == n && !memcmp(t->blob + t->added[a].off, piece, n)) return t->added[a].id;
    return vocab_find(t, piece, n);
}

const char *tok_piece(const tok *t, int id) {
    if (id < 0 || id >= t->n_ids || t->doff[id] == NONE) return NULL;
    return t->blob + t->doff[id];
}

int tok_vocab_size(const tok *t) { return t->n_ids; }
int tok_is_special(const tok *t, int id) { return id >= 0 && id < t->n_ids && t->is_special[id]; }
int tok_n_merges(const tok *t) { return t->n_merges; }
const char *tok_source(const tok *t) { return t->source; }

int tok_merge(const tok *t, int rank, int *left, int *right) {
    if (rank < 0 || rank >= t->n_merges) return RLV_EINVAL;
    *left = t->merges[2 * rank];
    *right = t->merges[2 * rank + 1];
    return RLV_OK;
}

void tok_free(tok **tp) {
    if (!tp || !*tp) return;
    tok *t = *tp;
    free(t->blob); free(t->voff); free(t->vlen); free(t->doff); free(t->dlen); free(t->vh);
    free(t->mtab); free(t->inert); free(t->merges); free(t->added); free(t->is_special);
    for (int i = 0; i < t->n_norm; i++) { free(t->norm[i].a); free(t->norm[i].b); }
    for (int i = 0; i < t->n_dec; i++) { free(t->dec[i].a); free(t->dec[i].b); }
    free(t);
    *tp = NULL;
}

/* ---------- loading: shared parts ---------- */

static char *dupn(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) { memcpy(p, s, n); p[n] = 0; }
    return p;
}

static int add_norm(tok *t, int kind, const char *a, const char *b, rlv_err *err) {
    if (t->n_norm == 8) return rlv_errf(err, RLV_EUNSUPPORTED, "normalizer: more than 8 steps");
    norm_op *op = &t->norm[t->n_norm++];
    op->kind = kind;
    op->alen = strlen(a);
    op->a = dupn(a, op->alen);
    op->blen = b ? strlen(b) : 0;
    op->b = dupn(b ? b : "", op->blen);
    if (!op->a || !op->b) return rlv_errf(err, RLV_ENOMEM, "normalizer");
    return RLV_OK;
}

static int add_dec(tok *t, int kind, const char *a, const char *b, int start, int stop, int prepend, rlv_err *err) {
    if (t->n_dec == 8) return rlv_errf(err, RLV_EUNSUPPORTED, "decoder: more than 8 steps");
    dec_op *op = &t->dec[t->n_dec++];
    op->kind = kind;
    op->alen = a ? strlen(a) : 0;
    op->a = dupn(a ? a : "", op->alen);
    op->blen = b ? strlen(b) : 0;
    op->b = dupn(b ? b : "", op->blen);
    op->start = start;
    op->stop = stop;
    op->prepend = prepend;
    if (!op->a || !op->b) return rlv_errf(err, RLV_ENOMEM, "decoder");
    return RLV_OK;
}

typedef struct added_spec {
    int id;
    const char *content;
    int lstrip, rstrip, normalized, special, single_word;
} added_spec;

static int cmp_added(const void *x, const void *y) {
    const tok_added *a = x, *b = y;
    return a->len != b->len ? (a->len < b->len ? 1 : -1) : (a->id > b->id) - (a->id < b->id);
}

/* Installs the added tokens in the library's order with the library's ids
 * (AddedVocabulary::add_tokens): a content already added or in the model vocab keeps that id,
 * a new one gets vocab_count or one past the largest added id. The id written in the file is
 * only a hint to the library (it warns when they differ); check_ids makes a difference an error.
 * An identical token seen again is ignored; the same content with other flags replaces them. */
static int set_added(tok *t, const added_spec *sp, int n, int vocab_count, int id_cap, int check_ids,
                     const char *where, rlv_err *err) {
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return rlv_errf(err, RLV_ENOMEM, "%s: added tokens", where);
    sbuf na = {0}, nb = {0};
    int rc = RLV_OK, max_added = -1;
    for (int i = 0; i < n && !rc; i++) {
        size_t len = strlen(sp[i].content);
        if (!len) continue;
        int k, id = -1;
        for (k = 0; k < t->n_added; k++)
            if (t->added[k].len == len && !memcmp(t->blob + t->added[k].off, sp[i].content, len)) break;
        if (k < t->n_added) {
            tok_added *o = &t->added[k];
            if (o->lstrip == sp[i].lstrip && o->rstrip == sp[i].rstrip && o->normalized == sp[i].normalized &&
                o->special == sp[i].special && o->single_word == sp[i].single_word)
                continue;
            id = o->id;
        } else if ((id = vocab_find(t, sp[i].content, len)) < 0) {
            id = max_added < 0 || max_added < vocab_count ? vocab_count : max_added + 1;
        }
        if (check_ids && id != sp[i].id) {
            rc = rlv_errf(err, RLV_ETOKEN, "%s: added token '%s' is declared with id %d but gets id %d", where,
                          sp[i].content, sp[i].id, id);
            break;
        }
        if (id >= id_cap) { rc = rlv_errf(err, RLV_ETOKEN, "%s: added token '%s': id %d out of range", where, sp[i].content, id); break; }
        if (id > max_added) max_added = id;
        /* one entry per id: a later token with that id replaces the earlier one */
        for (k = 0; k < t->n_added && t->added[k].id != id; k++) {}
        tok_added *ad = &t->added[k];
        if (k == t->n_added) t->n_added++;
        memset(ad, 0, sizeof *ad);
        ad->id = id;
        ad->lstrip = (uint8_t)sp[i].lstrip;
        ad->rstrip = (uint8_t)sp[i].rstrip;
        ad->normalized = (uint8_t)sp[i].normalized;
        ad->special = (uint8_t)sp[i].special;
        ad->single_word = (uint8_t)sp[i].single_word;
        if ((rc = blob_add(t, sp[i].content, len, &ad->off))) break;
        ad->len = (uint32_t)len;
        if (ad->normalized) {
            sbuf *r = normalize(t, sp[i].content, len, &na, &nb, &rc);
            if (rc || (rc = blob_add(t, r->p, r->n, &ad->noff))) break;
            ad->nlen = (uint32_t)r->n;
        }
    }
    free(na.p);
    free(nb.p);
    if (rc == RLV_ENOMEM) return rlv_errf(err, rc, "%s: added tokens", where);
    if (rc) return rc;
    if (max_added + 1 > t->n_ids) t->n_ids = max_added + 1;
    for (int k = 0; k < t->n_added; k++) {
        tok_added *ad = &t->added[k];
        t->doff[ad->id] = ad->off;
        t->dlen[ad->id] = ad->len;
        t->is_special[ad->id] = (int8_t)ad->special;
        if (!ad->normalized) t->first_byte[(uint8_t)t->blob[ad->off]] |= 1;
        else if (ad->nlen) t->first_byte[(uint8_t)t->blob[ad->noff]] |= 2;
    }
    qsort(t->added, (size_t)t->n_added, sizeof *t->added, cmp_added);
    return RLV_OK;
}

static int read_file(const char *path, uint8_t **buf, size_t *len, rlv_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rlv_errf(err, RLV_EIO, "%s: cannot open", path);
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 0 || st.st_size > (1 << 30)) {
        fclose(f);
        return rlv_errf(err, RLV_EIO, "%s: cannot stat or larger than 1 GB", path);
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len ? *len : 1);
    if (!*buf) { fclose(f); return rlv_errf(err, RLV_ENOMEM, "%s: %zu B", path, *len); }
    size_t got = fread(*buf, 1, *len, f);
    fclose(f);
    if (got != *len) { free(*buf); return rlv_errf(err, RLV_EIO, "%s: short read", path); }
    return RLV_OK;
}

static int jbool(json_t *o, const char *k, int dflt) {
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* ---------- loading tokenizer.json ---------- */

static int json_normalizer(tok *t, json_t *n, const char *where, rlv_err *err) {
    if (!n || json_is_null(n)) return RLV_OK;
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!type) return rlv_errf(err, RLV_ETOKEN, "%s: normalizer without a type", where);
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(n, "normalizers");
        if (!json_is_array(arr)) return rlv_errf(err, RLV_ETOKEN, "%s: normalizer Sequence without normalizers", where);
        size_t i;
        json_t *x;
        json_array_foreach(arr, i, x) {
            int rc = json_normalizer(t, x, where, err);
            if (rc) return rc;
        }
        return RLV_OK;
    }
    if (!strcmp(type, "Prepend")) {
        const char *p = json_string_value(json_object_get(n, "prepend"));
        if (!p) return rlv_errf(err, RLV_ETOKEN, "%s: Prepend normalizer without 'prepend'", where);
        return add_norm(t, NORM_PREPEND, p, NULL, err);
    }
    if (!strcmp(type, "Replace")) {
        const char *pat = json_string_value(json_object_get(json_object_get(n, "pattern"), "String"));
        const char *c = json_string_value(json_object_get(n, "content"));
        if (!pat || !c)
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Replace normalizer: only a String pattern is supported", where);
        if (!*pat) return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Replace normalizer with an empty pattern", where);
        return add_norm(t, NORM_REPLACE, pat, c, err);
    }
    return rlv_errf(err, RLV_EUNSUPPORTED, "%s: normalizer '%s' is not supported (Prepend, Replace, Sequence are)", where, type);
}

static int parse_prepend_scheme(json_t *o, int *out) {
    const char *s = json_string_value(json_object_get(o, "prepend_scheme"));
    if (s) {
        if (!strcmp(s, "always")) *out = PREPEND_ALWAYS;
        else if (!strcmp(s, "first")) *out = PREPEND_FIRST;
        else if (!strcmp(s, "never")) *out = PREPEND_NEVER;
        else return 0;
        return 1;
    }
    *out = jbool(o, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
    return 1;
}

static int json_pretok(tok *t, json_t *p, const char *where, rlv_err *err) {
    if (!p || json_is_null(p)) return RLV_OK;
    const char *type = json_string_value(json_object_get(p, "type"));
    if (type && !strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(p, "pretokenizers");
        if (json_is_array(arr) && json_array_size(arr) == 1) return json_pretok(t, json_array_get(arr, 0), where, err);
        if (json_is_array(arr) && json_array_size(arr) == 0) return RLV_OK;
    }
    if (!type || strcmp(type, "Metaspace"))
        return rlv_errf(err, RLV_EUNSUPPORTED, "%s: pre_tokenizer '%s' is not supported (Metaspace is)", where, type ? type : "?");
    const char *r = json_string_value(json_object_get(p, "replacement"));
    if (!r || !*r || strlen(r) >= sizeof t->ms_repl)
        return rlv_errf(err, RLV_ETOKEN, "%s: Metaspace needs a one-character 'replacement'", where);
    if (!parse_prepend_scheme(p, &t->ms_prepend))
        return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Metaspace prepend_scheme is not always/first/never", where);
    t->metaspace = 1;
    t->ms_split = jbool(p, "split", 1);
    snprintf(t->ms_repl, sizeof t->ms_repl, "%s", r);
    t->ms_repl_len = strlen(r);
    return RLV_OK;
}

static int json_decoder(tok *t, json_t *d, const char *where, rlv_err *err) {
    if (!d || json_is_null(d)) return RLV_OK;
    const char *type = json_string_value(json_object_get(d, "type"));
    if (!type) return rlv_errf(err, RLV_ETOKEN, "%s: decoder without a type", where);
    if (!strcmp(type, "Sequence")) {
        json_t *arr = json_object_get(d, "decoders"), *x;
        size_t i;
        if (!json_is_array(arr)) return rlv_errf(err, RLV_ETOKEN, "%s: decoder Sequence without decoders", where);
        json_array_foreach(arr, i, x) {
            int rc = json_decoder(t, x, where, err);
            if (rc) return rc;
        }
        return RLV_OK;
    }
    if (!strcmp(type, "Replace")) {
        const char *pat = json_string_value(json_object_get(json_object_get(d, "pattern"), "String"));
        const char *c = json_string_value(json_object_get(d, "content"));
        if (!pat || !*pat || !c)
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Replace decoder: only a non-empty String pattern is supported", where);
        return add_dec(t, DEC_REPLACE, pat, c, 0, 0, 0, err);
    }
    if (!strcmp(type, "ByteFallback")) return add_dec(t, DEC_BYTEFALLBACK, NULL, NULL, 0, 0, 0, err);
    if (!strcmp(type, "Fuse")) return add_dec(t, DEC_FUSE, NULL, NULL, 0, 0, 0, err);
    if (!strcmp(type, "Strip")) {
        const char *c = json_string_value(json_object_get(d, "content"));
        int64_t a, z;
        if (!c || !*c || jnum_int(json_object_get(d, "start"), 0, 1000, &a) || jnum_int(json_object_get(d, "stop"), 0, 1000, &z))
            return rlv_errf(err, RLV_ETOKEN, "%s: Strip decoder needs content, start and stop (integers in [0, 1000])", where);
        int k;
        utf8_decode((const uint8_t *)c, &k);
        if ((size_t)k != strlen(c)) return rlv_errf(err, RLV_ETOKEN, "%s: Strip decoder content must be one character", where);
        return add_dec(t, DEC_STRIP, c, NULL, (int)a, (int)z, 0, err);
    }
    if (!strcmp(type, "Metaspace")) {
        const char *r = json_string_value(json_object_get(d, "replacement"));
        int ps;
        if (!r || !*r) return rlv_errf(err, RLV_ETOKEN, "%s: Metaspace decoder needs 'replacement'", where);
        if (!parse_prepend_scheme(d, &ps))
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Metaspace decoder prepend_scheme is not always/first/never", where);
        return add_dec(t, DEC_METASPACE, r, NULL, 0, 0, ps, err);
    }
    return rlv_errf(err, RLV_EUNSUPPORTED, "%s: decoder '%s' is not supported (Replace, ByteFallback, Fuse, Strip, Metaspace are)",
                    where, type);
}

static int special_id(json_t *root_special, const char *name, tok *t, int32_t *id, const char *where, rlv_err *err) {
    json_t *st = json_object_get(root_special, name);
    json_t *ids = json_object_get(st, "ids");
    int pid;
    int64_t x;
    if (json_is_array(ids) && json_array_size(ids) == 1 && json_is_number(json_array_get(ids, 0))) {
        if (jnum_int(json_array_get(ids, 0), 0, TOK_MAX_IDS - 1, &x))
            return rlv_errf(err, RLV_ETOKEN, "%s: post_processor token '%s': id %.16g is not an integer in [0, %d]", where,
                            name, json_number_value(json_array_get(ids, 0)), TOK_MAX_IDS - 1);
        pid = (int)x;
    } else {
        pid = tok_piece_id(t, name);
    }
    if (pid < 0 || pid >= t->n_ids) return rlv_errf(err, RLV_ETOKEN, "%s: post_processor token '%s' has no id", where, name);
    *id = pid;
    return RLV_OK;
}

static int json_post(tok *t, json_t *p, const char *where, rlv_err *err) {
    if (!p || json_is_null(p)) return RLV_OK;
    const char *type = json_string_value(json_object_get(p, "type"));
    if (!type || strcmp(type, "TemplateProcessing"))
        return rlv_errf(err, RLV_EUNSUPPORTED, "%s: post_processor '%s' is not supported (TemplateProcessing is)", where, type ? type : "?");
    json_t *single = json_object_get(p, "single"), *sp = json_object_get(p, "special_tokens"), *x;
    size_t i;
    int seen_seq = 0;
    if (!json_is_array(single)) return rlv_errf(err, RLV_ETOKEN, "%s: TemplateProcessing without 'single'", where);
    json_array_foreach(single, i, x) {
        json_t *s = json_object_get(x, "SpecialToken");
        if (json_object_get(x, "Sequence")) {
            if (seen_seq++) return rlv_errf(err, RLV_EUNSUPPORTED, "%s: template repeats the sequence", where);
            continue;
        }
        const char *name = json_string_value(json_object_get(s, "id"));
        if (!name) return rlv_errf(err, RLV_ETOKEN, "%s: template item %zu is neither SpecialToken nor Sequence", where, i);
        int32_t *dst = seen_seq ? t->post_ids : t->pre_ids;
        int *nd = seen_seq ? &t->n_post : &t->n_pre;
        if (*nd == 8) return rlv_errf(err, RLV_EUNSUPPORTED, "%s: more than 8 template tokens", where);
        int rc = special_id(sp, name, t, &dst[*nd], where, err);
        if (rc) return rc;
        (*nd)++;
    }
    return RLV_OK;
}

static int load_json(tok *t, const char *path, rlv_err *err) {
    json_error_t je;
    json_t *root = json_load_file(path, JNUM_DECODE, &je);
    if (!root) return rlv_errf(err, RLV_ETOKEN, "%s: line %d: %s", path, je.line, je.text);
    int rc = RLV_OK;
    added_spec *sp = NULL;
    json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges"), *added = json_object_get(root, "added_tokens");
    const char *mtype = json_string_value(json_object_get(model, "type"));
    t->source = "tokenizer.json";
    if (!json_is_object(model) || (mtype && strcmp(mtype, "BPE")) || (!mtype && !json_is_array(merges))) {
        rc = rlv_errf(err, RLV_EUNSUPPORTED, "%s: model type '%s' is not supported (BPE is)", path, mtype ? mtype : "?");
        goto out;
    }
    if (!json_is_object(vocab) || !json_is_array(merges)) {
        rc = rlv_errf(err, RLV_ETOKEN, "%s: BPE model needs 'vocab' (object) and 'merges' (array)", path);
        goto out;
    }
    const char *bad = NULL;
    json_t *v;
    if (!json_is_null(json_object_get(root, "truncation")) && json_object_get(root, "truncation")) bad = "truncation";
    else if (!json_is_null(json_object_get(root, "padding")) && json_object_get(root, "padding")) bad = "padding";
    else if ((v = json_object_get(model, "dropout")) && !json_is_null(v)) bad = "model.dropout";
    else if ((v = json_object_get(model, "continuing_subword_prefix")) && !json_is_null(v) && strcmp(json_string_value(v) ? json_string_value(v) : "x", ""))
        bad = "model.continuing_subword_prefix";
    else if ((v = json_object_get(model, "end_of_word_suffix")) && !json_is_null(v) && strcmp(json_string_value(v) ? json_string_value(v) : "x", ""))
        bad = "model.end_of_word_suffix";
    if (bad) { rc = rlv_errf(err, RLV_EUNSUPPORTED, "%s: '%s' is set (not supported)", path, bad); goto out; }
    /* ids */
    int64_t max_id = -1, x;
    const char *key;
    json_object_foreach(vocab, key, v) {
        if ((rc = jnum_int(v, 0, TOK_MAX_IDS - 1, &x))) {
            rc = rc == JNUM_ERANGE ? rlv_errf(err, RLV_ETOKEN, "%s: vocab entry '%s': id %.16g out of range [0, %d]", path, key,
                                              json_number_value(v), TOK_MAX_IDS - 1)
                                   : rlv_errf(err, RLV_ETOKEN, "%s: vocab entry '%s': id is not an integer", path, key);
            goto out;
        }
        if (x > max_id) max_id = x;
    }
    size_t n_added = json_is_array(added) ? json_array_size(added) : 0;
    sp = calloc(n_added ? n_added : 1, sizeof *sp);
    if (!sp) { rc = rlv_errf(err, RLV_ENOMEM, "%s", path); goto out; }
    for (size_t i = 0; i < n_added; i++) {
        json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        const char *c = json_string_value(json_object_get(a, "content"));
        if (!c) { rc = rlv_errf(err, RLV_ETOKEN, "%s: added_tokens[%zu] has no content", path, i); goto out; }
        if ((rc = jnum_int(id, 0, TOK_MAX_IDS - 1, &x))) {
            rc = rc == JNUM_ERANGE ? rlv_errf(err, RLV_ETOKEN, "%s: added_tokens[%zu] '%s': id %.16g out of range [0, %d]", path,
                                              i, c, json_number_value(id), TOK_MAX_IDS - 1)
                                   : rlv_errf(err, RLV_ETOKEN, "%s: added_tokens[%zu] '%s': id is not an integer", path, i, c);
            goto out;
        }
        sp[i] = (added_spec){(int)x, c, jbool(a, "lstrip", 0), jbool(a, "rstrip", 0),
                             jbool(a, "normalized", 1), jbool(a, "special", 0), jbool(a, "single_word", 0)};
    }
    /* ids of added tokens are assigned from the vocab size on (set_added), not read from the file */
    int id_cap = (int)max_id + 1;
    if ((size_t)id_cap < json_object_size(vocab) + n_added) id_cap = (int)(json_object_size(vocab) + n_added);
    if ((rc = tok_alloc_ids(t, id_cap, json_object_size(vocab)))) { rlv_errf(err, rc, "%s", path); goto out; }
    t->n_ids = (int)max_id + 1;
    json_object_foreach(vocab, key, v) {
        jnum_int(v, 0, TOK_MAX_IDS - 1, &x); /* checked above */
        int id = (int)x;
        if (t->voff[id] != NONE) { rc = rlv_errf(err, RLV_ETOKEN, "%s: vocab id %d used twice", path, id); goto out; }
        if ((rc = vocab_set(t, id, key, strlen(key)))) { rlv_errf(err, rc, "%s", path); goto out; }
    }
    fill_fast_tables(t);
    /* model options */
    json_t *unk = json_object_get(model, "unk_token");
    t->unk_id = -1;
    if (json_is_string(unk)) {
        t->unk_id = vocab_find(t, json_string_value(unk), strlen(json_string_value(unk)));
        if (t->unk_id < 0) { rc = rlv_errf(err, RLV_ETOKEN, "%s: unk_token '%s' is not in the vocab", path, json_string_value(unk)); goto out; }
    }
    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->fuse_unk = jbool(model, "fuse_unk", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    /* merges: "a b" strings or [a, b] pairs */
    if ((rc = merges_alloc(t, json_array_size(merges)))) { rlv_errf(err, rc, "%s", path); goto out; }
    size_t i;
    json_t *m;
    char *cat = NULL;
    size_t catcap = 0;
    json_array_foreach(merges, i, m) {
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(m)) {
            a = json_string_value(m);
            const char *sp1 = strchr(a, ' ');
            if (!sp1 || strchr(sp1 + 1, ' ')) { rc = rlv_errf(err, RLV_ETOKEN, "%s: merges[%zu] '%s' is not 'a b'", path, i, a); break; }
            al = (size_t)(sp1 - a);
            b = sp1 + 1;
            bl = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1));
            al = strlen(a);
            bl = strlen(b);
        } else {
            rc = rlv_errf(err, RLV_ETOKEN, "%s: merges[%zu] is neither 'a b' nor [a, b]", path, i);
            break;
        }
        if (al + bl + 1 > catcap) {
            catcap = 2 * (al + bl + 1);
            char *nc = realloc(cat, catcap);
            if (!nc) { rc = rlv_errf(err, RLV_ENOMEM, "%s", path); break; }
            cat = nc;
        }
        memcpy(cat, a, al);
        memcpy(cat + al, b, bl);
        int l = vocab_find(t, a, al), r = vocab_find(t, b, bl), nw = vocab_find(t, cat, al + bl);
        if (l < 0 || r < 0 || nw < 0) {
            rc = rlv_errf(err, RLV_ETOKEN, "%s: merges[%zu]: '%.*s' + '%.*s' not in the vocab", path, i, (int)al, a, (int)bl, b);
            break;
        }
        merge_add(t, l, r, nw);
    }
    free(cat);
    if (rc) goto out;
    if ((rc = json_normalizer(t, json_object_get(root, "normalizer"), path, err))) goto out;
    if ((rc = json_pretok(t, json_object_get(root, "pre_tokenizer"), path, err))) goto out;
    if ((rc = json_decoder(t, json_object_get(root, "decoder"), path, err))) goto out;
    if ((rc = set_added(t, sp, (int)n_added, (int)json_object_size(vocab), id_cap, 0, path, err))) goto out;
    if ((rc = json_post(t, json_object_get(root, "post_processor"), path, err))) goto out;
out:
    free(sp);
    json_decref(root);
    return rc;
}

/* ---------- loading tokenizer.model (transformers 4.35 LlamaConverter) ---------- */

typedef struct cand_merge {
    int l, r;
    float score;
    uint32_t seq;
} cand_merge;

static int cmp_lr(const void *x, const void *y) {
    const cand_merge *a = x, *b = y;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return (a->r > b->r) - (a->r < b->r);
}

static int cmp_score(const void *x, const void *y) { /* highest first, stable through seq */
    const cand_merge *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->seq > b->seq) - (a->seq < b->seq);
}

/* SentencePieceExtractor.extract: every split of every piece into two vocab pieces. */
static int spm_merges(tok *t, const spm_model *sm, rlv_err *err) {
    size_t cap = 1 << 16, n = 0;
    cand_merge *all = malloc(cap * sizeof *all), local[512];
    if (!all) return rlv_errf(err, RLV_ENOMEM, "tokenizer.model: merges");
    for (int p = 0; p < sm->n_pieces; p++) {
        const char *s = t->blob + t->voff[p];
        size_t len = t->vlen[p], nl = 0;
        for (size_t i = 0; i < len;) {
            i += (size_t)utf8_len((uint8_t)s[i]);
            if (i >= len) break;
            int l = vocab_find(t, s, i), r = vocab_find(t, s + i, len - i);
            if (l >= 0 && r >= 0 && nl < 512) local[nl++] = (cand_merge){l, r, p < 3 ? 0.0f : sm->pieces[p].score, 0};
        }
        qsort(local, nl, sizeof *local, cmp_lr);
        if (n + nl > cap) {
            cap *= 2;
            cand_merge *na = realloc(all, cap * sizeof *all);
            if (!na) { free(all); return rlv_errf(err, RLV_ENOMEM, "tokenizer.model: merges"); }
            all = na;
        }
        for (size_t k = 0; k < nl; k++) { local[k].seq = (uint32_t)n; all[n++] = local[k]; }
    }
    qsort(all, n, sizeof *all, cmp_score);
    int rc = merges_alloc(t, n);
    char *cat = NULL;
    if (!rc) {
        for (size_t k = 0; k < n; k++) {
            uint32_t ll = t->vlen[all[k].l], rl = t->vlen[all[k].r];
            char buf[1024];
            cat = ll + rl <= sizeof buf ? buf : malloc(ll + rl);
            if (!cat) { rc = RLV_ENOMEM; break; }
            memcpy(cat, t->blob + t->voff[all[k].l], ll);
            memcpy(cat + ll, t->blob + t->voff[all[k].r], rl);
            int nw = vocab_find(t, cat, ll + rl);
            if (cat != buf) free(cat);
            merge_add(t, all[k].l, all[k].r, nw);
        }
    }
    free(all);
    if (rc) return rlv_errf(err, rc, "tokenizer.model: merges");
    return RLV_OK;
}

static json_t *load_json_opt(const char *dir, const char *name, int *rc, rlv_err *err) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    *rc = RLV_OK;
    struct stat st;
    if (stat(p, &st)) return NULL;
    json_error_t je;
    json_t *r = json_load_file(p, JNUM_DECODE, &je);
    if (!r || !json_is_object(r)) {
        *rc = rlv_errf(err, RLV_ETOKEN, "%s: line %d: %s", p, je.line, r ? "not an object" : je.text);
        json_decref(r);
        return NULL;
    }
    return r;
}

/* "bos_token": "<s>" or {"content": "<s>", ...}. */
static const char *token_name(json_t *cfg, json_t *map, const char *key, const char *dflt) {
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) v = json_object_get(map, key);
    if (json_is_string(v)) return json_string_value(v);
    if (json_is_string(json_object_get(v, "content"))) return json_string_value(json_object_get(v, "content"));
    return dflt;
}

/* tokenizer_config.json's add_bos_token / add_eos_token → the template LlamaTokenizerFast builds. */
static int llama_template(tok *t, json_t *cfg, json_t *map, int keep_if_absent, const char *where, rlv_err *err) {
    json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    if (keep_if_absent && !json_is_boolean(ab) && !json_is_boolean(ae)) return RLV_OK;
    int add_bos = jbool(cfg, "add_bos_token", 1), add_eos = jbool(cfg, "add_eos_token", 0);
    t->n_pre = t->n_post = 0;
    if (add_bos) {
        const char *b = token_name(cfg, map, "bos_token", "<s>");
        if ((t->pre_ids[0] = tok_piece_id(t, b)) < 0) return rlv_errf(err, RLV_ETOKEN, "%s: bos_token '%s' is not in the vocab", where, b);
        t->n_pre = 1;
    }
    if (add_eos) {
        const char *e = token_name(cfg, map, "eos_token", "</s>");
        if ((t->post_ids[0] = tok_piece_id(t, e)) < 0) return rlv_errf(err, RLV_ETOKEN, "%s: eos_token '%s' is not in the vocab", where, e);
        t->n_post = 1;
    }
    return RLV_OK;
}

static int cmp_spec_id(const void *x, const void *y) {
    const added_spec *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

static int load_spm(tok *t, const char *path, const char *dir, rlv_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    spm_model sm = {0};
    added_spec *sp = NULL;
    json_t *cfg = NULL, *map = NULL;
    t->source = "tokenizer.model";
    int rc = read_file(path, &buf, &len, err);
    if (rc) return rc;
    if ((rc = spm_parse(&sm, buf, len, err))) { rlv_err_prefix(err, path); goto out; }
    if (sm.model_type != SPM_BPE) {
        rc = rlv_errf(err, RLV_EUNSUPPORTED, "%s: model_type %d is not supported (BPE = 2 is; transformers' LlamaConverter "
                      "needs BPE too)", path, sm.model_type);
        goto out;
    }
    if (sm.n_pieces < 3 || sm.n_pieces > TOK_MAX_IDS) {
        rc = rlv_errf(err, RLV_ETOKEN, "%s: %d pieces", path, sm.n_pieces);
        goto out;
    }
    if ((cfg = load_json_opt(dir, "tokenizer_config.json", &rc, err)), rc) goto out;
    if ((map = load_json_opt(dir, "special_tokens_map.json", &rc, err)), rc) goto out;
    json_t *atd = json_object_get(cfg, "added_tokens_decoder");
    size_t n_atd = json_is_object(atd) ? json_object_size(atd) : 0;
    int n_ids = sm.n_pieces;
    const char *key;
    json_t *v;
    sp = calloc(n_atd + 3, sizeof *sp);
    if (!sp) { rc = rlv_errf(err, RLV_ENOMEM, "%s", path); goto out; }
    /* LlamaConverter: pieces 0-2 are <unk>, <s>, </s> whatever the file calls them, added as special. */
    static const char *const first[3] = {"<unk>", "<s>", "</s>"};
    int n_sp = 0;
    for (int i = 0; i < 3; i++) sp[n_sp++] = (added_spec){i, first[i], 0, 0, 0, 1, 0};
    json_object_foreach(atd, key, v) {
        char *end;
        long id = strtol(key, &end, 10);
        const char *c = json_string_value(json_object_get(v, "content"));
        if (*end || id < 0 || id >= TOK_MAX_IDS || !c) {
            rc = rlv_errf(err, RLV_ETOKEN, "%s/tokenizer_config.json: added_tokens_decoder['%s'] needs an id key and content", dir, key);
            goto out;
        }
        added_spec s = {(int)id, c, jbool(v, "lstrip", 0), jbool(v, "rstrip", 0), jbool(v, "normalized", 1),
                        jbool(v, "special", 0), jbool(v, "single_word", 0)};
        int k;
        for (k = 0; k < n_sp && sp[k].id != s.id; k++) {}
        sp[k] = s;
        if (k == n_sp) n_sp++;
        if (id >= n_ids) n_ids = (int)id + 1;
    }
    if ((rc = tok_alloc_ids(t, n_ids, (size_t)sm.n_pieces))) { rlv_errf(err, rc, "%s", path); goto out; }
    for (int i = 0; i < sm.n_pieces && !rc; i++)
        rc = i < 3 ? vocab_set(t, i, first[i], strlen(first[i])) : vocab_set(t, i, sm.pieces[i].s, sm.pieces[i].len);
    if (rc) { rlv_errf(err, rc, "%s", path); goto out; }
    /* Ids past the pieces must be contiguous: transformers appends added tokens one by one. */
    for (int id = sm.n_pieces; id < n_ids; id++) {
        int k;
        for (k = 0; k < n_sp && sp[k].id != id; k++) {}
        if (k == n_sp) { rc = rlv_errf(err, RLV_ETOKEN, "%s/tokenizer_config.json: added token ids skip %d", dir, id); goto out; }
    }
    fill_fast_tables(t);
    t->byte_fallback = 1; /* LlamaConverter: BPE(..., fuse_unk=True, byte_fallback=True) */
    t->fuse_unk = 1;
    t->unk_id = vocab_find(t, sm.unk_piece, sm.unk_piece_len);
    if (t->unk_id < 0) { rc = rlv_errf(err, RLV_ETOKEN, "%s: unk_piece is not a piece", path); goto out; }
    if ((rc = spm_merges(t, &sm, err))) goto out;
    /* transformers 4.35's LlamaConverter: Prepend + Replace normaliser, no pre-tokeniser, whatever
     * `legacy` says (the fast tokenizer only reads it from 4.36 on). */
    if ((rc = add_norm(t, NORM_PREPEND, "\xE2\x96\x81", NULL, err)) || (rc = add_norm(t, NORM_REPLACE, " ", "\xE2\x96\x81", err)))
        goto out;
    if ((rc = add_dec(t, DEC_REPLACE, "\xE2\x96\x81", " ", 0, 0, 0, err)) || (rc = add_dec(t, DEC_BYTEFALLBACK, NULL, NULL, 0, 0, 0, err)) ||
        (rc = add_dec(t, DEC_FUSE, NULL, NULL, 0, 0, 0, err)) || (rc = add_dec(t, DEC_STRIP, " ", NULL, 1, 0, 0, err)))
        goto out;
    qsort(sp, (size_t)n_sp, sizeof *sp, cmp_spec_id); /* transformers adds them sorted by id */
    t->n_ids = sm.n_pieces;
    if ((rc = set_added(t, sp, n_sp, sm.n_pieces, n_ids, 1, path, err))) goto out;
    if ((rc = llama_template(t, cfg, map, 0, path, err))) goto out;
    /* A special token the files name but that has no id would be tokenised as text: refuse. */
    json_t *extra = json_object_get(map, "additional_special_tokens");
    size_t i;
    json_array_foreach(extra, i, v) {
        const char *c = json_is_string(v) ? json_string_value(v) : json_string_value(json_object_get(v, "content"));
        if (c && tok_piece_id(t, c) < 0) {
            rc = rlv_errf(err, RLV_EUNSUPPORTED, "%s/special_tokens_map.json: '%s' has no id (needs added_tokens_decoder)", dir, c);
            goto out;
        }
    }
out:
    json_decref(cfg);
    json_decref(map);
    free(sp);
    spm_free(&sm);
    free(buf);
    return rc;
}

int tok_load(tok **out, const char *path, rlv_err *err) {
    *out = NULL;
    struct stat st;
    if (stat(path, &st)) return rlv_errf(err, RLV_EIO, "%s: no such file or directory", path);
    char dir[4096], file[4096];
    int is_json, is_dir = S_ISDIR(st.st_mode);
    if (is_dir) {
        snprintf(dir, sizeof dir, "%s", path);
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        is_json = stat(file, &st) == 0;
        if (!is_json) {
            snprintf(file, sizeof file, "%s/tokenizer.model", path);
            if (stat(file, &st)) return rlv_errf(err, RLV_EIO, "%s: has neither tokenizer.json nor tokenizer.model", path);
        }
    } else {
        snprintf(file, sizeof file, "%s", path);
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        size_t n = strlen(path);
        is_json = !(n >= 6 && !strcmp(path + n - 6, ".model"));
    }
    tok *t = calloc(1, sizeof *t);
    if (!t) return rlv_errf(err, RLV_ENOMEM, "%s", path);
    int rc = is_json ? load_json(t, file, err) : load_spm(t, file, dir, err);
    if (!rc && is_json && is_dir) {
        /* A checkpoint directory is what transformers loads: its LlamaTokenizerFast rebuilds the
         * template from tokenizer_config.json's add_bos_token / add_eos_token. A lone
         * tokenizer.json file is what the tokenizers library loads: its own template. */
        json_t *cfg = load_json_opt(dir, "tokenizer_config.json", &rc, err), *map = NULL;
        const char *cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
        if (!rc && cls && (!strcmp(cls, "LlamaTokenizer") || !strcmp(cls, "LlamaTokenizerFast"))) {
            map = load_json_opt(dir, "special_tokens_map.json", &rc, err);
            if (!rc) rc = llama_template(t, cfg, map, 1, file, err);
        }
        json_decref(cfg);
        json_decref(map);
    }
    if (rc) {
        tok_free(&t);
        return rc;
    }
    *out = t;
    return RLV_OK;
}
