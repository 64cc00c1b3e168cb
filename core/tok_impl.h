/* tok_impl.h — internal to the tokenizer (tok.c encodes and decodes; tok_load.c, tok_json.c and
 * tok_spm.c build a struct tok from a file): the tables of a loaded tokenizer and the helpers the
 * encoder and the loaders share. Not installed; nothing outside tok*.c includes it. */
#ifndef RLV_TOK_IMPL_H
#define RLV_TOK_IMPL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tok.h"


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

/* A growable byte buffer (the normaliser's output). */
typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

typedef struct added_spec {
    int id;
    const char *content;
    int lstrip, rstrip, normalized, special, single_word;
} added_spec;

/* ---------- helpers shared by the encoder and the loaders ---------- */

static inline uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static inline uint64_t hash_pair(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 31);
}

static inline int utf8_len(uint8_t c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

static inline uint32_t utf8_decode(const uint8_t *s, int *n) {
    int k = utf8_len(s[0]);
    uint32_t cp = k == 1 ? s[0] : k == 2 ? s[0] & 0x1f : k == 3 ? s[0] & 0x0f : s[0] & 0x07;
    for (int j = 1; j < k; j++) cp = cp << 6 | (s[j] & 0x3f);
    *n = k;
    return cp;
}

/* ---------- defined in one tok*.c, used by another ---------- */

/* tok.c */
int tok_vocab_find(const tok *t, const char *s, size_t n);
/* Normalises s into a (b is scratch). Returns the result buffer (a or b). */
sbuf *tok_normalize(const tok *t, const char *s, size_t n, sbuf *a, sbuf *b, int *rc);

/* tok_load.c: building the tables, the steps both formats share */
int tok_blob_add(tok *t, const char *s, size_t n, uint32_t *off);
/* Sets the model piece of id (a later piece with the same text wins the lookup, like a dict). */
int tok_vocab_set(tok *t, int id, const char *s, size_t n);
int tok_alloc_ids(tok *t, int n_ids, size_t n_vocab);
int tok_merges_alloc(tok *t, size_t n);
/* Appends a merge at the next rank; a pair seen again takes the later rank (a Rust HashMap
 * collected from the list keeps the last). */
void tok_merge_add(tok *t, int l, int r, int new_id);
void tok_fill_fast_tables(tok *t);
int tok_add_norm(tok *t, int kind, const char *a, const char *b, rlv_err *err);
int tok_add_dec(tok *t, int kind, const char *a, const char *b, int start, int stop, int prepend, rlv_err *err);
/* Installs the added tokens in the library's order with the library's ids
 * (AddedVocabulary::add_tokens): a content already added or in the model vocab keeps that id,
 * a new one gets vocab_count or one past the largest added id. The id written in the file is
 * only a hint to the library (it warns when they differ); check_ids makes a difference an error.
 * An identical token seen again is ignored; the same content with other flags replaces them. */
int tok_set_added(tok *t, const added_spec *sp, int n, int vocab_count, int id_cap, int check_ids,
                  const char *where, rlv_err *err);
int tok_read_file(const char *path, uint8_t **buf, size_t *len, rlv_err *err);
int tok_jbool(json_t *o, const char *k, int dflt);
json_t *tok_load_json_opt(const char *dir, const char *name, int *rc, rlv_err *err);
/* tokenizer_config.json's add_bos_token / add_eos_token → the template LlamaTokenizerFast builds. */
int tok_llama_template(tok *t, json_t *cfg, json_t *map, int keep_if_absent, const char *where, rlv_err *err);

/* the two formats */
int tok_load_json(tok *t, const char *path, rlv_err *err);
int tok_load_spm(tok *t, const char *path, const char *dir, rlv_err *err);

#endif
