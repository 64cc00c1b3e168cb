/* test_client.c — the C client library's typed API (include/rlaifv_client.h) against real rlaifvd
 * processes on the demo pair: a score result read field by field against the JSON of the same
 * daemon's reply (the msgpack of a raw request, converted as `rlaifv call` converts it), the same
 * result over the HTTP front end, that the result prints back byte for byte as the reply's JSON
 * (what `rlaifv score --server` prints), and the errors as the wire's codes: bad_request, busy (a
 * daemon whose max-queued-bytes is below the image) and a local client_timeout (nobody listening).
 * argv[1]: the rlaifvd binary. Both daemons run without prefix cache, so the client's repeats of
 * the raw request compute the prefix again (their image embedding comes from the image cache). */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "reply_json.h"
#include "rlaifv_client.h"
#include "test_util.h"

#define DEMO RLV_SOURCE_DIR "/models/demo"

static const char *g_rlaifvd;
static pid_t g_pid[2];
static char g_ep[2][128], g_http[64];
static uint8_t *g_image;
static size_t g_image_len;
static char *g_cand_text;
static const char *g_cands[8];
static int g_n;

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &len)) return -1;
    close(s);
    return ntohs(a.sin_port);
}

/* rlaifvd on the demo pair at ep, with more settings after; killed if this test dies. */
static pid_t start_daemon(const char *ep, ...) {
    const char *argv[24] = {g_rlaifvd, "--model", DEMO "/policy", "--ref-model", DEMO "/reference", "--bind", ep,
                            "--prefix-cache-mb", "0"};
    int n = 9;
    va_list ap;
    va_start(ap, ep);
    for (const char *a; n < 23 && (a = va_arg(ap, const char *));) argv[n++] = a;
    va_end(ap);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(g_rlaifvd, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static rlv_client *connect_to(const char *ep, int timeout_ms) {
    rlv_client_opts o = {.endpoint = ep, .timeout_ms = timeout_ms};
    rlv_client *c = NULL;
    rlv_client_error e;
    if (rlv_client_connect(&c, &o, &e)) fail_msg("connect %s: %s", ep, e.message);
    return c;
}

/* Pings ep until it answers (30 s at most). */
static void wait_ready(const char *ep) {
    for (int t = 0; t < 150; t++) {
        rlv_client *c = connect_to(ep, 200);
        char *json = NULL;
        rlv_client_error e;
        int rc = rlv_client_call(c, "ping", &json, &e);
        free(json);
        rlv_client_destroy(&c);
        if (rc == 0) return;
        usleep(100000);
    }
    fail_msg("rlaifvd at %s did not answer ping in 30 s", ep);
}

static int setup(void **s) {
    (void)s;
    g_image = slurp(DEMO "/sample.png", &g_image_len);
    size_t len;
    g_cand_text = slurp(DEMO "/sample_candidates.txt", &len);
    if (!g_image || !g_cand_text) return -1;
    g_cand_text = realloc(g_cand_text, len + 1);
    g_cand_text[len] = 0;
    for (char *p = strtok(g_cand_text, "\n"); p && g_n < 8; p = strtok(NULL, "\n")) g_cands[g_n++] = p;
    int port = free_port();
    if (g_n != 4 || port < 0) return -1;
    snprintf(g_ep[0], sizeof g_ep[0], "ipc:///tmp/rlv-test-client-%d-a", (int)getpid());
    snprintf(g_ep[1], sizeof g_ep[1], "ipc:///tmp/rlv-test-client-%d-b", (int)getpid());
    snprintf(g_http, sizeof g_http, "127.0.0.1:%d", port);
    g_pid[0] = start_daemon(g_ep[0], "--http-bind", g_http, NULL);
    g_pid[1] = start_daemon(g_ep[1], "--max-queued-bytes", "1024", NULL);
    wait_ready(g_ep[0]);
    wait_ready(g_ep[1]);
    return 0;
}

static int teardown(void **s) {
    (void)s;
    for (int i = 0; i < 2; i++) {
        if (g_pid[i] > 0) {
            kill(g_pid[i], SIGTERM);
            waitpid(g_pid[i], NULL, 0);
        }
        if (g_ep[i][0]) unlink(g_ep[i] + strlen("ipc://")); /* ZeroMQ leaves the socket file */
    }
    free(g_image);
    free(g_cand_text);
    return 0;
}

static rlv_client_job demo_job(void) {
    return (rlv_client_job){.image = g_image, .image_len = g_image_len, .prompt = "Describe the image.",
                            .candidates = g_cands, .n_candidates = g_n, .token_logps = 1, .deadline_ms = -1};
}

/* The demo job sent by hand on a DEALER of our own: the daemon's reply as JSON (id, ok kept). */
static json_t *raw_reply(const char *ep) {
    rlv_client_job j = demo_job();
    size_t lens[8];
    for (int i = 0; i < g_n; i++) lens[i] = strlen(g_cands[i]);
    rlv_proto_client_request q = {.op = RLV_PROTO_OP_SCORE, .id = 7, .image = j.image, .image_len = j.image_len,
                                  .prompt = j.prompt, .prompt_len = strlen(j.prompt), .candidates = j.candidates,
                                  .candidate_lens = lens, .n_candidates = (size_t)g_n, .token_logps = true,
                                  .deadline_ms = -1};
    size_t len;
    uint8_t *body = rlv_proto_encode_request(&q, &len);
    void *ctx = zmq_ctx_new(), *d = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, tmo = 60000;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    assert_int_equal(zmq_connect(d, ep), 0);
    assert_int_equal(zmq_send(d, body, len, 0), (int)len);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, d, 0) > 0);
    json_t *r = reply_to_json(zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    zmq_close(d);
    zmq_ctx_term(ctx);
    free(body);
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    return r;
}

static double num(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

/* a == b when exact (the same reply), else within 1e-4 (another job: the image cache and the
 * matrix products' thread split may round differently) */
static int same(double a, double b, int exact) { return exact ? a == b : fabs(a - b) <= 1e-4; }

/* Every field of res against the JSON reply r: exactly, timings included, when exact (r is the
 * reply res was read from); else to 1e-4, timings only checked for sense. */
static void check_typed(const rlv_proto_score_result *res, const json_t *r, int exact) {
    assert_string_equal(res->reward_kind, json_string_value(json_object_get(r, "reward_kind")));
    assert_string_equal(res->reward_kind, "rlaifv");
    assert_true(res->beta == num(r, "beta"));
    assert_true(res->has_reference);
    const json_t *rank = json_object_get(r, "ranking");
    assert_int_equal(res->n, json_array_size(rank));
    assert_int_equal(res->n, (size_t)g_n);
    for (size_t i = 0; i < res->n; i++) {
        const rlv_proto_ranked *c = &res->ranking[i];
        const json_t *e = json_array_get(rank, i);
        assert_int_equal(c->index, json_integer_value(json_object_get(e, "index")));
        assert_int_equal(c->tokens, json_integer_value(json_object_get(e, "tokens")));
        assert_true(c->tokens > 1);
        assert_true(same(c->reward, num(e, "reward"), exact));
        if (i) assert_true(c->reward <= res->ranking[i - 1].reward);
        const rlv_proto_logps *lp[2] = {&c->policy, &c->reference};
        const char *model[2] = {"policy", "reference"};
        for (int k = 0; k < 2; k++) {
            const json_t *m = json_object_get(e, model[k]), *tl = json_object_get(m, "token_logps");
            assert_true(same(lp[k]->logp_sum, num(m, "logp_sum"), exact));
            assert_true(same(lp[k]->logp_mean, num(m, "logp_mean"), exact));
            assert_true(fabs(lp[k]->logp_mean * c->tokens - lp[k]->logp_sum) < 1e-4);
            assert_non_null(lp[k]->token_logps);
            assert_int_equal(json_array_size(tl), (size_t)c->tokens);
            for (int t = 0; t < c->tokens; t++)
                assert_true(same(lp[k]->token_logps[t], (float)json_number_value(json_array_get(tl, (size_t)t)), exact));
        }
    }
    const json_t *t = json_object_get(r, "timing_ms");
    assert_true(json_is_array(json_object_get(t, "cached")));
    assert_int_equal(res->v, 2);
    assert_true(res->total_ms > 0 && res->total_ms >= res->candidates_ms && res->image_ms >= 0 && res->prefix_ms >= 0);
    if (exact) {
        assert_true(res->image_ms == num(t, "image") && res->prefix_ms == num(t, "prefix") &&
                    res->candidates_ms == num(t, "candidates") && res->total_ms == num(t, "total"));
        assert_int_equal(res->image_cached + res->prefix_cached, json_array_size(json_object_get(t, "cached")));
    }
}

static void test_score_typed(void **s) {
    (void)s;
    json_t *raw = raw_reply(g_ep[0]);
    /* the decoder on the raw reply: every field, timing included, and the JSON printed back is the
     * reply's own text without id and ok (what `rlaifv score --server` printed before it was typed) */
    rlv_proto_score_result *dec = reply_score_result(raw);
    assert_non_null(dec);
    check_typed(dec, raw, 1);
    assert_false(dec->image_cached); /* the first job with this image */
    json_t *back = score_result_json(dec), *strip = json_deep_copy(raw);
    json_object_del(strip, "id");
    json_object_del(strip, "ok");
    char *a = json_dumps(back, REPLY_JSON_FLAGS), *b = json_dumps(strip, REPLY_JSON_FLAGS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(back);
    json_decref(strip);
    rlv_client_result_free(&dec);
    assert_null(dec);

    /* the client, over ZeroMQ then HTTP: the same ranking and numbers (to rounding: another job) */
    char http_ep[80];
    snprintf(http_ep, sizeof http_ep, "http://%s", g_http);
    const char *eps[2] = {g_ep[0], http_ep};
    for (int k = 0; k < 2; k++) {
        rlv_client *c = connect_to(eps[k], 60000);
        rlv_client_job j = demo_job();
        rlv_proto_score_result *res = NULL;
        rlv_client_error e;
        int rc = rlv_client_score(c, &j, &res, &e);
        if (rc) fail_msg("%s: %s [%s]", eps[k], e.message, e.name);
        check_typed(res, raw, 0);
        assert_true(res->image_cached);
        assert_false(res->prefix_cached); /* no prefix cache */
        print_message("%s: best [%d] reward %.6f (policy mean %.4f, reference mean %.4f, %d tokens), %.1f ms\n", eps[k],
                      res->ranking[0].index, res->ranking[0].reward, res->ranking[0].policy.logp_mean,
                      res->ranking[0].reference.logp_mean, res->ranking[0].tokens, res->total_ms);
        rlv_client_result_free(&res);
        rlv_client_destroy(&c);
    }
    rlv_client_result_free(NULL);
    json_decref(raw);
}

/* rc, the code, its name, the local flag and a message, for a job that fails. */
static void expect_error(const char *ep, int timeout_ms, const rlv_client_job *j, int want_rc, rlv_proto_code want,
                         const char *name) {
    rlv_client *c = connect_to(ep, timeout_ms);
    static rlv_proto_score_result sentinel;
    rlv_proto_score_result *res = &sentinel; /* must come back NULL */
    rlv_client_error e;
    assert_int_equal(rlv_client_score(c, j, &res, &e), want_rc);
    assert_null(res);
    assert_int_equal(e.code, want);
    assert_int_equal(e.local, want_rc == -1);
    assert_string_equal(e.name, name);
    assert_true(e.message[0] != 0);
    print_message("%s: [%s] %s\n", ep, name, e.message);
    rlv_client_destroy(&c);
}

static void test_errors(void **s) {
    (void)s;
    rlv_client_job j = demo_job();
    j.n_candidates = 0;
    expect_error(g_ep[0], 60000, &j, 1, RLV_PROTO_E_BAD_REQUEST, "bad_request");
    j = demo_job();
    j.reward = "no_such_reward";
    expect_error(g_ep[0], 60000, &j, 1, RLV_PROTO_E_BAD_REQUEST, "bad_request");
    j = demo_job(); /* 74 KB of image against max-queued-bytes 1024 */
    expect_error(g_ep[1], 60000, &j, 1, RLV_PROTO_E_BUSY, "busy");
    char nobody[80]; /* nobody listens: ZMQ_IMMEDIATE never sends, the try times out */
    snprintf(nobody, sizeof nobody, "tcp://127.0.0.1:%d", free_port());
    expect_error(nobody, 300, &j, -1, RLV_PROTO_E_TIMEOUT, "client_timeout");
    char http_nobody[80];
    snprintf(http_nobody, sizeof http_nobody, "http://127.0.0.1:%d", free_port());
    expect_error(http_nobody, 300, &j, -1, RLV_PROTO_E_INTERNAL, "client_error");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_client RLAIFVD\n");
        return 2;
    }
    g_rlaifvd = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_typed),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
