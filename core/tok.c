/* tok.c — the Llama/Mistral BPE tokenizer's encoder and decoder, bit-exact with Hugging Face
 * `tokenizers` (loading a tokenizer: tok_load.c, tok_json.c, tok_spm.c; the tables: tok_impl.h).
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
#include "tok_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uword.h"
#include "utf8.h"

/* ---------- small helpers ---------- */

int tok_vocab_find(const tok *t, const char *s, size_t n) {
    uint32_t h = (uint32_t)hash_bytes(s, n) & t->vh_mask;
    for (;;) {
        int32_t id = t->vh[h];
        if (id < 0) return -1;
        if (t->vlen[id] == n && !memcmp(t->blob + t->voff[id], s, n)) return id;
        h = (h + 1) & t->vh_mask;
    }
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


/* Rust's char::is_whitespace (Unicode White_Space). */
static int uni_space(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* ---------- normaliser ---------- */

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
sbuf *tok_normalize(const tok *t, const char *s, size_t n, sbuf *a, sbuf *b, int *rc) {
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
        int id = tok_vocab_find(t, w, n);
        if (id >= 0) { emit(e, id); return RLV_OK; }
    }
    int rc = scratch_reserve(e->s, n + 1);
    if (rc) return rc;
    int ns = 0, unk_pending = 0;
    uint32_t unk_len = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = (uint8_t)w[i];
        int k = utf8_len(c);
        int id = c < 0x80 ? t->char1_id[c] : tok_vocab_find(t, w + i, (size_t)k);
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
    sbuf *nb = tok_normalize(t, s, n, &e->s->na, &e->s->nb, &rc);
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
    return tok_vocab_find(t, piece, n);
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

