/* rlaifv_client.c — the C client library (see rlaifv_client.h). Lazy Pirate: after a timeout the
 * socket is closed and reopened before a retry, so a late reply cannot be taken for the next. */
#include "rlaifv_client.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "proto.h"
#include "reply_json.h"

struct rlv_client {
    void *ctx, *sock;
    rlv_client_opts o;
    char *endpoint, *server_key_file, *client_key_file;
    uint64_t next_id;
};

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int open_socket(rlv_client *c, char *err, size_t cap) {
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (c->server_key_file) {
        char spub[41], pub[41], sec[41];
        const char *files[2] = {c->server_key_file, c->client_key_file};
        for (int i = 0; i < 2; i++) {
            if (!files[i]) {
                snprintf(err, cap, "CURVE needs a client key file too (rlaifv keygen makes one)");
                return -1;
            }
            if (access(files[i], R_OK) != 0) {
                snprintf(err, cap, "cannot read the CURVE key file %s: %s", files[i], strerror(errno));
                return -1;
            }
        }
        if (proto_read_curve_key(c->server_key_file, "public-key", spub) || proto_read_curve_key(c->client_key_file, "public-key", pub) ||
            proto_read_curve_key(c->client_key_file, "secret-key", sec)) {
            snprintf(err, cap, "no public-key / secret-key lines in %s / %s (rlaifv keygen makes them)", c->server_key_file,
                     c->client_key_file);
            return -1;
        }
        zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, spub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, 40);
        memset(sec, 0, sizeof sec);
    }
    if (zmq_connect(c->sock, c->endpoint) != 0) {
        snprintf(err, cap, "cannot connect to %s: %s", c->endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

int rlv_client_connect(rlv_client **out, const rlv_client_opts *o, char *err, size_t cap) {
    *out = NULL;
    if (!o || !o->endpoint) {
        snprintf(err, cap, "no endpoint");
        return -1;
    }
    if (!strstr(o->endpoint, "://")) { /* zmq_connect would only say "Invalid argument" */
        snprintf(err, cap, "endpoint '%s' names no transport: write tcp://%s (or ipc://PATH)", o->endpoint, o->endpoint);
        return -1;
    }
    rlv_client *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->o = *o;
    if (c->o.timeout_ms <= 0) c->o.timeout_ms = 30000;
    c->endpoint = dupstr(o->endpoint);
    c->server_key_file = dupstr(o->server_key_file);
    c->client_key_file = dupstr(o->client_key_file);
    c->ctx = zmq_ctx_new();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->next_id = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    if (!c->ctx || open_socket(c, err, cap) != 0) {
        rlv_client_destroy(&c);
        return -1;
    }
    *out = c;
    return 0;
}

void rlv_client_destroy(rlv_client **cp) {
    if (!cp || !*cp) return;
    rlv_client *c = *cp;
    if (c->sock) zmq_close(c->sock);
    if (c->ctx) zmq_ctx_term(c->ctx);
    free(c->endpoint);
    free(c->server_key_file);
    free(c->client_key_file);
    free(c);
    *cp = NULL;
}

static void set_err(rlv_client_error *e, const char *code, const char *msg) {
    if (!e) return;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->message, sizeof e->message, "%s", msg);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sends body (request id id), waits for the reply with that id; decodes it to JSON. */
static int roundtrip(rlv_client *c, proto_client_request *q, char **json, rlv_client_error *e) {
    char err[256];
    for (int attempt = 0; attempt <= c->o.retries; attempt++) {
        q->id = c->next_id++;
        size_t len;
        uint8_t *body = proto_encode_request(q, &len);
        int sent = body && zmq_send(c->sock, body, len, 0) == (int)len;
        free(body);
        if (!sent) {
            set_err(e, "client_error", zmq_strerror(zmq_errno()));
            return -1;
        }
        double deadline = now_ms() + c->o.timeout_ms;
        for (;;) {
            int left = (int)(deadline - now_ms());
            zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
            if (left <= 0 || zmq_poll(&it, 1, left) <= 0) break;
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, c->sock, 0) < 0) { zmq_msg_close(&m); break; }
            const void *d = zmq_msg_data(&m);
            size_t n = zmq_msg_size(&m);
            int rc = -2;
            json_t *r = reply_to_json(d, n);
            json_t *id = json_object_get(r, "id");
            if (json_is_integer(id) && (uint64_t)json_integer_value(id) == q->id) {
                int ok = json_is_true(json_object_get(r, "ok"));
                if (ok) {
                    json_object_del(r, "id");
                    json_object_del(r, "ok");
                    *json = json_dumps(r, REPLY_JSON_FLAGS);
                    rc = 0;
                } else {
                    json_t *er = json_object_get(r, "error");
                    set_err(e, json_string_value(json_object_get(er, "code")) ? json_string_value(json_object_get(er, "code")) : "internal",
                            json_string_value(json_object_get(er, "message")) ? json_string_value(json_object_get(er, "message")) : "");
                    rc = 1;
                }
            }
            json_decref(r);
            zmq_msg_close(&m);
            if (rc >= 0) return rc; /* else: a stale or unreadable reply, keep waiting */
        }
        /* Timed out: a fresh socket, so the late reply of this request is never read. */
        zmq_close(c->sock);
        c->sock = NULL;
        if (open_socket(c, err, sizeof err) != 0) {
            set_err(e, "client_error", err);
            return -1;
        }
    }
    snprintf(err, sizeof err, "no reply from %s within %d ms (%d tries)", c->endpoint, c->o.timeout_ms, c->o.retries + 1);
    set_err(e, "client_timeout", err);
    return -1;
}

int rlv_client_score(rlv_client *c, const rlv_client_job *j, char **json, rlv_client_error *e) {
    size_t *lens = malloc((j->n_candidates > 0 ? (size_t)j->n_candidates : 1u) * sizeof *lens);
    if (!lens) { set_err(e, "client_error", "out of memory"); return -1; }
    for (int i = 0; i < j->n_candidates; i++) lens[i] = strlen(j->candidates[i]);
    proto_client_request q = {
        .op = PROTO_OP_SCORE, .image = j->image, .image_len = j->image_len, .prompt = j->prompt,
        .prompt_len = strlen(j->prompt), .candidates = j->candidates, .candidate_lens = lens,
        .n_candidates = (size_t)(j->n_candidates > 0 ? j->n_candidates : 0), .reward = j->reward, .beta = j->beta,
        .token_logps = j->token_logps != 0, .deadline_ms = j->deadline_ms,
    };
    int rc = roundtrip(c, &q, json, e);
    free(lens);
    return rc;
}

int rlv_client_call(rlv_client *c, const char *op, char **json, rlv_client_error *e) {
    proto_client_request q = {.deadline_ms = -1};
    if (!strcmp(op, "ping")) q.op = PROTO_OP_PING;
    else if (!strcmp(op, "info")) q.op = PROTO_OP_INFO;
    else if (!strcmp(op, "stats")) q.op = PROTO_OP_STATS;
    else { set_err(e, "client_error", "op must be ping, info or stats"); return -1; }
    return roundtrip(c, &q, json, e);
}
