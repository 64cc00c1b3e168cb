/* eval_input.c — reading an `rlaifv eval` data set and turning each row into an item
 * (see eval_input.h; the formats are documented in docs/eval.md). */
#include "eval_input.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "file_util.h"
#include "prefix.h"

struct eval_input {
    FILE *f;          /* JSON lines: read one at a time */
    json_t *array;    /* a JSON array file: read whole */
    size_t next;      /* next element of array */
    int where, count;
    char *line;
    size_t cap;
};

static int blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

int eval_input_open(eval_input **out, const char *path, char *msg, size_t cap) {
    *out = NULL;
    eval_input *in = calloc(1, sizeof *in);
    if (!in) { snprintf(msg, cap, "out of memory"); return -1; }
    if (!(in->f = fopen(path, "r"))) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        free(in);
        return -1;
    }
    int c;
    while ((c = fgetc(in->f)) == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0xEF || c == 0xBB || c == 0xBF) {}
    rewind(in->f);
    if (c == '[') {
        json_error_t je;
        in->array = json_loadf(in->f, 0, &je);
        fclose(in->f);
        in->f = NULL;
        if (!json_is_array(in->array)) {
            snprintf(msg, cap, "%s:%d: not a JSON array: %s", path, je.line, je.text);
            json_decref(in->array);
            free(in);
            return -1;
        }
        in->count = (int)json_array_size(in->array);
    } else {
        ssize_t n;
        while ((n = getline(&in->line, &in->cap, in->f)) > 0) in->count += !blank(in->line, (size_t)n);
        rewind(in->f);
    }
    *out = in;
    return 0;
}

int eval_input_count(const eval_input *in) { return in->count; }
const char *eval_input_unit(const eval_input *in) { return in->array ? "element" : "line"; }

int eval_input_next(eval_input *in, json_t **row, int *where, char *msg, size_t cap) {
    *row = NULL;
    if (in->array) {
        if (in->next >= json_array_size(in->array)) return 0;
        *row = json_incref(json_array_get(in->array, in->next++));
        *where = ++in->where;
        return 1;
    }
    ssize_t n;
    while ((n = getline(&in->line, &in->cap, in->f)) > 0) {
        in->where++;
        if (blank(in->line, (size_t)n)) continue;
        json_error_t je;
        *row = json_loadb(in->line, (size_t)n, 0, &je);
        if (!*row) snprintf(msg, cap, "not JSON: %s (column %d)", je.text, je.column);
        *where = in->where;
        return 1;
    }
    return 0;
}

void eval_input_close(eval_input **inp) {
    if (!inp || !*inp) return;
    eval_input *in = *inp;
    if (in->f) fclose(in->f);
    json_decref(in->array);
    free(in->line);
    free(in);
    *inp = NULL;
}

char *eval_id_key(json_t *id) { return json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS); }

json_t *eval_row_id(json_t *row, int where) {
    json_t *id = json_object_get(row, "id");
    if (!id) id = json_object_get(row, "idx");
    return id ? json_incref(id) : json_integer(where);
}

static int fail(eval_item *it, const char *code, const char *fmt, const char *a) {
    snprintf(it->code, sizeof it->code, "%s", code);
    snprintf(it->msg, sizeof it->msg, fmt, a);
    return -1;
}

/* The row's members that are metadata: short scalars, not the job's own text. */
static json_t *copy_fields(json_t *row) {
    static const char *job[] = {"id", "idx", "image", "image_path", "image_src", "prompt", "question", "chosen",
                                "rejected", "candidates", "gold", "model_answer"};
    json_t *f = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(row, k, v) {
        int skip = 0;
        for (size_t i = 0; i < sizeof job / sizeof job[0]; i++) skip |= !strcmp(k, job[i]);
        if (skip || json_is_object(v) || json_is_array(v) || (json_is_string(v) && json_string_length(v) > 200)) continue;
        json_object_set(f, k, v);
    }
    return f;
}

/* base64 (a data: URL prefix allowed) into a malloc-ed buffer; NULL when s is not base64. */
static uint8_t *from_base64(const char *s, size_t *len) {
    const char *b64 = ";base64,", *comma = strstr(s, b64);
    if (prefix_skip(s, "data:") && comma) s = comma + strlen(b64);
    size_t n = strlen(s), got = 0;
    uint8_t *buf = malloc(n / 4 * 3 + 4);
    if (!buf) return NULL;
    if (sodium_base642bin(buf, n / 4 * 3 + 4, s, n, " \r\n", &got, NULL, sodium_base64_VARIANT_ORIGINAL) || !got) {
        free(buf);
        return NULL;
    }
    *len = got;
    return buf;
}

/* A path: absolute, or under root; a URL (http://, https://) stands for its last component. */
static void resolve(char *path, size_t cap, const char *s, const char *root) {
    if (prefix_skip(s, "http://") || prefix_skip(s, "https://")) {
        const char *q = strrchr(s, '/');
        s = q ? q + 1 : s;
    }
    if (s[0] == '/') snprintf(path, cap, "%s", s);
    else snprintf(path, cap, "%s/%s", root, s);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Loads the image from a string (path or base64) into it. */
static int image_from_string(eval_item *it, const char *s, const char *root, int base64_ok) {
    char path[4096];
    resolve(path, sizeof path, s, root);
    if (strlen(s) < 4000 && is_file(path)) {
        it->image = read_file(path, &it->image_len, it->msg, sizeof it->msg);
        if (it->image) return 0;
        snprintf(it->code, sizeof it->code, "bad_image"); /* read_file wrote the message */
        return -1;
    }
    if (base64_ok && (it->image = from_base64(s, &it->image_len))) return 0;
    return fail(it, "bad_image", base64_ok ? "image is neither a readable file (%.300s) nor base64" : "image file %.300s not found",
                path);
}

/* The image: "image" as null (text-only), a path or base64 string, or the datasets library's
 * {"bytes": base64 or [0..255...], "path": ...}; else "image_path" or "image_src" (paths). */
static int load_image(eval_item *it, json_t *row, const char *root) {
    json_t *im = json_object_get(row, "image");
    if (json_is_null(im)) return 0;
    if (json_is_string(im)) return image_from_string(it, json_string_value(im), root, 1);
    if (json_is_object(im)) {
        json_t *b = json_object_get(im, "bytes"), *p = json_object_get(im, "path");
        if (json_is_string(b) && (it->image = from_base64(json_string_value(b), &it->image_len))) return 0;
        if (json_is_array(b) && json_array_size(b) > 0) {
            size_t n = json_array_size(b);
            if (!(it->image = malloc(n))) return fail(it, "bad_input", "%s", "out of memory");
            for (size_t i = 0; i < n; i++) {
                json_int_t v = json_integer_value(json_array_get(b, i));
                if (!json_is_integer(json_array_get(b, i)) || v < 0 || v > 255)
                    return fail(it, "bad_image", "%s", "'image.bytes' must be base64 or an array of 0..255");
                it->image[i] = (uint8_t)v;
            }
            it->image_len = n;
            return 0;
        }
        if (json_is_string(p)) return image_from_string(it, json_string_value(p), root, 0);
        return fail(it, "bad_image", "%s", "'image' object has neither 'bytes' nor 'path'");
    }
    if (im) return fail(it, "bad_input", "%s", "'image' must be a path, base64, {bytes, path} or null");
    const char *s = json_string_value(json_object_get(row, "image_path"));
    if (!s) s = json_string_value(json_object_get(row, "image_src"));
    if (s) return image_from_string(it, s, root, 0);
    return fail(it, "bad_input", "%s", "no 'image' (path, base64, {bytes, path}, or null for text only) nor 'image_path'");
}

void eval_item_bad_json(eval_item *it, int where, const char *why) {
    memset(it, 0, sizeof *it);
    it->where = where;
    it->gold = -1;
    fail(it, "bad_json", "%s", why);
}

int eval_item_parse(eval_item *it, json_t *row, int where, const char *root) {
    memset(it, 0, sizeof *it);
    it->where = where;
    it->row = row;
    it->gold = -1;
    if (!json_is_object(row)) return fail(it, "bad_input", "%s", "not a JSON object");
    it->id = eval_row_id(row, where);
    it->key = eval_id_key(it->id);
    it->fields = copy_fields(row);
    if (!it->key) return fail(it, "bad_input", "%s", "unreadable 'id'");
    it->prompt = json_string_value(json_object_get(row, "prompt"));
    if (!it->prompt) it->prompt = json_string_value(json_object_get(row, "question"));
    if (!it->prompt) return fail(it, "bad_input", "%s", "no 'prompt' or 'question' string");
    json_t *cands = json_object_get(row, "candidates");
    json_t *chosen = json_object_get(row, "chosen"), *rejected = json_object_get(row, "rejected");
    json_t *answer = json_object_get(row, "model_answer");
    int pair = !json_is_array(cands) && json_is_string(chosen) && json_is_string(rejected);
    size_t n = json_is_array(cands) ? json_array_size(cands) : pair ? 2 : json_is_string(answer) ? 1 : 0;
    if (!n || n > EVAL_MAX_CANDIDATES)
        return fail(it, "bad_input", "%s", json_is_array(cands) ? "'candidates' must hold 1..4096 strings"
                                          : "needs 'candidates' (strings), 'chosen' + 'rejected', or 'model_answer'");
    it->cands = malloc(n * sizeof *it->cands);
    it->lens = malloc(n * sizeof *it->lens);
    if (!it->cands || !it->lens) return fail(it, "bad_input", "%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_is_array(cands) ? json_array_get(cands, i) : pair ? (i == 0 ? chosen : rejected) : answer;
        if (!json_is_string(c)) return fail(it, "bad_input", "%s", "'candidates' must hold strings");
        it->cands[i] = json_string_value(c);
        it->lens[i] = json_string_length(c);
    }
    it->n = (int)n;
    it->pair = pair;
    json_t *gold = json_object_get(row, "gold");
    if (gold && json_is_array(cands)) {
        if (!json_is_integer(gold) || json_integer_value(gold) < 0 || json_integer_value(gold) >= (json_int_t)n)
            return fail(it, "bad_input", "%s", "'gold' must be the index of a candidate");
        it->gold = (int)json_integer_value(gold);
    }
    return load_image(it, row, root);
}

void eval_item_clear(eval_item *it) {
    json_decref(it->row);
    json_decref(it->id);
    json_decref(it->fields);
    free(it->key);
    free(it->image);
    free(it->cands);
    free(it->lens);
    memset(it, 0, sizeof *it);
    it->gold = -1;
}
