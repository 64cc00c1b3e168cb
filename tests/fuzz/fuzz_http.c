/* fuzz_http.c — libFuzzer target: arbitrary bytes as one HTTP connection's input to the real
 * listener (daemon/http.c: libmicrohttpd's parser, our routing, auth, body limits, JSON decoding),
 * through a socketpair handed over with http_add_connection. This target plays the frontend: it
 * answers every request the listener forwards (decoded with rlv_proto_decode_request, so what the
 * listener sends must be a valid request) with a score, info/stats or error reply. The connection
 * must close within 10 s (every request answered, the body and idle timeouts working) and what
 * comes back must be HTTP responses. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "frontend.h"
#include "http.h"
#include "rlaifv_proto.h"
#include "settings.h"

static void *router;
static rlvd_http *http;
static rlv_proto_reply *rep;
static rlv_proto_request req;

static void setup(void) {
    static rlvd_settings cfg;
    char err[256];
    settings_defaults(&cfg);
    if (settings_set(&cfg, "model", "/fuzz/model", err, sizeof err) || settings_set(&cfg, "http-timeout-s", "1", err, sizeof err) ||
        settings_set(&cfg, "max-message-bytes", "1048576", err, sizeof err) ||
        settings_set(&cfg, "http-max-connections", "4", err, sizeof err))
        abort();
    void *ctx = zmq_ctx_new();
    router = zmq_socket(ctx, ZMQ_ROUTER);
    if (zmq_bind(router, RLVD_HTTP_EP) != 0) abort();
    rlvd_phase_now = RLVD_READY;
    if (http_start_unbound(&http, &cfg, ctx, NULL) != 0) abort();
    rep = rlv_proto_reply_new();
}

/* The frontend's part: one reply per forwarded request. */
static void answer(void) {
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return;
        }
        if (!zmq_msg_more(&id) || zmq_msg_recv(&body, router, 0) < 0 || zmq_msg_more(&body)) abort();
        rlv_proto_error e;
        rlv_proto_code rc = rlv_proto_decode_request(&req, zmq_msg_data(&body), zmq_msg_size(&body), NULL, &e);
        if (rc == RLV_PROTO_OK && req.op == RLV_PROTO_OP_SCORE && req.n_candidates % 4 != 3) {
            rlv_proto_ranked rk[64] = {{0}};
            size_t n = req.n_candidates < 64 ? req.n_candidates : 64;
            for (size_t i = 0; i < n; i++) rk[i] = (rlv_proto_ranked){.index = (int)(n - 1 - i), .reward = -(double)i, .tokens = 2};
            rlv_proto_score_result res = {.reward_kind = "logp_mean", .beta = 0.1, .n = n, .ranking = rk, .v = req.v};
            if (rlv_proto_reply_score(rep, req.id, req.id_len, &res, &e) != RLV_PROTO_OK) abort();
        } else if (rc == RLV_PROTO_OK && req.op != RLV_PROTO_OP_SCORE) {
            if (rlv_proto_reply_begin(rep, req.id, req.id_len, &e) || rlv_proto_reply_add_str(rep, "version", "fuzz", &e) ||
                rlv_proto_reply_open_map(rep, "replies_by_transport", &e) || rlv_proto_reply_add_uint(rep, "http.score.ok", 1, &e) ||
                rlv_proto_reply_close(rep, &e) || rlv_proto_reply_end(rep, &e))
                abort();
        } else {
            /* a request the listener built but the decoder refused (limits, reward names...) or a busy */
            rlv_proto_reply_error(rep, req.id, req.id_len, rc == RLV_PROTO_OK ? RLV_PROTO_E_BUSY : rc, "%s", rc == RLV_PROTO_OK ? "busy" : e.msg);
        }
        size_t len;
        const uint8_t *b = rlv_proto_reply_data(rep, &len);
        zmq_msg_send(&id, router, ZMQ_SNDMORE);
        zmq_send(router, b, len, 0);
        zmq_msg_close(&body);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!http) setup();
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) abort();
    if (http_add_connection(http, sv[1]) != 0) abort();
    size_t sent = 0, got = 0;
    char head[9] = {0};
    int eof = 0, shut = 0;
    double t0 = clock_now_ms();
    while (!eof) {
        if (clock_now_ms() - t0 > 10000) abort(); /* the connection neither answered nor closed */
        if (!shut && sent == size) {
            shutdown(sv[0], SHUT_WR);
            shut = 1;
        }
        struct pollfd p = {sv[0], (short)(POLLIN | (shut ? 0 : POLLOUT)), 0};
        poll(&p, 1, 5);
        if (!shut && (p.revents & POLLOUT)) {
            ssize_t n = send(sv[0], data + sent, size - sent, MSG_NOSIGNAL);
            if (n > 0) sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN) shut = 1; /* the listener closed: it answered early */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            char buf[4096];
            ssize_t n = read(sv[0], buf, sizeof buf);
            if (n == 0 || (n < 0 && errno != EAGAIN)) eof = 1;
            for (ssize_t i = 0; i < n && got < 8; i++) head[got++] = buf[i];
        }
        answer();
    }
    const char *http = "HTTP/1."; /* what comes back is an HTTP response (as far as it came) */
    if (got && strncmp(head, http, got < strlen(http) ? got : strlen(http))) abort();
    close(sv[0]);
    return 0;
}
