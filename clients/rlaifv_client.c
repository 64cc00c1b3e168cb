/* rlaifv_client.c — the C client library (see rlaifv_client.h). Lazy Pirate: after a timeout the
 * socket is closed and reopened before a retry, so a late reply cannot be taken for the next.
 *
 * Design notes (several endpoints):
 * (1) One DEALER per endpoint, with ZMQ_IMMEDIATE: a message goes only to a completed
 *     connection, so a send to a daemon that is down (or not yet connected) fails at once with
 *     EAGAIN and the request goes elsewhere instead of waiting in a queue for a peer that may
 *     never come.
 * (2) Each DEALER has a socket monitor (an inproc PAIR) reporting ZMQ_EVENT_DISCONNECTED: a
 *     daemon killed while it holds our request is noticed at once, not after timeout_ms.
 * (3) A try that failed (busy, shutting_down, no reply, disconnect) marks its endpoint for this
 *     request only; the next try picks among the others. Load (requests in flight) is counted in
 *     the pool, shared by the clients of eval's scorer threads.
 * (4) Every try has a fresh id; a reply is taken only if it carries the id of the try in flight
 *     on that socket, and a socket whose try was abandoned is reopened: a late or second reply is
 *     dropped, never written twice. */
#include "rlaifv_client.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "client_http.h"
#include "clock.h"
#include "rlaifv_proto.h"
#include "reply_json.h"
#include "prefix.h"

struct rlv_client_pool {
    int n;
    atomic_int in_flight[RLV_CLIENT_MAX_ENDPOINTS]; /* requests sent and not yet answered or given up */
    atomic_uint next;                               /* rotates the first endpoint looked at: ties spread */
};

typedef struct endpoint_conn {
    char addr[512];
    void *sock;      /* DEALER */
    void *mon;       /* PAIR: the DEALER's disconnect events (design note 2) */
    unsigned gen;    /* bumped at each reopen: names the monitor's inproc address */
} endpoint_conn;

struct rlv_client {
    void *ctx;
    rlv_client_opts o;
    char *server_key_file, *client_key_file;
    int n;
    endpoint_conn ep[RLV_CLIENT_MAX_ENDPOINTS];
    rlv_client_pool *pool, *own_pool; /* own_pool: when o.pool is NULL */
    uint64_t next_id;
    client_http *http;                /* an http(s):// endpoint: everything goes there, no sockets */
};

/* Splits list at commas into addr[k] (each at most 511 bytes). Count, or -1 with err. */
static int split_endpoints(const char *list, char (*addr)[512], rlv_client_error *err) {
    if (!list || !*list)
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "no endpoint");
    int n = 0;
    for (const char *p = list;; n++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n == RLV_CLIENT_MAX_ENDPOINTS)
            return client_set_error(err, RLV_PROTO_E_INTERNAL, "more than %d endpoints in '%.200s'", RLV_CLIENT_MAX_ENDPOINTS, list);
        if (len == 0 || len >= 512)
            return client_set_error(err, RLV_PROTO_E_INTERNAL, "endpoint %d of '%.200s' is %s", n + 1, list, len ? "too long" : "empty");
        char one[512];
        memcpy(one, p, len);
        one[len] = 0;
        if (!strstr(one, "://")) { /* zmq_connect would only say "Invalid argument" */
            return client_set_error(err, RLV_PROTO_E_INTERNAL, "endpoint '%.200s' names no transport: write tcp://%.200s (or ipc://PATH)", one, one);
        }
        if (addr) memcpy(addr[n], one, len + 1);
        if (!comma) return n + 1;
        p = comma + 1;
    }
}

int rlv_client_count_endpoints(const char *list, rlv_client_error *err) { return split_endpoints(list, NULL, err); }

int rlv_client_pool_new(rlv_client_pool **out, const char *endpoints, rlv_client_error *err) {
    *out = NULL;
    int n = split_endpoints(endpoints, NULL, err);
    if (n < 0) return -1;
    rlv_client_pool *p = calloc(1, sizeof *p);
    if (!p)
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "out of memory");
    p->n = n;
    for (int k = 0; k < RLV_CLIENT_MAX_ENDPOINTS; k++) atomic_init(&p->in_flight[k], 0);
    atomic_init(&p->next, 0);
    *out = p;
    return 0;
}

void rlv_client_pool_free(rlv_client_pool **p) {
    if (!p || !*p) return;
    free(*p);
    *p = NULL;
}

static void close_endpoint(endpoint_conn *e) {
    if (e->mon) zmq_close(e->mon);
    if (e->sock) zmq_close(e->sock);
    e->mon = e->sock = NULL;
}

static int open_socket(rlv_client *c, endpoint_conn *e, rlv_client_error *err) {
    e->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!e->sock)
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    int linger = 0, immediate = 1;
    zmq_setsockopt(e->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(e->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate); /* design note 1 */
    if (c->server_key_file) {
        char spub[41], pub[41], sec[41];
        const char *files[2] = {c->server_key_file, c->client_key_file};
        for (int i = 0; i < 2; i++) {
            if (!files[i])
                return client_set_error(err, RLV_PROTO_E_INTERNAL, "CURVE needs a client key file too (rlaifv keygen makes one)");
            if (access(files[i], R_OK) != 0)
                return client_set_error(err, RLV_PROTO_E_INTERNAL, "cannot read the CURVE key file %s: %s", files[i], strerror(errno));
        }
        if (rlv_proto_read_curve_key(c->server_key_file, "public-key", spub) || rlv_proto_read_curve_key(c->client_key_file, "public-key", pub) ||
            rlv_proto_read_curve_key(c->client_key_file, "secret-key", sec))
            return client_set_error(err, RLV_PROTO_E_INTERNAL, "no public-key / secret-key lines in %s / %s (rlaifv keygen makes them)",
                                    c->server_key_file, c->client_key_file);
        zmq_setsockopt(e->sock, ZMQ_CURVE_SERVERKEY, spub, 40);
        zmq_setsockopt(e->sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(e->sock, ZMQ_CURVE_SECRETKEY, sec, 40);
        memset(sec, 0, sizeof sec);
    }
    if (c->n > 1) { /* design note 2; one endpoint has nowhere else to go, so it waits for its timeout */
        char mon[96];
        snprintf(mon, sizeof mon, "inproc://rlv-client-%p-%d-%u", (void *)c, (int)(e - c->ep), e->gen++);
        e->mon = zmq_socket(c->ctx, ZMQ_PAIR);
        if (!e->mon || zmq_socket_monitor(e->sock, mon, ZMQ_EVENT_DISCONNECTED) || zmq_setsockopt(e->mon, ZMQ_LINGER, &linger, sizeof linger) ||
            zmq_connect(e->mon, mon))
            return client_set_error(err, RLV_PROTO_E_INTERNAL, "socket monitor for %s: %s", e->addr, zmq_strerror(zmq_errno()));
    }
    if (zmq_connect(e->sock, e->addr) != 0)
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "cannot connect to %s: %s", e->addr, zmq_strerror(zmq_errno()));
    return 0;
}

static int reopen_socket(rlv_client *c, endpoint_conn *e, rlv_client_error *err) {
    close_endpoint(e);
    return open_socket(c, e, err);
}

int rlv_client_connect(rlv_client **out, const rlv_client_opts *o, rlv_client_error *err) {
    *out = NULL;
    if (!o || !o->endpoint)
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "no endpoint");
    char (*addr)[512] = calloc(RLV_CLIENT_MAX_ENDPOINTS, sizeof *addr);
    if (!addr) return client_set_error(err, RLV_PROTO_E_INTERNAL, "out of memory");
    int n = split_endpoints(o->endpoint, addr, err);
    if (n < 0) {
        free(addr);
        return -1;
    }
    if (o->pool && o->pool->n != n) {
        client_set_error(err, RLV_PROTO_E_INTERNAL, "the pool counts %d endpoints, '%.200s' names %d", o->pool->n, o->endpoint, n);
        free(addr);
        return -1;
    }
    int http = 0;
    for (int k = 0; k < n && !http; k++) http = prefix_skip(addr[k], "http://") || prefix_skip(addr[k], "https://");
    if (http && (n > 1 || o->server_key_file)) {
        client_set_error(err, RLV_PROTO_E_INTERNAL, "%s",
                         n > 1 ? "an http:// endpoint stands alone (several daemons over HTTP: a load balancer in front, docs/scaling.md)"
                               : "--server-key / --client-key are CurveZMQ's: over HTTP use an API key file");
        free(addr);
        return -1;
    }
    rlv_client *c = calloc(1, sizeof *c);
    if (!c) {
        free(addr);
        return client_set_error(err, RLV_PROTO_E_INTERNAL, "out of memory");
    }
    c->o = *o;
    c->o.endpoint = NULL; /* not kept: the caller's string */
    if (c->o.timeout_ms <= 0) c->o.timeout_ms = 30000;
    c->n = n;
    for (int k = 0; k < n; k++) memcpy(c->ep[k].addr, addr[k], sizeof addr[k]);
    free(addr);
    c->server_key_file = o->server_key_file ? strdup(o->server_key_file) : NULL;
    c->client_key_file = o->client_key_file ? strdup(o->client_key_file) : NULL;
    c->pool = o->pool;
    if (!c->pool && rlv_client_pool_new(&c->own_pool, o->endpoint, err) == 0) c->pool = c->own_pool;
    c->ctx = zmq_ctx_new();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->next_id = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    int bad = !c->pool || !c->ctx;
    if (!c->ctx) client_set_error(err, RLV_PROTO_E_INTERNAL, "zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
    if (http && !bad) bad = client_http_open(&c->http, c->ep[0].addr, o->api_key_file, c->o.timeout_ms, c->o.retries, err) != 0;
    for (int k = 0; k < n && !bad && !http; k++) bad = open_socket(c, &c->ep[k], err) != 0;
    if (bad) {
        rlv_client_destroy(&c);
        return -1;
    }
    *out = c;
    return 0;
}

void rlv_client_destroy(rlv_client **cp) {
    if (!cp || !*cp) return;
    rlv_client *c = *cp;
    for (int k = 0; k < c->n; k++) close_endpoint(&c->ep[k]);
    client_http_close(&c->http);
    if (c->ctx) zmq_ctx_term(c->ctx);
    free(c->server_key_file);
    free(c->client_key_file);
    rlv_client_pool_free(&c->own_pool);
    free(c);
    *cp = NULL;
}


/* The endpoint for the next try: fewest in flight among those not in skip (a bit per endpoint),
 * ties broken by a rotating start. -1 when all are skipped. */
static int pick(rlv_client *c, unsigned skip) {
    unsigned start = c->n > 1 ? atomic_fetch_add(&c->pool->next, 1u) : 0;
    int best = -1, best_load = 0;
    for (int i = 0; i < c->n; i++) {
        int k = (int)((start + (unsigned)i) % (unsigned)c->n);
        if (skip & (1u << k)) continue;
        int load = atomic_load(&c->pool->in_flight[k]);
        if (best < 0 || load < best_load) best = k, best_load = load;
    }
    return best;
}

/* Drops the disconnect events of an endpoint that came before this try (they concern a try
 * already settled). */
static void drain_monitor(endpoint_conn *ep) {
    zmq_msg_t m;
    zmq_msg_init(&m);
    while (ep->mon && zmq_msg_recv(&m, ep->mon, ZMQ_DONTWAIT) >= 0) {}
    zmq_msg_close(&m);
}

/* Encodes q under a fresh id and sends it to an endpoint not in skip that has a connection
 * (design note 1), waiting for one until deadline. The endpoint, or -1 (none connected in time),
 * or -2 (a local failure, e filled). */
static int send_try(rlv_client *c, rlv_proto_client_request *q, unsigned skip, double deadline, rlv_client_error *e) {
    unsigned unready = 0;
    for (;;) {
        int k = pick(c, skip | unready);
        if (k < 0) { /* every candidate endpoint is unconnected: wait until one can take a message */
            zmq_pollitem_t it[RLV_CLIENT_MAX_ENDPOINTS];
            int m = 0;
            for (int j = 0; j < c->n; j++)
                if (!(skip & (1u << j))) it[m++] = (zmq_pollitem_t){c->ep[j].sock, 0, ZMQ_POLLOUT, 0};
            int left = (int)(deadline - clock_now_ms());
            if (m == 0 || left <= 0 || zmq_poll(it, m, left) <= 0) return -1;
            unready = 0;
            continue;
        }
        drain_monitor(&c->ep[k]);
        q->id = c->next_id++;
        size_t len;
        uint8_t *body = rlv_proto_encode_request(q, &len);
        int rc = body ? zmq_send(c->ep[k].sock, body, len, ZMQ_DONTWAIT) : -1;
        int zerr = zmq_errno();
        free(body);
        if (body && rc == (int)len) return k;
        if (body && zerr == EAGAIN) {
            unready |= 1u << k;
            continue;
        }
        client_set_error(e, RLV_PROTO_E_INTERNAL, "%s", body ? zmq_strerror(zerr) : "out of memory");
        return -2;
    }
}

/* Waits on ep for the reply with this id until deadline. 0 ok (*out: the reply, id and ok
 * removed, a new reference), 1 the daemon's error (e set), 2 no reply in time, 3 the connection
 * dropped (design note 2). Replies with another id (stale) are dropped. */
static int await_reply(endpoint_conn *ep, uint64_t id, double deadline, json_t **out, rlv_client_error *e) {
    for (;;) {
        int left = (int)(deadline - clock_now_ms());
        zmq_pollitem_t it[2] = {{ep->sock, 0, ZMQ_POLLIN, 0}, {ep->mon, 0, ZMQ_POLLIN, 0}};
        if (left <= 0 || zmq_poll(it, ep->mon ? 2 : 1, left) <= 0) return 2;
        if (!(it[0].revents & ZMQ_POLLIN)) return 3; /* only the monitor spoke: a reply waiting is read first */
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, ep->sock, 0) < 0) {
            zmq_msg_close(&m);
            return 2;
        }
        int rc = -1;
        json_t *r = reply_to_json(zmq_msg_data(&m), zmq_msg_size(&m));
        json_t *rid = json_object_get(r, "id");
        if (json_is_integer(rid) && (uint64_t)json_integer_value(rid) == id) {
            if (json_is_true(json_object_get(r, "ok"))) {
                json_object_del(r, "id");
                json_object_del(r, "ok");
                *out = json_incref(r);
                rc = 0;
            } else {
                client_daemon_error(e, json_object_get(r, "error"));
                rc = 1;
            }
        }
        json_decref(r);
        zmq_msg_close(&m);
        if (rc >= 0) return rc; /* else: a stale or unreadable reply, keep waiting */
    }
}

/* Sends q and waits for its reply, trying other endpoints as rlv_client_score says. */
static int roundtrip(rlv_client *c, rlv_proto_client_request *q, json_t **out, rlv_client_error *e) {
    unsigned all = (1u << c->n) - 1, failed = 0, answered = 0; /* this request's tries that failed / were answered busy */
    int tries = c->o.retries + c->n, last = 2;
    for (int t = 0; t < tries; t++) {
        if (failed == all) {
            if (answered == all) return 1; /* every endpoint said busy / shutting_down: e holds the last */
            failed = answered = 0;
        }
        double deadline = clock_now_ms() + c->o.timeout_ms;
        int k = send_try(c, q, failed, deadline, e);
        if (k == -2) return -1;
        if (k == -1) { /* no endpoint connected within timeout_ms: a try lost on each */
            last = 2;
            failed = all;
            answered = 0;
            continue;
        }
        atomic_fetch_add(&c->pool->in_flight[k], 1);
        last = await_reply(&c->ep[k], q->id, deadline, out, e);
        atomic_fetch_sub(&c->pool->in_flight[k], 1);
        if (last == 0) return 0;
        failed |= 1u << k;
        if (last == 1) {
            if (c->n == 1 || (e->code != RLV_PROTO_E_BUSY && e->code != RLV_PROTO_E_SHUTTING_DOWN)) return 1;
            answered |= 1u << k;
            continue;
        }
        answered &= ~(1u << k);
        /* no reply or a dropped connection: a fresh socket, so the late reply of this try is never read */
        if (reopen_socket(c, &c->ep[k], e) != 0) return -1;
    }
    if (last == 1) return 1;
    if (c->n == 1)
        return client_set_error(e, RLV_PROTO_E_TIMEOUT, "no reply from %.300s within %d ms (%d tries)", c->ep[0].addr,
                                c->o.timeout_ms, tries);
    return client_set_error(e, RLV_PROTO_E_TIMEOUT, "no reply from any of %d endpoints (%.300s, ...) within %d ms (%d tries)", c->n,
                            c->ep[0].addr, c->o.timeout_ms, tries);
}

/* The score request of j over ZeroMQ: as roundtrip. */
static int score_zmq(rlv_client *c, const rlv_client_job *j, json_t **out, rlv_client_error *e) {
    size_t *lens = malloc((j->n_candidates > 0 ? (size_t)j->n_candidates : 1u) * sizeof *lens);
    if (!lens) { client_set_error(e, RLV_PROTO_E_INTERNAL, "out of memory"); return -1; }
    for (int i = 0; i < j->n_candidates; i++) lens[i] = strlen(j->candidates[i]);
    rlv_proto_client_request q = {
        .op = RLV_PROTO_OP_SCORE, .image = j->image, .image_len = j->image_len, .prompt = j->prompt,
        .prompt_len = strlen(j->prompt), .candidates = j->candidates, .candidate_lens = lens,
        .n_candidates = (size_t)(j->n_candidates > 0 ? j->n_candidates : 0), .reward = j->reward, .beta = j->beta,
        .token_logps = j->token_logps != 0, .deadline_ms = j->deadline_ms,
    };
    int rc = roundtrip(c, &q, out, e);
    free(lens);
    return rc;
}

int rlv_client_score(rlv_client *c, const rlv_client_job *j, rlv_proto_score_result **res, rlv_client_error *e) {
    json_t *r = NULL;
    *res = NULL;
    int rc = c->http ? client_http_score(c->http, j, &r, e) : score_zmq(c, j, &r, e);
    if (rc == 0 && !(*res = reply_score_result(r))) {
        client_set_error(e, RLV_PROTO_E_INTERNAL, "the reply is not a score result (or out of memory)");
        rc = -1;
    }
    json_decref(r);
    return rc;
}

void rlv_client_result_free(rlv_proto_score_result **res) {
    if (!res) return;
    free(*res); /* the start of reply_score_result's one block */
    *res = NULL;
}

int rlv_client_call(rlv_client *c, const char *op, char **json, rlv_client_error *e) {
    json_t *r = NULL;
    int rc;
    *json = NULL;
    if (c->http) {
        rc = client_http_call(c->http, op, &r, e);
    } else {
        rlv_proto_client_request q = {.deadline_ms = -1};
        if (!strcmp(op, "ping")) q.op = RLV_PROTO_OP_PING;
        else if (!strcmp(op, "info")) q.op = RLV_PROTO_OP_INFO;
        else if (!strcmp(op, "stats")) q.op = RLV_PROTO_OP_STATS;
        else { client_set_error(e, RLV_PROTO_E_INTERNAL, "op must be ping, info or stats"); return -1; }
        rc = roundtrip(c, &q, &r, e);
    }
    if (rc == 0 && !(*json = json_dumps(r, REPLY_JSON_FLAGS))) {
        client_set_error(e, RLV_PROTO_E_INTERNAL, "out of memory");
        rc = -1;
    }
    json_decref(r);
    return rc;
}
