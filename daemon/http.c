/* http.c — the HTTP front end (see http.h, docs/http.md).
 *
 * Invariants:
 * (1) One thread: it alone calls libmicrohttpd (external epoll mode: MHD_run from this loop,
 *     every callback on this thread) and touches the DEALER. Nothing here is shared with other
 *     threads but rlvd_phase_now (read) and the HTTP notes of stats.c (under their lock).
 * (2) Every HTTP request gets exactly one response: answered here (routing, auth, body size, JSON
 *     shape, /health, /ready, loading), or forwarded to the frontend, which answers every request
 *     once (frontend.c invariant 2). A forwarded request's connection is suspended until its reply
 *     comes back (matched by id = generation << 32 | slot, so a reply for a finished slot is
 *     dropped); after the frontend stopped, http_stop answers the ones still waiting with
 *     shutting_down.
 * (3) A request holds one slot of a table sized http-max-connections at start-up (libmicrohttpd
 *     refuses connections above that, and a connection carries one request at a time), freed by
 *     the completion callback. Its body is read into a buffer that grows up to max-message-bytes;
 *     a Content-Length above that is answered 413 before any body byte is read.
 *
 * Request states: NEW -> BODY -> (answered here) DONE
 *                 NEW -> BODY -> SENT (suspended) -> reply or shutting_down -> DONE
 *                 NEW -> (route, auth, Content-Length) DONE */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "clock.h"
#include "err.h"
#include "frontend.h"
#include "prefix.h"
#include "http_json.h"
#include "log.h"
#include "metrics.h"
#include "rlaifv_proto.h"
#include "reply_json.h"
#include "stats.h"

#define JSON_TYPE "application/json"
#define STOP_FLUSH_MS 1000 /* http_stop: how long responses may take to go out */

typedef enum { ROUTE_NONE, ROUTE_RERANK, ROUTE_SCORE, ROUTE_MODELS, ROUTE_METRICS, ROUTE_HEALTH, ROUTE_READY } route;
typedef enum { REQ_NEW, REQ_BODY, REQ_SENT, REQ_DONE } req_state;

static const struct {
    const char *path, *method, *op; /* op: the stats name of what it asks */
    int open;                       /* served without the API key (probes) */
} routes[] = {
    [ROUTE_NONE] = {"", "", "none", 1},
    [ROUTE_RERANK] = {"/v1/rerank", "POST", "score", 0},
    [ROUTE_SCORE] = {"/v1/score", "POST", "score", 0},
    [ROUTE_MODELS] = {"/v1/models", "GET", "info", 0},
    [ROUTE_METRICS] = {"/metrics", "GET", "stats", 0},
    [ROUTE_HEALTH] = {"/health", "GET", "health", 1},
    [ROUTE_READY] = {"/ready", "GET", "ready", 1},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* The HTTP status of each error code (the protocol's, then the ones only HTTP has), and whether
 * the response says Retry-After. */
static const struct { const char *code; unsigned status; int retry; } statuses[] = {
    {"bad_request", 400, 0}, {"unsupported_version", 400, 0}, {"unsupported_reward", 400, 0}, {"bad_image", 400, 0},
    {"unsupported_image", 415, 0}, {"too_large", 413, 0}, {"too_long", 422, 0}, {"busy", 429, 1},
    {"timeout", 504, 0}, {"shutting_down", 503, 0}, {"internal", 500, 0},
    {"loading", 503, 1}, {"unauthorized", 401, 0}, {"forbidden", 403, 0}, {"not_found", 404, 0},
    {"method_not_allowed", 405, 0},
};

typedef struct http_req {
    int slot;
    uint32_t gen;                 /* bumped at every free (invariant 2) */
    int in_use;
    route rt;
    req_state state;
    struct MHD_Connection *conn;
    char *body;                   /* [cap] received bytes, len of them */
    size_t len, cap;
    int too_large;
    http_job job;
    uint64_t id;
    /* the response, once known: */
    unsigned status;
    char *resp;                   /* malloc-ed, handed to libmicrohttpd */
    const char *ctype;
    int retry;
} http_req;

struct rlvd_http {
    const rlvd_settings *cfg;
    void *zctx, *dealer;
    struct MHD_Daemon *mhd;
    pthread_t thread;
    int started;
    _Atomic int stop;
    http_req *reqs;               /* [n] */
    int *free_list, n, n_free;
    size_t max_body;
    char key[256];                /* API key; key_len 0 = none */
    size_t key_len;
    char model[256];              /* the served model's id: basename of --model */
    char *tls_cert, *tls_key;
    int stopped;                  /* the frontend is gone: answer shutting_down here */
};

static void free_cb(void *data, void *hint) {
    (void)hint;
    free(data);
}

/* ------------------------------------------------------------------ slots */

static http_req *req_alloc(rlvd_http *h) {
    if (!h->n_free) return NULL;
    http_req *r = &h->reqs[h->free_list[--h->n_free]];
    uint32_t gen = r->gen;
    int slot = r->slot;
    memset(r, 0, sizeof *r);
    r->slot = slot;
    r->gen = gen;
    r->in_use = 1;
    return r;
}

static void req_free(rlvd_http *h, http_req *r) {
    free(r->body);
    free(r->resp);
    http_job_free(&r->job);
    r->body = r->resp = NULL;
    r->in_use = 0;
    r->gen = (r->gen + 1) & 0x7fffffff;
    h->free_list[h->n_free++] = r->slot;
}

/* ------------------------------------------------------------------ responses */

static void set_resp(http_req *r, unsigned status, char *body, const char *ctype) {
    free(r->resp);
    r->status = body ? status : 500;
    r->resp = body ? body : strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    r->ctype = ctype;
}

/* An error response {"error": {"code", "message"}} with the code's status; counted in stats
 * when answered here (counted = 0: the frontend counted it). */
static void set_error(http_req *r, const char *code, const char *message, int counted) {
    unsigned status = 500;
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
        if (!strcmp(statuses[i].code, code)) {
            status = statuses[i].status;
            r->retry = statuses[i].retry;
        }
    set_resp(r, status, http_json_error(code, message), JSON_TYPE);
    if (!counted) {
        stats_note_http(routes[r->rt].op, code);
        log_request("-", routes[r->rt].op, code, (int)r->job.q.n_candidates, 0, message);
    }
}

static enum MHD_Result respond(struct MHD_Connection *c, http_req *r) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(r->resp), r->resp, MHD_RESPMEM_MUST_FREE);
    if (!resp) return MHD_NO;
    r->resp = NULL; /* libmicrohttpd frees it */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    if (r->retry) MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (r->status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->status == 405) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, routes[r->rt].method);
    enum MHD_Result ok = MHD_queue_response(c, r->status, resp);
    MHD_destroy_response(resp);
    r->state = REQ_DONE;
    return ok;
}

/* ------------------------------------------------------------------ to and from the frontend */

static void forward(rlvd_http *h, http_req *r, rlv_proto_client_request *q) {
    r->id = (uint64_t)r->gen << 32 | (uint32_t)r->slot;
    q->id = r->id;
    size_t len;
    uint8_t *b = rlv_proto_encode_request(q, &len);
    zmq_msg_t m;
    if (!b || zmq_msg_init_data(&m, b, len, free_cb, NULL) != 0) {
        free(b);
        set_error(r, "internal", "out of memory encoding the request", 0);
        return;
    }
    if (zmq_msg_send(&m, h->dealer, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&m);
        set_error(r, "internal", "cannot pass the request to the frontend", 0);
        return;
    }
    r->state = REQ_SENT;
    MHD_suspend_connection(r->conn);
}

/* The frontend's reply to r, as the route's response. */
static void on_reply(rlvd_http *h, http_req *r, const json_t *rep) {
    if (!json_is_true(json_object_get(rep, "ok"))) {
        const json_t *e = json_object_get(rep, "error");
        const char *code = json_string_value(json_object_get(e, "code")), *msg = json_string_value(json_object_get(e, "message"));
        set_error(r, code ? code : "internal", msg ? msg : "", 1);
        return;
    }
    switch (r->rt) {
    case ROUTE_RERANK: set_resp(r, 200, http_json_rerank_reply(&r->job, rep, h->model, r->id), JSON_TYPE); break;
    case ROUTE_SCORE: set_resp(r, 200, http_json_score_reply(rep), JSON_TYPE); break;
    case ROUTE_MODELS: set_resp(r, 200, http_json_models_reply(rep, h->model), JSON_TYPE); break;
    case ROUTE_METRICS: set_resp(r, 200, metrics_render(rep), METRICS_CONTENT_TYPE); break;
    default: set_error(r, "internal", "a reply for a request that asked nothing", 1);
    }
}

static void read_replies(rlvd_http *h) {
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, h->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        json_t *rep = reply_to_json(zmq_msg_data(&m), zmq_msg_size(&m));
        json_int_t id = json_integer_value(json_object_get(rep, "id"));
        uint32_t slot = (uint32_t)id, gen = (uint32_t)((uint64_t)id >> 32);
        http_req *r = slot < (uint32_t)h->n ? &h->reqs[slot] : NULL;
        if (r && r->in_use && r->gen == gen && r->state == REQ_SENT) {
            on_reply(h, r, rep);
            MHD_resume_connection(r->conn); /* the access handler is called again and responds */
        } else {
            log_msg(LOG_WARN, "HTTP: a reply for no waiting request (id %lld) dropped", (long long)id);
        }
        json_decref(rep);
        zmq_msg_close(&m);
    }
}

/* ------------------------------------------------------------------ the access handler */

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
static int authorized(const rlvd_http *h, const char *hdr) {
    if (!hdr || !(hdr = prefix_skip(hdr, "Bearer "))) return 0;
    size_t n = strlen(hdr);
    unsigned diff = n != h->key_len;
    for (size_t i = 0; i < h->key_len; i++) diff |= (unsigned char)h->key[i] ^ (unsigned char)(i < n ? hdr[i] : 0);
    return diff == 0;
}

/* Route, method, auth and declared size, on the first call (before any body byte is read). */
static void admit(rlvd_http *h, http_req *r, const char *url, const char *method) {
    for (size_t i = 1; i < N_ROUTES; i++)
        if (!strcmp(url, routes[i].path)) r->rt = (route)i;
    if (r->rt == ROUTE_NONE) {
        char msg[300];
        snprintf(msg, sizeof msg, "no endpoint %.200s (docs/http.md lists them)", url);
        set_error(r, "not_found", msg, 0);
        return;
    }
    if (strcmp(method, routes[r->rt].method)) {
        char msg[300];
        snprintf(msg, sizeof msg, "%s takes %s, not %.20s", routes[r->rt].path, routes[r->rt].method, method);
        set_error(r, "method_not_allowed", msg, 0);
        return;
    }
    if (h->key_len && !routes[r->rt].open) {
        const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!auth) {
            set_error(r, "unauthorized", "this daemon needs 'Authorization: Bearer KEY' (api-key-file)", 0);
            return;
        }
        if (!authorized(h, auth)) {
            set_error(r, "forbidden", "wrong API key", 0);
            return;
        }
    }
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > h->max_body) {
        char msg[200];
        snprintf(msg, sizeof msg, "the body of %.30s bytes is above max-message-bytes %zu", cl, h->max_body);
        set_error(r, "too_large", msg, 0);
    }
}

static void body_append(rlvd_http *h, http_req *r, const char *data, size_t n) {
    if (r->too_large || r->len + n > h->max_body) { /* chunked, or more than it declared: drop the rest */
        r->too_large = 1;
        return;
    }
    if (r->len + n > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + n) cap *= 2;
        if (cap > h->max_body) cap = h->max_body;
        char *p = realloc(r->body, cap);
        if (!p) {
            r->too_large = 1; /* answered internal below */
            return;
        }
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

/* The whole request is in: answer it here or forward it. */
static void handle(rlvd_http *h, http_req *r) {
    int phase = rlvd_phase_now;
    if (r->too_large) {
        char msg[200];
        snprintf(msg, sizeof msg, "the body is above max-message-bytes %zu (or memory ran out reading it)", h->max_body);
        set_error(r, "too_large", msg, 0);
        return;
    }
    if (r->rt == ROUTE_HEALTH) {
        stats_note_http("health", "ok");
        set_resp(r, 200, strdup("{\"status\":\"ok\"}"), JSON_TYPE);
        return;
    }
    if (r->rt == ROUTE_READY) {
        if (phase == RLVD_READY && !h->stopped) {
            stats_note_http("ready", "ok");
            set_resp(r, 200, strdup("{\"status\":\"ready\"}"), JSON_TYPE);
        } else if (phase == RLVD_LOADING) {
            set_error(r, "loading", "the model is loading", 0);
        } else {
            set_error(r, "shutting_down", "the daemon is shutting down", 0);
        }
        return;
    }
    if (h->stopped || phase >= RLVD_STOPPED) {
        set_error(r, "shutting_down", "the daemon is shutting down", 0);
        return;
    }
    if (phase == RLVD_LOADING) {
        set_error(r, "loading", "the model is loading; GET /ready says when it is served", 0);
        return;
    }
    rlv_proto_client_request q = {.deadline_ms = -1};
    if (r->rt == ROUTE_MODELS || r->rt == ROUTE_METRICS) {
        q.op = r->rt == ROUTE_MODELS ? RLV_PROTO_OP_INFO : RLV_PROTO_OP_STATS;
        forward(h, r, &q);
        return;
    }
    rlv_proto_error e = {0};
    rlv_proto_code rc = http_json_decode(&r->job, r->rt == ROUTE_RERANK ? HTTP_JOB_RERANK : HTTP_JOB_SCORE, r->body ? r->body : "",
                                     r->len, &e);
    if (rc != RLV_PROTO_OK) {
        set_error(r, rlv_proto_code_name(rc), e.msg, 0);
        return;
    }
    free(r->body); /* the job holds what it needs */
    r->body = NULL;
    r->len = r->cap = 0;
    forward(h, r, &r->job.q);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls) {
    (void)version;
    rlvd_http *h = cls;
    http_req *r = *con_cls;
    if (!r) {
        r = req_alloc(h);
        if (!r) { /* cannot happen with the connection limit = slots; answered all the same */
            static char busy[] = "{\"error\":{\"code\":\"busy\",\"message\":\"no free HTTP request slot\"}}";
            struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(busy), busy, MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
            enum MHD_Result ok = MHD_queue_response(c, 429, resp);
            MHD_destroy_response(resp);
            return ok;
        }
        *con_cls = r;
        r->conn = c;
        admit(h, r, url, method);
        if (r->resp) return respond(c, r);
        r->state = REQ_BODY;
        return MHD_YES;
    }
    if (*size) { /* body bytes; after an early response (413, 401...) they are dropped */
        if (r->state == REQ_BODY) body_append(h, r, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (r->state == REQ_BODY) handle(h, r);
    if (r->resp && r->state != REQ_DONE) return respond(c, r);
    return MHD_YES; /* SENT: suspended until the reply */
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    http_req *r = *con_cls;
    if (r) req_free(cls, r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = 0;
    log_msg(LOG_DEBUG, "libmicrohttpd: %s", msg);
}

/* ------------------------------------------------------------------ the thread */

static int busy_slots(const rlvd_http *h) { return h->n - h->n_free; }

static void answer_waiting(rlvd_http *h) {
    for (int i = 0; i < h->n; i++) {
        http_req *r = &h->reqs[i];
        if (!r->in_use || r->state != REQ_SENT) continue;
        set_error(r, "shutting_down", "the daemon stopped before answering", 0);
        MHD_resume_connection(r->conn);
    }
}

static void *http_main(void *arg) {
    rlvd_http *h = arg;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int epfd = di ? di->epoll_fd : -1;
    double flush_until = 0;
    for (;;) {
        if (h->stop && !h->stopped) {
            h->stopped = 1;
            read_replies(h); /* what the frontend sent before it stopped */
            answer_waiting(h);
            flush_until = clock_now_ms() + STOP_FLUSH_MS;
        }
        if (h->stopped) {
            if (!busy_slots(h) || clock_now_ms() > flush_until) break;
        }
        long wait = 100; /* sees the stop flag */
        MHD_UNSIGNED_LONG_LONG to;
        if (MHD_get_timeout(h->mhd, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)wait) wait = (long)to;
        zmq_pollitem_t it[2] = {{h->dealer, 0, ZMQ_POLLIN, 0}, {NULL, epfd, ZMQ_POLLIN, 0}};
        zmq_poll(it, 2, h->stopped ? 10 : wait);
        if (!h->stopped) read_replies(h);
        MHD_run(h->mhd);
    }
    if (busy_slots(h)) log_msg(LOG_WARN, "HTTP: %d responses still unsent when the daemon stopped", busy_slots(h));
    return NULL;
}

/* ------------------------------------------------------------------ start, stop */

/* "PORT", "HOST:PORT", "[V6]:PORT" -> address; no host = 127.0.0.1. */
static int parse_bind(const char *s, struct sockaddr_storage *ss, int *v6, int *loopback) {
    char host[256] = "127.0.0.1";
    const char *port = s;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) return -1;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = 0;
        port = e + 2;
    } else if (strchr(s, ':')) {
        const char *c = strrchr(s, ':');
        if ((size_t)(c - s) >= sizeof host || c == s) return -1;
        memcpy(host, s, (size_t)(c - s));
        host[c - s] = 0;
        port = c + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535) return -1;
    if (!strcmp(host, "localhost")) strcpy(host, "127.0.0.1");
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p);
        *v6 = 0;
        *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p);
        *v6 = 1;
        *loopback = !memcmp(&a6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback);
        return 0;
    }
    return -1; /* a name: give the address, so what is bound is what was meant */
}

/* A whole small file, NUL-terminated; NULL with err when unreadable. */
static char *read_file(const char *what, const char *path, size_t max, rlv_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        rlv_errf(err, RLV_EIO, "cannot read the %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *b = malloc(max + 1);
    size_t n = b ? fread(b, 1, max + 1, f) : 0;
    fclose(f);
    if (!b || n > max) {
        rlv_errf(err, b ? RLV_ELIMIT : RLV_ENOMEM, "the %s %s is larger than %zu bytes", what, path, max);
        free(b);
        return NULL;
    }
    b[n] = 0;
    return b;
}

static int load_key(rlvd_http *h, const char *path, rlv_err *err) {
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
        log_msg(LOG_WARN, "the API key file %s is accessible to group or others (mode %03o): chmod 600 it", path,
                (unsigned)(st.st_mode & 0777));
    char *k = read_file("API key file", path, sizeof h->key - 1, err);
    if (!k) return err ? err->code : RLV_EIO;
    size_t n = strcspn(k, "\r\n");
    memcpy(h->key, k, n);
    h->key_len = n;
    memset(k, 0, strlen(k));
    free(k);
    if (n < 16) return rlv_errf(err, RLV_EINVAL, "the API key in %s is %zu characters: give at least 16 (e.g. openssl rand -hex 32)", path, n);
    return RLV_OK;
}

static void http_free(rlvd_http *h) {
    if (!h) return;
    if (h->mhd) MHD_stop_daemon(h->mhd);
    if (h->dealer) zmq_close(h->dealer);
    if (h->reqs)
        for (int i = 0; i < h->n; i++) {
            free(h->reqs[i].body);
            free(h->reqs[i].resp);
            http_job_free(&h->reqs[i].job);
        }
    free(h->reqs);
    free(h->free_list);
    free(h->tls_cert);
    free(h->tls_key);
    memset(h->key, 0, sizeof h->key);
    free(h);
}

/* ss NULL: no listening socket (http_start_unbound). */
static int start(rlvd_http **out, const rlvd_settings *cfg, void *zctx, const struct sockaddr_storage *ss, int v6, rlv_err *err) {
    if (!cfg->tls_cert_file != !cfg->tls_key_file) return rlv_errf(err, RLV_EINVAL, "TLS needs both --tls-cert-file and --tls-key-file");
    rlvd_http *h = calloc(1, sizeof *h);
    if (!h) return rlv_errf(err, RLV_ENOMEM, "HTTP: out of memory");
    int rc = RLV_ENOMEM;
    h->cfg = cfg;
    h->zctx = zctx;
    h->n = cfg->http_max_connections;
    h->max_body = (size_t)cfg->max_message_bytes;
    const char *base = strrchr(cfg->model, '/');
    snprintf(h->model, sizeof h->model, "%s", base && base[1] ? base + 1 : cfg->model);
    h->reqs = calloc((size_t)h->n, sizeof *h->reqs);
    h->free_list = calloc((size_t)h->n, sizeof *h->free_list);
    if (!h->reqs || !h->free_list) {
        rlv_errf(err, rc, "HTTP: out of memory for %d connections", h->n);
        goto fail;
    }
    for (int i = 0; i < h->n; i++) {
        h->reqs[i].slot = i;
        h->free_list[h->n_free++] = h->n - 1 - i;
    }
    if (cfg->api_key_file && (rc = load_key(h, cfg->api_key_file, err)) != RLV_OK) goto fail;
    if (cfg->tls_cert_file && (!(h->tls_cert = read_file("TLS certificate", cfg->tls_cert_file, 1 << 20, err)) ||
                               !(h->tls_key = read_file("TLS key", cfg->tls_key_file, 1 << 20, err)))) {
        rc = err ? err->code : RLV_EIO;
        goto fail;
    }
    rc = RLV_EIO;
    h->dealer = zmq_socket(zctx, ZMQ_DEALER);
    int zero = 0, linger = 0;
    zmq_setsockopt(h->dealer, ZMQ_ROUTING_ID, RLVD_HTTP_ID, strlen(RLVD_HTTP_ID));
    zmq_setsockopt(h->dealer, ZMQ_RCVHWM, &zero, sizeof zero); /* the frontend never waits on us */
    zmq_setsockopt(h->dealer, ZMQ_SNDHWM, &zero, sizeof zero); /* at most http-max-connections in flight */
    zmq_setsockopt(h->dealer, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(h->dealer, RLVD_HTTP_EP) != 0) { /* inproc: connecting before the bind is fine */
        rlv_errf(err, rc, "HTTP: cannot connect to %s: %s", RLVD_HTTP_EP, zmq_strerror(zmq_errno()));
        goto fail;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
                     (h->tls_cert ? MHD_USE_TLS : 0) | (ss ? 0 : MHD_USE_NO_LISTEN_SOCKET);
    struct MHD_OptionItem opts[8];
    int n = 0;
    if (ss) opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)ss};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, cfg->http_max_connections, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, cfg->http_timeout_s, NULL};
    if (h->tls_cert) {
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key};
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                              MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->mhd) {
        rlv_errf(err, rc, "cannot serve HTTP on %s: %s (port in use, or a bad TLS certificate / key)", ss ? cfg->http_bind : "(no socket)",
                 strerror(errno));
        goto fail;
    }
    if (pthread_create(&h->thread, NULL, http_main, h) != 0) {
        rlv_errf(err, RLV_ENOMEM, "HTTP: cannot start its thread");
        rc = RLV_ENOMEM;
        goto fail;
    }
    h->started = 1;
    log_msg(LOG_INFO, "HTTP on %s%s (%s), %d connections", h->tls_cert ? "https://" : "http://",
            ss ? cfg->http_bind : "(no socket)", h->key_len ? "API key" : "no API key", cfg->http_max_connections);
    *out = h;
    return RLV_OK;
fail:
    http_free(h);
    return rc;
}

int http_start(rlvd_http **out, const rlvd_settings *cfg, void *zctx, rlv_err *err) {
    *out = NULL;
    if (!cfg->http_bind) return RLV_OK;
    struct sockaddr_storage ss;
    int v6, loopback;
    if (parse_bind(cfg->http_bind, &ss, &v6, &loopback) != 0)
        return rlv_errf(err, RLV_EINVAL, "http-bind '%s': expected PORT, HOST:PORT or [IPV6]:PORT with a numeric address and a port 1..65535",
                        cfg->http_bind);
    if (!loopback && !cfg->api_key_file && !cfg->insecure)
        return rlv_errf(err, RLV_EINVAL, "refusing to serve HTTP on %s without an API key: give --api-key-file, or --insecure to "
                                         "accept anyone on the network", cfg->http_bind);
    return start(out, cfg, zctx, &ss, v6, err);
}

int http_start_unbound(rlvd_http **out, const rlvd_settings *cfg, void *zctx, rlv_err *err) {
    *out = NULL;
    return start(out, cfg, zctx, NULL, 0, err);
}

int http_add_connection(rlvd_http *h, int fd) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return MHD_add_connection(h->mhd, fd, (struct sockaddr *)&a, sizeof a) == MHD_YES ? 0 : -1;
}

void http_stop(rlvd_http **hp) {
    if (!hp || !*hp) return;
    rlvd_http *h = *hp;
    if (h->started) {
        h->stop = 1;
        pthread_join(h->thread, NULL);
    }
    http_free(h);
    *hp = NULL;
}
