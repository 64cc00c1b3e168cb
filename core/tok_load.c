/* tok_load.c — tok_load: which file a path names (tokenizer.json, tokenizer.model, a checkpoint
 * directory) and the loading steps both formats share: normaliser and decoder steps, added
 * tokens, the Llama template from tokenizer_config.json / special_tokens_map.json. */
#include "tok_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jnum.h"

/* ---------- the tables of a tok ---------- */

int tok_blob_add(tok *t, const char *s, size_t n, uint32_t *off) {
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

int tok_vocab_set(tok *t, int id, const char *s, size_t n) {
    int rc = tok_blob_add(t, s, n, &t->voff[id]);
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

int tok_alloc_ids(tok *t, int n_ids, size_t n_vocab) {
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

int tok_merges_alloc(tok *t, size_t n) {
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

void tok_merge_add(tok *t, int l, int r, int new_id) {
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

void tok_fill_fast_tables(tok *t) {
    for (int c = 0; c < 128; c++) {
        char s[1] = {(char)c};
        t->char1_id[c] = tok_vocab_find(t, s, 1);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->byte_id[b] = tok_vocab_find(t, s, 6);
    }
}

/* ---------- loading: shared parts ---------- */

int tok_add_norm(tok *t, int kind, const char *a, const char *b, rlv_err *err) {
    if (t->n_norm == 8) return rlv_errf(err, RLV_EUNSUPPORTED, "normalizer: more than 8 steps");
    norm_op *op = &t->norm[t->n_norm++];
    op->kind = kind;
    op->alen = strlen(a);
    op->a = strndup(a, op->alen);
    op->blen = b ? strlen(b) : 0;
    op->b = strndup(b ? b : "", op->blen);
    if (!op->a || !op->b) return rlv_errf(err, RLV_ENOMEM, "normalizer");
    return RLV_OK;
}

int tok_add_dec(tok *t, int kind, const char *a, const char *b, int start, int stop, int prepend, rlv_err *err) {
    if (t->n_dec == 8) return rlv_errf(err, RLV_EUNSUPPORTED, "decoder: more than 8 steps");
    dec_op *op = &t->dec[t->n_dec++];
    op->kind = kind;
    op->alen = a ? strlen(a) : 0;
    op->a = strndup(a ? a : "", op->alen);
    op->blen = b ? strlen(b) : 0;
    op->b = strndup(b ? b : "", op->blen);
    op->start = start;
    op->stop = stop;
    op->prepend = prepend;
    if (!op->a || !op->b) return rlv_errf(err, RLV_ENOMEM, "decoder");
    return RLV_OK;
}

static int cmp_added(const void *x, const void *y) {
    const tok_added *a = x, *b = y;
    return a->len != b->len ? (a->len < b->len ? 1 : -1) : (a->id > b->id) - (a->id < b->id);
}

int tok_set_added(tok *t, const added_spec *sp, int n, int vocab_count, int id_cap, int check_ids,
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
        } else if ((id = tok_vocab_find(t, sp[i].content, len)) < 0) {
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
        if ((rc = tok_blob_add(t, sp[i].content, len, &ad->off))) break;
        ad->len = (uint32_t)len;
        if (ad->normalized) {
            sbuf *r = tok_normalize(t, sp[i].content, len, &na, &nb, &rc);
            if (rc || (rc = tok_blob_add(t, r->p, r->n, &ad->noff))) break;
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

int tok_read_file(const char *path, uint8_t **buf, size_t *len, rlv_err *err) {
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

int tok_jbool(json_t *o, const char *k, int dflt) {
    json_t *v = json_object_get(o, k);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}


json_t *tok_load_json_opt(const char *dir, const char *name, int *rc, rlv_err *err) {
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

int tok_llama_template(tok *t, json_t *cfg, json_t *map, int keep_if_absent, const char *where, rlv_err *err) {
    json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    if (keep_if_absent && !json_is_boolean(ab) && !json_is_boolean(ae)) return RLV_OK;
    int add_bos = tok_jbool(cfg, "add_bos_token", 1), add_eos = tok_jbool(cfg, "add_eos_token", 0);
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
    int rc = is_json ? tok_load_json(t, file, err) : tok_load_spm(t, file, dir, err);
    if (!rc && is_json && is_dir) {
        /* A checkpoint directory is what transformers loads: its LlamaTokenizerFast rebuilds the
         * template from tokenizer_config.json's add_bos_token / add_eos_token. A lone
         * tokenizer.json file is what the tokenizers library loads: its own template. */
        json_t *cfg = tok_load_json_opt(dir, "tokenizer_config.json", &rc, err), *map = NULL;
        const char *cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
        if (!rc && cls && (!strcmp(cls, "LlamaTokenizer") || !strcmp(cls, "LlamaTokenizerFast"))) {
            map = tok_load_json_opt(dir, "special_tokens_map.json", &rc, err);
            if (!rc) rc = tok_llama_template(t, cfg, map, 1, file, err);
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
