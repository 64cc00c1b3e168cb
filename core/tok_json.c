/* tok_json.c — the tokenizer.json loader (the tokenizers library's own file): model, normaliser,
 * pre-tokeniser, decoder and post-processor sections; anything else is RLV_EUNSUPPORTED by name. */
#include "tok_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jnum.h"

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
        return tok_add_norm(t, NORM_PREPEND, p, NULL, err);
    }
    if (!strcmp(type, "Replace")) {
        const char *pat = json_string_value(json_object_get(json_object_get(n, "pattern"), "String"));
        const char *c = json_string_value(json_object_get(n, "content"));
        if (!pat || !c)
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Replace normalizer: only a String pattern is supported", where);
        if (!*pat) return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Replace normalizer with an empty pattern", where);
        return tok_add_norm(t, NORM_REPLACE, pat, c, err);
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
    *out = tok_jbool(o, "add_prefix_space", 1) ? PREPEND_ALWAYS : PREPEND_NEVER;
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
    t->ms_split = tok_jbool(p, "split", 1);
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
        return tok_add_dec(t, DEC_REPLACE, pat, c, 0, 0, 0, err);
    }
    if (!strcmp(type, "ByteFallback")) return tok_add_dec(t, DEC_BYTEFALLBACK, NULL, NULL, 0, 0, 0, err);
    if (!strcmp(type, "Fuse")) return tok_add_dec(t, DEC_FUSE, NULL, NULL, 0, 0, 0, err);
    if (!strcmp(type, "Strip")) {
        const char *c = json_string_value(json_object_get(d, "content"));
        int64_t a, z;
        if (!c || !*c || jnum_int(json_object_get(d, "start"), 0, 1000, &a) || jnum_int(json_object_get(d, "stop"), 0, 1000, &z))
            return rlv_errf(err, RLV_ETOKEN, "%s: Strip decoder needs content, start and stop (integers in [0, 1000])", where);
        int k;
        utf8_decode((const uint8_t *)c, &k);
        if ((size_t)k != strlen(c)) return rlv_errf(err, RLV_ETOKEN, "%s: Strip decoder content must be one character", where);
        return tok_add_dec(t, DEC_STRIP, c, NULL, (int)a, (int)z, 0, err);
    }
    if (!strcmp(type, "Metaspace")) {
        const char *r = json_string_value(json_object_get(d, "replacement"));
        int ps;
        if (!r || !*r) return rlv_errf(err, RLV_ETOKEN, "%s: Metaspace decoder needs 'replacement'", where);
        if (!parse_prepend_scheme(d, &ps))
            return rlv_errf(err, RLV_EUNSUPPORTED, "%s: Metaspace decoder prepend_scheme is not always/first/never", where);
        return tok_add_dec(t, DEC_METASPACE, r, NULL, 0, 0, ps, err);
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

int tok_load_json(tok *t, const char *path, rlv_err *err) {
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
        sp[i] = (added_spec){(int)x, c, tok_jbool(a, "lstrip", 0), tok_jbool(a, "rstrip", 0),
                             tok_jbool(a, "normalized", 1), tok_jbool(a, "special", 0), tok_jbool(a, "single_word", 0)};
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
        if ((rc = tok_vocab_set(t, id, key, strlen(key)))) { rlv_errf(err, rc, "%s", path); goto out; }
    }
    tok_fill_fast_tables(t);
    /* model options */
    json_t *unk = json_object_get(model, "unk_token");
    t->unk_id = -1;
    if (json_is_string(unk)) {
        t->unk_id = tok_vocab_find(t, json_string_value(unk), strlen(json_string_value(unk)));
        if (t->unk_id < 0) { rc = rlv_errf(err, RLV_ETOKEN, "%s: unk_token '%s' is not in the vocab", path, json_string_value(unk)); goto out; }
    }
    t->byte_fallback = tok_jbool(model, "byte_fallback", 0);
    t->fuse_unk = tok_jbool(model, "fuse_unk", 0);
    t->ignore_merges = tok_jbool(model, "ignore_merges", 0);
    /* merges: "a b" strings or [a, b] pairs */
    if ((rc = tok_merges_alloc(t, json_array_size(merges)))) { rlv_errf(err, rc, "%s", path); goto out; }
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
        int l = tok_vocab_find(t, a, al), r = tok_vocab_find(t, b, bl), nw = tok_vocab_find(t, cat, al + bl);
        if (l < 0 || r < 0 || nw < 0) {
            rc = rlv_errf(err, RLV_ETOKEN, "%s: merges[%zu]: '%.*s' + '%.*s' not in the vocab", path, i, (int)al, a, (int)bl, b);
            break;
        }
        tok_merge_add(t, l, r, nw);
    }
    free(cat);
    if (rc) goto out;
    if ((rc = json_normalizer(t, json_object_get(root, "normalizer"), path, err))) goto out;
    if ((rc = json_pretok(t, json_object_get(root, "pre_tokenizer"), path, err))) goto out;
    if ((rc = json_decoder(t, json_object_get(root, "decoder"), path, err))) goto out;
    if ((rc = tok_set_added(t, sp, (int)n_added, (int)json_object_size(vocab), id_cap, 0, path, err))) goto out;
    if ((rc = json_post(t, json_object_get(root, "post_processor"), path, err))) goto out;
out:
    free(sp);
    json_decref(root);
    return rc;
}

