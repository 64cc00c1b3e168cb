/* tok_spm.c — the tokenizer.model loader: a SentencePiece ModelProto (spm.c parses it) converted
 * as transformers 4.35's LlamaConverter does (vocab by piece order, merges rebuilt from the
 * piece scores, the Llama normaliser/decoder and template). */
#include "tok_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spm.h"

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
            int l = tok_vocab_find(t, s, i), r = tok_vocab_find(t, s + i, len - i);
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
    int rc = tok_merges_alloc(t, n);
    char *cat = NULL;
    if (!rc) {
        for (size_t k = 0; k < n; k++) {
            uint32_t ll = t->vlen[all[k].l], rl = t->vlen[all[k].r];
            char buf[1024];
            cat = ll + rl <= sizeof buf ? buf : malloc(ll + rl);
            if (!cat) { rc = RLV_ENOMEM; break; }
            memcpy(cat, t->blob + t->voff[all[k].l], ll);
            memcpy(cat + ll, t->blob + t->voff[all[k].r], rl);
            int nw = tok_vocab_find(t, cat, ll + rl);
            if (cat != buf) free(cat);
            tok_merge_add(t, all[k].l, all[k].r, nw);
        }
    }
    free(all);
    if (rc) return rlv_errf(err, rc, "tokenizer.model: merges");
    return RLV_OK;
}


static int cmp_spec_id(const void *x, const void *y) {
    const added_spec *a = x, *b = y;
    return (a->id > b->id) - (a->id < b->id);
}

int tok_load_spm(tok *t, const char *path, const char *dir, rlv_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    spm_model sm = {0};
    added_spec *sp = NULL;
    json_t *cfg = NULL, *map = NULL;
    t->source = "tokenizer.model";
    int rc = tok_read_file(path, &buf, &len, err);
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
    if ((cfg = tok_load_json_opt(dir, "tokenizer_config.json", &rc, err)), rc) goto out;
    if ((map = tok_load_json_opt(dir, "special_tokens_map.json", &rc, err)), rc) goto out;
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
        added_spec s = {(int)id, c, tok_jbool(v, "lstrip", 0), tok_jbool(v, "rstrip", 0), tok_jbool(v, "normalized", 1),
                        tok_jbool(v, "special", 0), tok_jbool(v, "single_word", 0)};
        int k;
        for (k = 0; k < n_sp && sp[k].id != s.id; k++) {}
        sp[k] = s;
        if (k == n_sp) n_sp++;
        if (id >= n_ids) n_ids = (int)id + 1;
    }
    if ((rc = tok_alloc_ids(t, n_ids, (size_t)sm.n_pieces))) { rlv_errf(err, rc, "%s", path); goto out; }
    for (int i = 0; i < sm.n_pieces && !rc; i++)
        rc = i < 3 ? tok_vocab_set(t, i, first[i], strlen(first[i])) : tok_vocab_set(t, i, sm.pieces[i].s, sm.pieces[i].len);
    if (rc) { rlv_errf(err, rc, "%s", path); goto out; }
    /* Ids past the pieces must be contiguous: transformers appends added tokens one by one. */
    for (int id = sm.n_pieces; id < n_ids; id++) {
        int k;
        for (k = 0; k < n_sp && sp[k].id != id; k++) {}
        if (k == n_sp) { rc = rlv_errf(err, RLV_ETOKEN, "%s/tokenizer_config.json: added token ids skip %d", dir, id); goto out; }
    }
    tok_fill_fast_tables(t);
    t->byte_fallback = 1; /* LlamaConverter: BPE(..., fuse_unk=True, byte_fallback=True) */
    t->fuse_unk = 1;
    t->unk_id = tok_vocab_find(t, sm.unk_piece, sm.unk_piece_len);
    if (t->unk_id < 0) { rc = rlv_errf(err, RLV_ETOKEN, "%s: unk_piece is not a piece", path); goto out; }
    if ((rc = spm_merges(t, &sm, err))) goto out;
    /* transformers 4.35's LlamaConverter: Prepend + Replace normaliser, no pre-tokeniser, whatever
     * `legacy` says (the fast tokenizer only reads it from 4.36 on). */
    if ((rc = tok_add_norm(t, NORM_PREPEND, "\xE2\x96\x81", NULL, err)) || (rc = tok_add_norm(t, NORM_REPLACE, " ", "\xE2\x96\x81", err)))
        goto out;
    if ((rc = tok_add_dec(t, DEC_REPLACE, "\xE2\x96\x81", " ", 0, 0, 0, err)) || (rc = tok_add_dec(t, DEC_BYTEFALLBACK, NULL, NULL, 0, 0, 0, err)) ||
        (rc = tok_add_dec(t, DEC_FUSE, NULL, NULL, 0, 0, 0, err)) || (rc = tok_add_dec(t, DEC_STRIP, " ", NULL, 1, 0, 0, err)))
        goto out;
    qsort(sp, (size_t)n_sp, sizeof *sp, cmp_spec_id); /* transformers adds them sorted by id */
    t->n_ids = sm.n_pieces;
    if ((rc = tok_set_added(t, sp, n_sp, sm.n_pieces, n_ids, 1, path, err))) goto out;
    if ((rc = tok_llama_template(t, cfg, map, 0, path, err))) goto out;
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

