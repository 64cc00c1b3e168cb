/* test_proto_py.c — proto/ against an independent msgpack codec (Debian's python3-msgpack).
 * tests/reference/proto_cases.py wrote request bodies and what each must decode to (manifest.tsv);
 * this test decodes every one with the default limits, checks the code, the message and the
 * decoded values, then encodes a reply for each into replies/, which the test proto_replies_py
 * (the same script, `check`) decodes and compares field by field.
 * Usage: test_proto_py DIR   (DIR = RLV_TEST_DATA/proto) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"
#include "rlaifv_proto.h"

static const char *dir = RLV_TEST_DATA "/proto";

static uint64_t fnv(const void *p, size_t n, uint64_t h) {
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * UINT64_C(0x100000001b3);
    return h;
}
#define FNV0 UINT64_C(0xcbf29ce484222325)

/* value of key in "k=v k=v ..." (NULL if absent); copies into out */
static const char *kv(const char *list, const char *key, char *out, size_t cap) {
    size_t kl = strlen(key);
    for (const char *p = list; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, " \n");
            snprintf(out, cap, "%.*s", (int)n, p + kl + 1);
            return out;
        }
        p = strchr(p, ' ');
        if (p) p++;
    }
    return NULL;
}

static unsigned long long kv_u(const char *list, const char *key) {
    char v[64];
    assert_non_null(kv(list, key, v, sizeof v));
    return strtoull(v, NULL, 10);
}

/* The synthetic result: the same formula as synthetic_ranking() in proto_cases.py. */
static void fill_result(const rlv_proto_request *q, rlv_proto_score_result *res, rlv_proto_ranked *rk, float *tok) {
    size_t n = q->n_candidates;
    res->reward_kind = q->reward == RLV_REWARD_DEFAULT ? "logp_mean" : rlv_reward_name(q->reward);
    res->beta = q->has_beta ? q->beta : 0.1;
    res->has_reference = q->reward == RLV_REWARD_RLAIFV || q->reward == RLV_REWARD_DPO;
    res->n = n;
    res->ranking = rk;
    res->image_ms = 1.25, res->prefix_ms = 2.5, res->candidates_ms = 3.75, res->total_ms = 7.5;
    res->image_cached = true, res->prefix_cached = true, res->v = q->v;
    for (size_t i = 0; i < n; i++) {
        int idx = (int)(n - 1 - i), T = 3 + idx % 5;
        rlv_proto_ranked *e = &rk[i];
        memset(e, 0, sizeof *e);
        e->index = idx;
        e->reward = 1.0 - 0.25 * (double)i;
        e->tokens = T;
        e->policy.logp_sum = -1.5 * (idx + 1);
        e->policy.logp_mean = -1.5 * (idx + 1) / T;
        e->reference.logp_sum = -2.0 * (idx + 1);
        e->reference.logp_mean = -2.0 * (idx + 1) / T;
        if (q->token_logps) {
            float *pol = tok + (size_t)i * 16, *ref = pol + 8;
            for (int t = 0; t < T; t++) {
                pol[t] = (float)(-0.125 * (t + 1) - idx);
                ref[t] = (float)(-0.25 * (t + 1) - idx);
            }
            e->policy.token_logps = pol;
            e->reference.token_logps = ref;
        }
    }
}

static void write_reply(const char *name, rlv_proto_reply *rep) {
    char path[1024];
    size_t n;
    const uint8_t *d = rlv_proto_reply_data(rep, &n);
    assert_true(n > 0);
    snprintf(path, sizeof path, "%s/replies/%s.msgpack", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(d, 1, n, f), n);
    fclose(f);
}

static void build_ok_reply(const char *name, const rlv_proto_request *q, rlv_proto_reply *rep) {
    rlv_proto_error e;
    static rlv_proto_ranked rk[64];
    static float tok[64 * 16];
    if (q->op == RLV_PROTO_OP_SCORE) {
        rlv_proto_score_result res;
        fill_result(q, &res, rk, tok);
        assert_int_equal(rlv_proto_reply_score(rep, q->id, q->id_len, &res, &e), RLV_PROTO_OK);
    } else {
        assert_int_equal(rlv_proto_reply_begin(rep, q->id, q->id_len, &e), RLV_PROTO_OK);
        if (q->op == RLV_PROTO_OP_PING) {
            assert_int_equal(rlv_proto_reply_add_int(rep, "v", RLV_PROTO_VERSION, &e), RLV_PROTO_OK);
        } else if (q->op == RLV_PROTO_OP_INFO) {
            rlv_proto_limits lim;
            rlv_proto_limits_default(&lim);
            static const char *const kinds[] = {"rlaifv", "dpo", "logp_mean", "logp_sum"};
            assert_int_equal(rlv_proto_reply_add_int(rep, "v", RLV_PROTO_VERSION, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_str(rep, "version", "0.1.0", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_open_array(rep, "reward_kinds", &e), RLV_PROTO_OK);
            for (int k = 0; k < 4; k++) assert_int_equal(rlv_proto_reply_add_str(rep, NULL, kinds[k], &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_close(rep, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_limits(rep, "limits", &lim, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_open_map(rep, "errors", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_open_map(rep, "empty_map", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_close(rep, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_open_array(rep, "empty_array", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_close(rep, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_close(rep, &e), RLV_PROTO_OK);
        } else {
            assert_int_equal(rlv_proto_reply_open_map(rep, "requests", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_uint(rep, "score.ok", 3, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_uint(rep, "ping.ok", 1, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_close(rep, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_int(rep, "queue_depth", 0, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_open_map(rep, "latency_ms", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_double(rep, "p50", 1.5, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_double(rep, "p99", 9.25, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_close(rep, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_int(rep, "neg", -7, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_uint(rep, "big", UINT64_MAX, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_bool(rep, "flag", true, &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_nil(rep, "nothing", &e), RLV_PROTO_OK);
            assert_int_equal(rlv_proto_reply_add_str(rep, "text", "caf\xe9", &e), RLV_PROTO_OK); /* latin-1: scrubbed */
        }
        assert_int_equal(rlv_proto_reply_end(rep, &e), RLV_PROTO_OK);
    }
    write_reply(name, rep);
}

static void check_decoded(const char *name, const rlv_proto_request *q, const char *want) {
    char v[64];
    kv(want, "op", v, sizeof v);
    if (strcmp(rlv_proto_op_name(q->op), v)) fail_msg("%s: op %s, want %s", name, rlv_proto_op_name(q->op), v);
    if (q->op != RLV_PROTO_OP_SCORE) {
        assert_int_equal(q->v, 1);
        return;
    }
    assert_int_equal(q->v, kv_u(want, "v"));
    assert_int_equal(q->n_candidates, kv_u(want, "n"));
    assert_int_equal(q->prompt_len, kv_u(want, "prompt_len"));
    assert_true(fnv(q->prompt, q->prompt_len, FNV0) == kv_u(want, "prompt_fnv"));
    uint64_t h = FNV0;
    for (size_t i = 0; i < q->n_candidates; i++) {
        if (i) h = fnv("", 1, h);
        h = fnv(q->candidates[i], q->candidate_lens[i], h);
    }
    if (h != kv_u(want, "cands_fnv")) fail_msg("%s: candidates differ", name);
    assert_int_equal(q->image_len, kv_u(want, "image_len"));
    assert_true((q->image ? fnv(q->image, q->image_len, FNV0) : 0) == kv_u(want, "image_fnv"));
    kv(want, "reward", v, sizeof v);
    const char *rn = q->reward == RLV_REWARD_DEFAULT ? "default" : rlv_reward_name(q->reward);
    if (strcmp(rn, v)) fail_msg("%s: reward %s, want %s", name, rn, v);
    kv(want, "beta", v, sizeof v);
    if (!strcmp(v, "none")) assert_false(q->has_beta);
    else {
        assert_true(q->has_beta);
        if (q->beta != strtod(v, NULL)) fail_msg("%s: beta %.17g, want %s", name, q->beta, v);
    }
    assert_int_equal(q->token_logps, kv_u(want, "token_logps"));
    kv(want, "deadline", v, sizeof v);
    if (!strcmp(v, "-1")) assert_false(q->has_deadline);
    else {
        assert_true(q->has_deadline);
        assert_true((unsigned long long)q->deadline_ms == strtoull(v, NULL, 10));
    }
}

static void test_python_cases(void **s) {
    (void)s;
    char path[8192], line[4096];
    snprintf(path, sizeof path, "%s/manifest.tsv", dir);
    FILE *m = fopen(path, "r");
    if (!m) fail_msg("%s missing (fixture fx_proto)", path);
    rlv_proto_request q = {0};
    rlv_proto_reply *rep = rlv_proto_reply_new();
    assert_non_null(rep);
    int n_ok = 0, n_err = 0;
    while (fgets(line, sizeof line, m)) {
        char *name = line, *code = strchr(name, '\t');
        assert_non_null(code);
        *code++ = '\0';
        char *sub = strchr(code, '\t');
        assert_non_null(sub);
        *sub++ = '\0';
        char *want = strchr(sub, '\t');
        assert_non_null(want);
        *want++ = '\0';
        snprintf(path, sizeof path, "%s/cases/%s.msgpack", dir, name);
        size_t len;
        uint8_t *body = slurp(path, &len);
        if (!body) fail_msg("cannot read %s", path);
        rlv_proto_error e;
        rlv_proto_code rc = rlv_proto_decode_request(&q, body, len, NULL, &e);
        if (strcmp(rlv_proto_code_name(rc), code))
            fail_msg("%s: got %s (%s), want %s", name, rlv_proto_code_name(rc), e.msg, code);
        if (!strstr(e.msg, sub)) fail_msg("%s: message '%s' lacks '%s'", name, e.msg, sub);
        if (q.id) assert_true(q.id >= body && q.id + q.id_len <= body + len); /* zero-copy */
        if (rc == RLV_PROTO_OK) {
            check_decoded(name, &q, want);
            build_ok_reply(name, &q, rep);
            n_ok++;
        } else {
            assert_int_equal(rlv_proto_reply_error(rep, q.id, q.id_len, rc, "%s", e.msg), RLV_PROTO_OK);
            write_reply(name, rep);
            n_err++;
        }
        free(body);
    }
    fclose(m);
    rlv_proto_request_free(&q);
    rlv_proto_reply_free(&rep);
    printf("python cases: %d decoded as expected, %d refused with the expected code and message\n", n_ok, n_err);
    assert_true(n_ok >= 30 && n_err >= 50);
}

int main(int argc, char **argv) {
    if (argc > 1) dir = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_python_cases)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
