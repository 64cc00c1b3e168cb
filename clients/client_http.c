/* client_http.c — rlv_client over HTTP (see client_http.h). The job is the JSON of POST /v1/score
 * (docs/http.md): the msgpack request's fields with the image in base64. A timeout or a failed
 * connection is retried `retries` times on the same handle (curl reconnects); HTTP answers are
 * not retried here: a load balancer in front retries on its next upstream (docs/scaling.md), and
 * `busy` goes back to the caller as over ZeroMQ. */
#include "client_http.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct client_http {
    CURL *curl;
    struct curl_slist *headers;
    char base[512];       /* without a trailing '/' */
    int timeout_ms, retries;
    char *buf;            /* the reply body [len], grown as it arrives */
    size_t len, cap;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_ALL); }

int client_set_error(rlv_client_error *e, rlv_proto_code code, const char *fmt, ...) {
    if (!e) return -1;
    e->code = code;
    e->local = 1;
    snprintf(e->name, sizeof e->name, "%s", code == RLV_PROTO_E_TIMEOUT ? "client_timeout" : "client_error");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

void client_daemon_error(rlv_client_error *e, const json_t *er) {
    const char *code = json_string_value(json_object_get(er, "code")), *msg = json_string_value(json_object_get(er, "message"));
    if (!e) return;
    e->code = code ? rlv_proto_code_parse(code, strlen(code)) : RLV_PROTO_E_INTERNAL;
    e->local = 0;
    snprintf(e->name, sizeof e->name, "%s", code && *code && strlen(code) < sizeof e->name ? code : "internal");
    snprintf(e->message, sizeof e->message, "%s", msg ? msg : "");
}

static size_t on_body(char *p, size_t size, size_t n, void *arg) {
    client_http *h = arg;
    size_t add = size * n;
    if (h->len + add + 1 > h->cap) {
        size_t cap = (h->len + add + 1) * 2;
        char *b = realloc(h->buf, cap);
        if (!b) return 0; /* curl stops with CURLE_WRITE_ERROR */
        h->buf = b;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, p, add);
    h->len += add;
    h->buf[h->len] = 0;
    return add;
}

int client_http_open(client_http **out, const char *base_url, const char *api_key_file, int timeout_ms, int retries,
                     rlv_client_error *err) {
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    size_t n = strlen(base_url);
    while (n && base_url[n - 1] == '/') n--;
    client_http *h = calloc(1, sizeof *h);
    if (!h || n >= sizeof h->base || !(h->curl = curl_easy_init())) {
        client_set_error(err, RLV_PROTO_E_INTERNAL, h ? "endpoint too long, or libcurl failed" : "out of memory");
        client_http_close(&h);
        return -1;
    }
    memcpy(h->base, base_url, n);
    h->base[n] = 0;
    h->timeout_ms = timeout_ms;
    h->retries = retries;
    /* Expect: 100-continue would cost a round trip (or a 1 s wait) per job with an image */
    h->headers = curl_slist_append(NULL, "Expect:");
    h->headers = curl_slist_append(h->headers, "Content-Type: application/json");
    if (api_key_file) {
        FILE *f = fopen(api_key_file, "r");
        char key[512] = "", line[600];
        if (!f || !fgets(key, sizeof key, f)) {
            client_set_error(err, RLV_PROTO_E_INTERNAL, "cannot read the API key file %s", api_key_file);
            if (f) fclose(f);
            client_http_close(&h);
            return -1;
        }
        fclose(f);
        key[strcspn(key, "\r\n")] = 0;
        snprintf(line, sizeof line, "Authorization: Bearer %s", key);
        h->headers = curl_slist_append(h->headers, line);
        sodium_memzero(key, sizeof key);
        sodium_memzero(line, sizeof line);
    }
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L); /* scorer threads: no SIGALRM for DNS timeouts */
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    *out = h;
    return 0;
}

void client_http_close(client_http **hp) {
    if (!hp || !*hp) return;
    client_http *h = *hp;
    if (h->curl) curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->buf);
    free(h);
    *hp = NULL;
}

/* One request (body NULL: GET) to base + path, with the retries. 0 with *status and h->buf (the
 * body, NUL-terminated); -1 with e filled. */
static int request(client_http *h, const char *path, const char *body, long *status, rlv_client_error *e) {
    char url[640];
    snprintf(url, sizeof url, "%s%s", h->base, path);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = CURLE_OK;
    for (int t = 0; t <= h->retries; t++) {
        h->len = 0;
        if (h->buf) h->buf[0] = 0;
        rc = curl_easy_perform(h->curl);
        if (rc == CURLE_OK) {
            curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
            if (!h->buf && !on_body("", 1, 0, h)) break;
            return 0;
        }
        if (rc != CURLE_OPERATION_TIMEDOUT && rc != CURLE_COULDNT_CONNECT && rc != CURLE_GOT_NOTHING &&
            rc != CURLE_RECV_ERROR && rc != CURLE_SEND_ERROR)
            break;
    }
    char msg[sizeof e->message];
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(msg, sizeof msg, "no reply from %.400s within %d ms (%d tries)", url, h->timeout_ms, h->retries + 1);
    else
        snprintf(msg, sizeof msg, "%.400s: %.100s", url, curl_easy_strerror(rc));
    return client_set_error(e, rc == CURLE_OPERATION_TIMEDOUT ? RLV_PROTO_E_TIMEOUT : RLV_PROTO_E_INTERNAL, "%s", msg);
}

int client_http_parse_reply(const char *where, const char *body, long status, const char *pick_array, json_t **out,
                            rlv_client_error *e) {
    json_t *r = json_loads(body ? body : "", 0, NULL);
    json_t *er = json_object_get(r, "error");
    int rc = -1;
    if (status == 200 && json_is_object(r)) {
        json_t *o = pick_array ? json_array_get(json_object_get(r, pick_array), 0) : r;
        if (json_is_object(o)) *out = json_incref(o), rc = 0;
        else client_set_error(e, RLV_PROTO_E_INTERNAL, "unreadable reply");
    } else if (json_is_object(er) && json_is_string(json_object_get(er, "code"))) {
        client_daemon_error(e, er);
        rc = 1;
    } else { /* not the daemon's answer: a proxy's error page, say */
        char msg[512];
        snprintf(msg, sizeof msg, "HTTP %ld from %.200s: %.120s", status, where, body ? body : "");
        for (char *p = msg; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
        client_set_error(e, RLV_PROTO_E_INTERNAL, "%s", msg);
    }
    json_decref(r);
    return rc;
}

int client_http_score(client_http *h, const rlv_client_job *j, json_t **out, rlv_client_error *e) {
    json_t *q = json_object(), *cands = json_array(), *prompt = json_string(j->prompt); /* NULL: not UTF-8 */
    char *b64 = NULL;
    if (j->image) {
        size_t n = sodium_base64_encoded_len(j->image_len, sodium_base64_VARIANT_ORIGINAL);
        if ((b64 = malloc(n))) sodium_bin2base64(b64, n, j->image, j->image_len, sodium_base64_VARIANT_ORIGINAL);
    }
    int bad = !q || !cands || !prompt || (j->image && !b64);
    json_object_set_new(q, "image", b64 ? json_string(b64) : json_null());
    free(b64);
    json_object_set_new(q, "prompt", prompt);
    for (int i = 0; i < j->n_candidates; i++) {
        json_t *c = json_string(j->candidates[i]);
        bad |= !c;
        json_array_append_new(cands, c);
    }
    json_object_set_new(q, "candidates", cands);
    if (j->reward) json_object_set_new(q, "reward", json_string(j->reward));
    if (j->beta > 0) json_object_set_new(q, "beta", json_real(j->beta));
    if (j->token_logps) json_object_set_new(q, "token_logps", json_true());
    if (j->deadline_ms >= 0) json_object_set_new(q, "deadline_ms", json_integer(j->deadline_ms));
    char *body = bad ? NULL : json_dumps(q, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(q);
    if (!body)
        return client_set_error(e, RLV_PROTO_E_INTERNAL, "a prompt or candidate that is not UTF-8, or out of memory");
    long status = 0;
    int rc = request(h, "/v1/score", body, &status, e);
    free(body);
    char where[640];
    snprintf(where, sizeof where, "%s/v1/score", h->base);
    return rc ? rc : client_http_parse_reply(where, h->buf, status, NULL, out, e);
}

int client_http_call(client_http *h, const char *op, json_t **out, rlv_client_error *e) {
    const char *path = !strcmp(op, "ping") ? "/health" : !strcmp(op, "info") ? "/v1/models" : NULL;
    if (!path) {
        client_set_error(e, RLV_PROTO_E_INTERNAL, "over HTTP only ping (/health) and info (/v1/models); stats is GET /metrics");
        return -1;
    }
    long status = 0;
    int rc = request(h, path, NULL, &status, e);
    char where[640];
    snprintf(where, sizeof where, "%s%s", h->base, path);
    return rc ? rc : client_http_parse_reply(where, h->buf, status, !strcmp(op, "info") ? "data" : NULL, out, e);
}
