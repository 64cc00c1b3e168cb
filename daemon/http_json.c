/* http_json.c — JSON bodies of the HTTP API <-> the wire protocol (see http_json.h). */
#include "http_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefix.h"
#include "reply_json.h"

/* 0..63 for a base64 digit of either alphabet, -1 otherwise */
static int b64_digit(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static int b64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len, char *msg, size_t cap) {
    size_t pad = 0;
    while (pad < 2 && n > pad && s[n - 1 - pad] == '=') pad++;
    size_t m = n - pad; /* digits */
    if ((pad && (n % 4)) || m % 4 == 1) {
        snprintf(msg, cap, "base64 of %zu characters is truncated", n);
        return -1;
    }
    uint8_t *d = malloc(m / 4 * 3 + 3);
    if (!d) {
        snprintf(msg, cap, "out of memory for %zu bytes of base64", n);
        return -1;
    }
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < m; i++) {
        int v = b64_digit((unsigned char)s[i]);
        if (v < 0) {
            snprintf(msg, cap, "invalid base64 character 0x%02x at offset %zu", (unsigned char)s[i], i);
            free(d);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            d[o++] = (uint8_t)(acc >> 16);
            d[o++] = (uint8_t)(acc >> 8);
            d[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (m % 4 == 2) d[o++] = (uint8_t)(acc >> 4);
    else if (m % 4 == 3) {
        d[o++] = (uint8_t)(acc >> 10);
        d[o++] = (uint8_t)(acc >> 2);
    }
    *out = d;
    *out_len = o;
    return 0;
}

int http_json_image(const char *s, size_t n, uint8_t **out, size_t *out_len, char *msg, size_t cap) {
    *out = NULL;
    *out_len = 0;
    if (prefix_skip_n(s, n, "http://") || prefix_skip_n(s, n, "https://")) {
        snprintf(msg, cap, "image URLs are not fetched: send the bytes as base64 or a data: URL");
        return -1;
    }
    const char *type = prefix_skip_n(s, n, "data:");
    if (type) {
        const char *comma = memchr(s, ',', n);
        if (!comma) {
            snprintf(msg, cap, "data: URL without ','");
            return -1;
        }
        size_t meta = (size_t)(comma - s);
        static const char b64[] = ";base64";
        if (!prefix_skip_n(type, (size_t)(comma - type), "image/") || meta < strlen(b64) ||
            !prefix_skip_n(comma - strlen(b64), strlen(b64), b64)) {
            snprintf(msg, cap, "data: URL must be data:image/...;base64,...");
            return -1;
        }
        return b64_decode(comma + 1, n - meta - 1, out, out_len, msg, cap);
    }
    return b64_decode(s, n, out, out_len, msg, cap);
}

void http_job_free(http_job *j) {
    if (!j) return;
    json_decref(j->body);
    free(j->image);
    free(j->cands);
    free(j->lens);
    memset(j, 0, sizeof *j);
}

/* A JSON string's bytes (jansson keeps its length: \u0000 is refused at parse). */
static const char *str_of(const json_t *v, size_t *n) {
    *n = json_string_length(v);
    return json_string_value(v);
}

static rlv_proto_code set_image(http_job *j, const char *field, const json_t *v, rlv_proto_error *err) {
    if (json_is_null(v)) return RLV_PROTO_OK;
    if (!json_is_string(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "%s: expected a base64 string or a data: URL", field);
    size_t n;
    const char *s = str_of(v, &n);
    char msg[200];
    if (http_json_image(s, n, &j->image, &j->q.image_len, msg, sizeof msg))
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "%s: %s", field, msg);
    if (!j->q.image_len) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_IMAGE, "%s: 0 bytes", field);
    j->q.image = j->image;
    return RLV_PROTO_OK;
}

/* The extras both endpoints take from the msgpack score request: reward, beta, token_logps. */
static rlv_proto_code set_extra(http_job *j, const char *key, const json_t *v, int *known, rlv_proto_error *err) {
    *known = 1;
    if (!strcmp(key, "reward")) {
        if (json_is_null(v)) return RLV_PROTO_OK;
        if (!json_is_string(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "reward: expected a string");
        j->q.reward = json_string_value(v); /* the name is checked by the protocol decoder */
    } else if (!strcmp(key, "beta")) {
        if (json_is_null(v)) return RLV_PROTO_OK;
        double b = json_number_value(v);
        if (!json_is_number(v) || !(b > 0) || !isfinite(b))
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "beta: expected a finite number > 0");
        j->q.beta = b;
    } else if (!strcmp(key, "token_logps")) {
        if (json_is_null(v)) return RLV_PROTO_OK;
        if (!json_is_boolean(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "token_logps: expected true or false");
        j->q.token_logps = json_is_true(v);
    } else if (!strcmp(key, "deadline_ms")) {
        if (json_is_null(v)) return RLV_PROTO_OK;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "deadline_ms: expected an integer >= 0");
        j->q.deadline_ms = json_integer_value(v);
    } else {
        *known = 0;
    }
    return RLV_PROTO_OK;
}

/* candidates (score) or documents (rerank): strings, or {"text": string} for documents */
static rlv_proto_code set_candidates(http_job *j, const char *field, const json_t *v, int objects, rlv_proto_error *err) {
    if (!json_is_array(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "%s: expected an array", field);
    size_t n = json_array_size(v);
    j->cands = calloc(n ? n : 1, sizeof *j->cands);
    j->lens = calloc(n ? n : 1, sizeof *j->lens);
    if (!j->cands || !j->lens) return rlv_proto_errorf(err, RLV_PROTO_E_INTERNAL, "%s: out of memory for %zu entries", field, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (objects && json_is_object(e)) e = json_object_get(e, "text");
        if (!json_is_string(e))
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "%s[%zu]: expected a string%s", field, i,
                                objects ? " or {\"text\": string}" : "");
        j->cands[i] = str_of(e, &j->lens[i]);
    }
    j->q.candidates = j->cands;
    j->q.candidate_lens = j->lens;
    j->q.n_candidates = n;
    return RLV_PROTO_OK;
}

static rlv_proto_code decode_score(http_job *j, rlv_proto_error *err) {
    const char *key;
    json_t *v;
    int seen_prompt = 0, seen_cands = 0, seen_image = 0;
    json_object_foreach(j->body, key, v) {
        int known;
        rlv_proto_code rc = set_extra(j, key, v, &known, err);
        if (rc || known) {
            if (rc) return rc;
            continue;
        }
        if (!strcmp(key, "image")) {
            seen_image = 1;
            if ((rc = set_image(j, "image", v, err))) return rc;
        } else if (!strcmp(key, "prompt")) {
            if (!json_is_string(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "prompt: expected a string");
            j->q.prompt = str_of(v, &j->q.prompt_len);
            seen_prompt = 1;
        } else if (!strcmp(key, "candidates")) {
            if ((rc = set_candidates(j, "candidates", v, 0, err))) return rc;
            seen_cands = 1;
        } else {
            return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "unknown field '%s'", key);
        }
    }
    if (!seen_image) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'image' (null scores the text alone)");
    if (!seen_prompt) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'prompt'");
    if (!seen_cands) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'candidates'");
    return RLV_PROTO_OK;
}

/* Unknown fields are ignored here: rerank clients send their own (rank_fields, truncation, ...). */
static rlv_proto_code decode_rerank(http_job *j, rlv_proto_error *err) {
    const char *key;
    json_t *v;
    const json_t *query = NULL, *docs = NULL, *image = NULL;
    const char *image_field = "image";
    json_object_foreach(j->body, key, v) {
        int known;
        rlv_proto_code rc = set_extra(j, key, v, &known, err);
        if (rc) return rc;
        if (known) continue;
        if (!strcmp(key, "query")) query = v;
        else if (!strcmp(key, "documents")) docs = v;
        else if (!strcmp(key, "image")) image = v;
        else if (!strcmp(key, "model")) {
            if (!json_is_string(v) && !json_is_null(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "model: expected a string");
            j->model = json_string_value(v);
        } else if (!strcmp(key, "top_n")) {
            if (json_is_null(v)) continue;
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "top_n: expected an integer >= 1");
            j->top_n = (size_t)json_integer_value(v);
        } else if (!strcmp(key, "return_documents")) {
            if (json_is_null(v)) continue;
            if (!json_is_boolean(v)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "return_documents: expected true or false");
            j->return_documents = json_is_true(v);
        }
    }
    if (!query) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'query'");
    if (!docs) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "missing field 'documents'");
    if (json_is_object(query)) { /* {"text", "image"} */
        const json_t *qi = json_object_get(query, "image");
        if (qi && !json_is_null(qi)) {
            if (image && !json_is_null(image))
                return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "image given twice (query.image and image)");
            image = qi;
            image_field = "query.image";
        }
        query = json_object_get(query, "text");
        if (!query) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "query: missing field 'text'");
    }
    if (!json_is_string(query))
        return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "query: expected a string or {\"text\": string, \"image\": base64}");
    j->q.prompt = str_of(query, &j->q.prompt_len);
    rlv_proto_code rc = image ? set_image(j, image_field, image, err) : RLV_PROTO_OK;
    if (!rc) rc = set_candidates(j, "documents", docs, 1, err);
    if (!rc && (!j->top_n || j->top_n > j->q.n_candidates)) j->top_n = j->q.n_candidates;
    return rc;
}

rlv_proto_code http_json_decode(http_job *j, http_job_kind kind, const char *body, size_t len, rlv_proto_error *err) {
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->return_documents = 1;
    j->q.op = RLV_PROTO_OP_SCORE;
    j->q.deadline_ms = -1;
    j->q.prompt = "";
    json_error_t je;
    j->body = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j->body) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "malformed JSON at byte %d: %s", je.position, je.text);
    if (!json_is_object(j->body)) return rlv_proto_errorf(err, RLV_PROTO_E_BAD_REQUEST, "the body must be a JSON object");
    return kind == HTTP_JOB_RERANK ? decode_rerank(j, err) : decode_score(j, err);
}

static char *dump(json_t *o, size_t flags) {
    char *s = o ? json_dumps(o, flags) : NULL;
    json_decref(o);
    return s;
}

char *http_json_rerank_reply(const http_job *j, const json_t *reply, const char *model, uint64_t id) {
    json_t *o = json_object(), *results = json_array();
    char rid[32];
    snprintf(rid, sizeof rid, "rerank-%016llx", (unsigned long long)id);
    json_object_set_new(o, "id", json_string(rid));
    json_object_set_new(o, "model", json_string(j->model ? j->model : model));
    const json_t *ranking = json_object_get(reply, "ranking");
    json_int_t tokens = 0;
    for (size_t i = 0; i < json_array_size(ranking); i++) {
        const json_t *r = json_array_get(ranking, i);
        json_int_t idx = json_integer_value(json_object_get(r, "index"));
        tokens += json_integer_value(json_object_get(r, "tokens"));
        if (i >= j->top_n || idx < 0 || (size_t)idx >= j->q.n_candidates) continue;
        json_t *e = json_object();
        json_object_set_new(e, "index", json_integer(idx));
        json_object_set(e, "relevance_score", json_object_get(r, "reward"));
        if (j->return_documents) {
            json_t *d = json_object();
            json_object_set_new(d, "text", json_stringn_nocheck(j->cands[idx], j->lens[idx]));
            json_object_set_new(e, "document", d);
        }
        json_object_set(e, "tokens", json_object_get(r, "tokens"));
        if (j->q.token_logps) { /* the score reply's per-model log-probs, as asked */
            json_object_set(e, "policy", json_object_get(r, "policy"));
            if (json_object_get(r, "reference")) json_object_set(e, "reference", json_object_get(r, "reference"));
        }
        json_array_append_new(results, e);
    }
    json_object_set_new(o, "results", results);
    json_object_set(o, "reward_kind", json_object_get(reply, "reward_kind"));
    json_object_set(o, "beta", json_object_get(reply, "beta"));
    json_t *usage = json_object();
    json_object_set_new(usage, "total_tokens", json_integer(tokens));
    json_object_set_new(o, "usage", usage);
    json_object_set(o, "timing_ms", json_object_get(reply, "timing_ms"));
    return dump(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
}

char *http_json_score_reply(const json_t *reply) {
    json_t *o = json_deep_copy(reply);
    json_object_del(o, "id");
    json_object_del(o, "ok");
    return dump(o, REPLY_JSON_FLAGS);
}

char *http_json_models_reply(const json_t *info, const char *model) {
    json_t *m = json_object(), *models = json_object_get(info, "models");
    json_object_set_new(m, "id", json_string(model));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "owned_by", json_string("rlaifv"));
    json_object_set(m, "policy", json_object_get(models, "policy"));
    json_object_set(m, "reference", json_object_get(models, "reference"));
    json_object_set(m, "reward_kinds", json_object_get(info, "reward_kinds"));
    json_object_set(m, "default_reward", json_object_get(info, "default_reward"));
    json_object_set(m, "limits", json_object_get(info, "limits"));
    json_object_set(m, "version", json_object_get(info, "version"));
    json_t *o = json_object(), *data = json_array();
    json_array_append_new(data, m);
    json_object_set_new(o, "object", json_string("list"));
    json_object_set_new(o, "data", data);
    return dump(o, JSON_PRESERVE_ORDER | JSON_INDENT(2));
}

char *http_json_error(const char *code, const char *message) {
    json_t *o = json_object(), *e = json_object();
    json_object_set_new(e, "code", json_string(code));
    json_t *m = json_string(message ? message : "");
    json_object_set_new(e, "message", m ? m : json_string("(message not UTF-8)"));
    json_object_set_new(o, "error", e);
    return dump(o, JSON_PRESERVE_ORDER);
}
