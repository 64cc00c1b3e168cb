/* test_proto.c — proto/: every request field, type, limit and error path; replies decoded back with
 * msgpack-c's own unpacker; the code table; message scrubbing; a seeded mutation run.
 * (The cross-check against python3-msgpack is test_proto_py.c.) */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "rlaifv_proto.h"

/* ---- building requests with msgpack-c */

typedef struct mp {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} mp;

static void mp_init(mp *m) {
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
}
static void mp_free(mp *m) { msgpack_sbuffer_destroy(&m->sb); }
static void s(mp *m, const char *str) {
    msgpack_pack_str(&m->pk, strlen(str));
    msgpack_pack_str_body(&m->pk, str, strlen(str));
}
static void sn(mp *m, const char *str, size_t n) {
    msgpack_pack_str(&m->pk, n);
    msgpack_pack_str_body(&m->pk, str, n);
}
static void raw(mp *m, const void *b, size_t n) { msgpack_sbuffer_write(&m->sb, b, n); }

/* Replacement values for a field, by kind. */
enum { V_DEFAULT, V_DROP, V_NIL, V_INT, V_NEG, V_STR, V_BIN, V_ARRAY, V_MAP, V_FLOAT, V_BOOL, V_CUSTOM };

static const uint8_t image[64] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7, 8};
static const char *fields[] = {"v", "id", "op", "image", "prompt", "candidates", "reward", "beta", "token_logps", "deadline_ms"};

static void pack_kind(mp *m, int kind) {
    switch (kind) {
    case V_NIL: msgpack_pack_nil(&m->pk); break;
    case V_INT: msgpack_pack_int(&m->pk, 7); break;
    case V_NEG: msgpack_pack_int(&m->pk, -3); break;
    case V_STR: s(m, "text"); break;
    case V_BIN: msgpack_pack_bin(&m->pk, 3); msgpack_pack_bin_body(&m->pk, "abc", 3); break;
    case V_ARRAY: msgpack_pack_array(&m->pk, 1); s(m, "x"); break;
    case V_MAP: msgpack_pack_map(&m->pk, 1); s(m, "k"); s(m, "v"); break;
    case V_FLOAT: msgpack_pack_double(&m->pk, 0.25); break;
    case V_BOOL: msgpack_pack_true(&m->pk); break;
    }
}

static void pack_default(mp *m, int f) {
    switch (f) {
    case 0: msgpack_pack_int(&m->pk, 1); break;
    case 1: s(m, "job-7"); break;
    case 2: s(m, "score"); break;
    case 3: msgpack_pack_bin(&m->pk, sizeof image); msgpack_pack_bin_body(&m->pk, image, sizeof image); break;
    case 4: s(m, "What is in the image?"); break;
    case 5: msgpack_pack_array(&m->pk, 3); s(m, "A cat."); s(m, "A dog."); s(m, ""); break;
    case 6: s(m, "dpo"); break;
    case 7: msgpack_pack_double(&m->pk, 0.2); break;
    case 8: msgpack_pack_true(&m->pk); break;
    case 9: msgpack_pack_int(&m->pk, 1500); break;
    }
}

/* A score request with field `which` given `kind` (V_DEFAULT: all as above). custom(m) writes
 * the value when kind == V_CUSTOM. */
static void build(mp *m, int which, int kind, void (*custom)(mp *)) {
    mp_init(m);
    int n = 10 - (kind == V_DROP);
    msgpack_pack_map(&m->pk, (size_t)n);
    for (int f = 0; f < 10; f++) {
        if (f == which && kind == V_DROP) continue;
        s(m, fields[f]);
        if (f != which || kind == V_DEFAULT) pack_default(m, f);
        else if (kind == V_CUSTOM) custom(m);
        else pack_kind(m, kind);
    }
}

static rlv_proto_code decode(rlv_proto_request *q, const mp *m, const rlv_proto_limits *lim, rlv_proto_error *e) {
    return rlv_proto_decode_request(q, m->sb.data, m->sb.size, lim, e);
}

#define EXPECT(q, m, lim, code, substr)                                                   \
    do {                                                                                  \
        rlv_proto_error e_;                                                                   \
        rlv_proto_code rc_ = decode(q, m, lim, &e_);                                          \
        if (rc_ != (code) || !strstr(e_.msg, substr))                                     \
            fail_msg("got %s '%s', want %s '%s'", rlv_proto_code_name(rc_), e_.msg,           \
                     rlv_proto_code_name(code), substr);                                      \
    } while (0)

/* ---- tests */

static void test_valid_score(void **st) {
    (void)st;
    mp m;
    build(&m, -1, V_DEFAULT, NULL);
    rlv_proto_request q = {0};
    rlv_proto_error e;
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    const uint8_t *b = (const uint8_t *)m.sb.data, *end = b + m.sb.size;
    assert_int_equal(q.v, 1);
    assert_int_equal(q.op, RLV_PROTO_OP_SCORE);
    /* zero-copy: every pointer lies inside the message */
    assert_true(q.image >= b && q.image + q.image_len <= end);
    assert_int_equal(q.image_len, sizeof image);
    assert_memory_equal(q.image, image, sizeof image);
    assert_true((const uint8_t *)q.prompt >= b && (const uint8_t *)q.prompt < end);
    assert_int_equal(q.prompt_len, strlen("What is in the image?"));
    assert_memory_equal(q.prompt, "What is in the image?", q.prompt_len);
    assert_int_equal(q.n_candidates, 3);
    assert_int_equal(q.candidate_lens[1], 6);
    assert_memory_equal(q.candidates[1], "A dog.", 6);
    assert_int_equal(q.candidate_lens[2], 0);
    assert_int_equal(q.reward, RLV_REWARD_DPO);
    assert_true(q.has_beta && q.beta == 0.2);
    assert_true(q.token_logps);
    assert_true(q.has_deadline && q.deadline_ms == 1500);
    /* the id is its raw msgpack encoding: a0|5 "job-7" */
    assert_int_equal(q.id_len, 6);
    assert_memory_equal(q.id, "\xa5job-7", 6);
    rlv_proto_request_free(&q);
    assert_null(q.candidates);
    rlv_proto_request_free(&q);
    rlv_proto_request_free(NULL);
    mp_free(&m);
}

static void test_optional_defaults(void **st) {
    (void)st;
    rlv_proto_request q = {0};
    rlv_proto_error e;
    /* drop each optional field, then set each to nil: defaults either way */
    for (int f = 6; f < 10; f++)
        for (int kind = V_DROP; kind <= V_NIL; kind++) {
            mp m;
            build(&m, f, kind, NULL);
            assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
            if (f == 6) assert_int_equal(q.reward, RLV_REWARD_DEFAULT);
            if (f == 7) assert_false(q.has_beta);
            if (f == 8) assert_false(q.token_logps);
            if (f == 9) assert_false(q.has_deadline);
            mp_free(&m);
        }
    /* id absent: no id; id nil: the nil is echoed as given */
    mp m;
    build(&m, 1, V_DROP, NULL);
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    assert_null(q.id);
    mp_free(&m);
    build(&m, 1, V_NIL, NULL);
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    assert_int_equal(q.id_len, 1);
    assert_int_equal(q.id[0], 0xc0);
    mp_free(&m);
    /* image nil: score without an image */
    build(&m, 3, V_NIL, NULL);
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    assert_null(q.image);
    assert_int_equal(q.image_len, 0);
    mp_free(&m);
    rlv_proto_request_free(&q);
}

/* Every field × every wrong kind: the right code and a message naming the field. */
static void test_wrong_types(void **st) {
    (void)st;
    /* expected outcome per field (rows) and kind (V_NIL..V_BOOL columns); "" = accepted */
    static const char *want[10][9] = {
        /*              nil     int     neg     str     bin     array   map     float   bool */
        /* v */        {"int", "v 7", "'v'", "int", "int", "int", "int", "int", "int"},
        /* id */       {"", "", "", "", "", "", "", "", ""},
        /* op */       {"str", "str", "str", "'text' is not one of", "str", "str", "str", "str", "str"},
        /* image */    {"", "bin", "bin", "bin", "", "bin", "bin", "bin", "bin"},
        /* prompt */   {"str", "str", "str", "", "str", "str", "str", "str", "str"},
        /* cands */    {"array", "array", "array", "array", "array", "", "array", "array", "array"},
        /* reward */   {"", "str", "str", "'text' is not one of", "str", "str", "str", "str", "str"},
        /* beta */     {"", "", "finite", "float or int", "float or int", "float or int", "float or int", "", "float or int"},
        /* tlogps */   {"", "bool", "bool", "bool", "bool", "bool", "bool", "bool", ""},
        /* deadline */ {"", "", "negative", "int >= 0", "int >= 0", "int >= 0", "int >= 0", "int >= 0", "int >= 0"},
    };
    rlv_proto_request q = {0};
    int checked = 0;
    for (int f = 0; f < 10; f++)
        for (int kind = V_NIL; kind <= V_BOOL; kind++) {
            mp m;
            build(&m, f, kind, NULL);
            rlv_proto_error e;
            rlv_proto_code rc = decode(&q, &m, NULL, &e);
            const char *w = want[f][kind - V_NIL];
            if (!*w) {
                if (rc != RLV_PROTO_OK) fail_msg("%s as kind %d: %s", fields[f], kind, e.msg);
            } else {
                rlv_proto_code wc = (f == 0 && kind == V_INT) ? RLV_PROTO_E_UNSUPPORTED_VERSION : RLV_PROTO_E_BAD_REQUEST;
                if (rc != wc || !strstr(e.msg, w) || !strstr(e.msg, f == 0 && kind == V_INT ? "v 7" : fields[f]))
                    fail_msg("%s as kind %d: got %s '%s', want '%s'", fields[f], kind, rlv_proto_code_name(rc), e.msg, w);
                /* the id is still echoed (except when it is the id that broke), op known once valid */
                if (f != 1) assert_int_equal(q.id_len, 6);
                if (f > 2) assert_int_equal(q.op, RLV_PROTO_OP_SCORE);
                checked++;
            }
            mp_free(&m);
        }
    assert_true(checked >= 60);
    rlv_proto_request_free(&q);
}

static void test_missing_fields(void **st) {
    (void)st;
    rlv_proto_request q = {0};
    const int required[] = {0, 2, 3, 4, 5};
    for (size_t i = 0; i < 5; i++) {
        mp m;
        build(&m, required[i], V_DROP, NULL);
        char want[64];
        snprintf(want, sizeof want, "missing field '%s'", fields[required[i]]);
        EXPECT(&q, &m, NULL, RLV_PROTO_E_BAD_REQUEST, want);
        mp_free(&m);
    }
    rlv_proto_request_free(&q);
}

static void huge_cands(mp *m) {
    msgpack_pack_array(&m->pk, 10000);
    for (int i = 0; i < 10000; i++) s(m, "x");
}
static void cands_65(mp *m) {
    msgpack_pack_array(&m->pk, 65);
    for (int i = 0; i < 65; i++) s(m, "x");
}
static void cands_64(mp *m) {
    msgpack_pack_array(&m->pk, 64);
    for (int i = 0; i < 64; i++) s(m, "y");
}
static char big[70000];
static void cand_long(mp *m) {
    msgpack_pack_array(&m->pk, 2);
    s(m, "ok");
    sn(m, big, 1001);
}
static void cand_at(mp *m) {
    msgpack_pack_array(&m->pk, 1);
    sn(m, big, 1000);
}
static void prompt_long(mp *m) { sn(m, big, 2001); }
static void prompt_at(mp *m) { sn(m, big, 2000); }
static void image_long(mp *m) {
    msgpack_pack_bin(&m->pk, 4097);
    msgpack_pack_bin_body(&m->pk, big, 4097);
}
static void image_empty(mp *m) { msgpack_pack_bin(&m->pk, 0); }
static void id_long(mp *m) { sn(m, big, 300); }
static void cands_empty(mp *m) { msgpack_pack_array(&m->pk, 0); }

static void test_limits(void **st) {
    (void)st;
    memset(big, 'a', sizeof big);
    rlv_proto_request q = {0};
    rlv_proto_limits lim;
    rlv_proto_limits_default(&lim);
    assert_int_equal(lim.max_image_bytes, 16u << 20);
    assert_int_equal(lim.max_candidates, 64);
    mp m;
    build(&m, 5, V_CUSTOM, huge_cands);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "candidates: 10000 > max-candidates 64");
    assert_int_equal(q.id_len, 6);
    mp_free(&m);
    build(&m, 5, V_CUSTOM, cands_65);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "max-candidates 64");
    mp_free(&m);
    build(&m, 5, V_CUSTOM, cands_64);
    EXPECT(&q, &m, &lim, RLV_PROTO_OK, "");
    assert_int_equal(q.n_candidates, 64);
    mp_free(&m);
    build(&m, 5, V_CUSTOM, cands_empty);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_BAD_REQUEST, "'candidates': empty array");
    mp_free(&m);
    build(&m, 3, V_CUSTOM, image_empty);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_BAD_IMAGE, "image: 0 bytes");
    mp_free(&m);

    /* small limits: one over fails naming the limit, exactly at passes */
    lim.max_candidate_bytes = 1000;
    lim.max_prompt_bytes = 2000;
    lim.max_image_bytes = 4096;
    lim.max_id_bytes = 100;
    build(&m, 5, V_CUSTOM, cand_long);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "candidates[1]: 1001 bytes > max-candidate-bytes 1000");
    mp_free(&m);
    build(&m, 5, V_CUSTOM, cand_at);
    EXPECT(&q, &m, &lim, RLV_PROTO_OK, "");
    mp_free(&m);
    build(&m, 4, V_CUSTOM, prompt_long);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "prompt: 2001 bytes > max-prompt-bytes 2000");
    mp_free(&m);
    build(&m, 4, V_CUSTOM, prompt_at);
    EXPECT(&q, &m, &lim, RLV_PROTO_OK, "");
    mp_free(&m);
    build(&m, 3, V_CUSTOM, image_long);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "image: 4097 bytes > max-image-bytes 4096");
    mp_free(&m);
    build(&m, 1, V_CUSTOM, id_long);
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "id: 303 bytes > max-id-bytes 100");
    assert_null(q.id); /* an oversized id is not echoed */
    mp_free(&m);
    build(&m, -1, V_DEFAULT, NULL);
    lim.max_message_bytes = m.sb.size - 1;
    EXPECT(&q, &m, &lim, RLV_PROTO_E_TOO_LARGE, "max-message-bytes");
    assert_int_equal(q.id_len, 6); /* still echoed */
    lim.max_message_bytes = m.sb.size;
    EXPECT(&q, &m, &lim, RLV_PROTO_OK, "");
    mp_free(&m);
    rlv_proto_request_free(&q);
}

static void prompt_utf8(mp *m, const char *b, size_t n) { sn(m, b, n); }
static const char *utf8_case;
static size_t utf8_len;
static void prompt_case(mp *m) { prompt_utf8(m, utf8_case, utf8_len); }
static void cand_case(mp *m) {
    msgpack_pack_array(&m->pk, 2);
    s(m, "fine");
    sn(m, utf8_case, utf8_len);
}

static void test_utf8(void **st) {
    (void)st;
    static const struct { const char *b; size_t n; long bad; } cases[] = {
        {"plain ascii, long enough for the fast path", 42, -1},
        {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xb1", 17, -1},
        {"\xed\x9f\xbf", 3, -1},                  /* U+D7FF, last before the surrogates */
        {"\xf4\x8f\xbf\xbf", 4, -1},              /* U+10FFFF */
        {"\xef\xbf\xbf", 3, -1},                  /* U+FFFF */
        {"abc\xff", 4, 3},
        {"\xc0\xaf", 2, 0},                       /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},                   /* overlong */
        {"\xf0\x80\x80\xaf", 4, 0},               /* overlong */
        {"ab\xed\xa0\x80", 5, 2},                 /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},               /* > U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"xy\xe6\x97", 4, 2},                     /* truncated */
        {"\x80", 1, 0},                           /* lone continuation */
        {"12345678\xc3", 9, 8},                   /* after the fast path */
        {"a\x00" "b", 3, -1},                     /* NUL is valid UTF-8 */
    };
    rlv_proto_request q = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int where = 0; where < 2; where++) {
            utf8_case = cases[i].b;
            utf8_len = cases[i].n;
            mp m;
            build(&m, where ? 5 : 4, V_CUSTOM, where ? cand_case : prompt_case);
            if (cases[i].bad < 0) {
                EXPECT(&q, &m, NULL, RLV_PROTO_OK, "");
            } else {
                char want[64];
                snprintf(want, sizeof want, "%s: invalid UTF-8 at byte %ld", where ? "candidates[1]" : "prompt",
                         cases[i].bad);
                EXPECT(&q, &m, NULL, RLV_PROTO_E_BAD_REQUEST, want);
            }
            mp_free(&m);
        }
    rlv_proto_request_free(&q);
}

static void test_values(void **st) {
    (void)st;
    rlv_proto_request q = {0};
    static const char *const kinds[] = {"rlaifv", "dpo", "logp_mean", "logp_sum"};
    for (int k = 0; k < 4; k++) {
        mp m;
        mp_init(&m);
        msgpack_pack_map(&m.pk, 6);
        s(&m, "reward"); s(&m, kinds[k]);
        s(&m, "v"); msgpack_pack_uint8(&m.pk, 1);
        s(&m, "op"); s(&m, "score");
        s(&m, "image"); msgpack_pack_nil(&m.pk);
        s(&m, "prompt"); s(&m, "");
        s(&m, "candidates"); msgpack_pack_array(&m.pk, 1); s(&m, "x");
        rlv_proto_error e;
        assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
        assert_int_equal(q.reward, RLV_REWARD_RLAIFV + k);
        assert_string_equal(rlv_reward_name(q.reward), kinds[k]);
        mp_free(&m);
    }
    assert_null(rlv_reward_name(RLV_REWARD_DEFAULT));
    /* beta: float32, int8 encodings; NaN, inf, 0, negative refused */
    const double bad_beta[] = {NAN, INFINITY, -INFINITY, 0.0, -0.5};
    for (size_t i = 0; i < 5; i++) {
        mp m;
        mp_init(&m);
        msgpack_pack_map(&m.pk, 5);
        s(&m, "v"); msgpack_pack_int(&m.pk, 1);
        s(&m, "op"); s(&m, "score");
        s(&m, "beta"); msgpack_pack_double(&m.pk, bad_beta[i]);
        s(&m, "prompt"); s(&m, "p");
        s(&m, "candidates"); msgpack_pack_array(&m.pk, 1); s(&m, "x");
        EXPECT(&q, &m, NULL, RLV_PROTO_E_BAD_REQUEST, "not a finite number > 0");
        mp_free(&m);
    }
    mp m;
    mp_init(&m);
    msgpack_pack_map(&m.pk, 7);
    s(&m, "v"); msgpack_pack_int8(&m.pk, 1);      /* d0 01: signed encoding of a positive int */
    s(&m, "op"); s(&m, "score");
    s(&m, "beta"); msgpack_pack_float(&m.pk, 0.75f);
    s(&m, "deadline_ms"); msgpack_pack_uint64(&m.pk, UINT64_MAX);
    s(&m, "image"); msgpack_pack_bin(&m.pk, 1); msgpack_pack_bin_body(&m.pk, "J", 1);
    s(&m, "prompt"); s(&m, "p");
    s(&m, "candidates"); msgpack_pack_array(&m.pk, 1); s(&m, "x");
    rlv_proto_error e;
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    assert_true(q.beta == 0.75);
    assert_true(q.deadline_ms == INT64_MAX);
    mp_free(&m);
    /* ping, info, stats: v/id/op only */
    static const char *const ops[] = {"ping", "info", "stats"};
    for (int o = 0; o < 3; o++) {
        mp_init(&m);
        msgpack_pack_map(&m.pk, 2);
        s(&m, "op"); s(&m, ops[o]);
        s(&m, "v"); msgpack_pack_int(&m.pk, 1);
        assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
        assert_int_equal(q.op, RLV_PROTO_OP_PING + o);
        assert_string_equal(rlv_proto_op_name(q.op), ops[o]);
        mp_free(&m);
        mp_init(&m);
        msgpack_pack_map(&m.pk, 3);
        s(&m, "op"); s(&m, ops[o]);
        s(&m, "v"); msgpack_pack_int(&m.pk, 1);
        s(&m, "candidates"); msgpack_pack_array(&m.pk, 0);
        EXPECT(&q, &m, NULL, RLV_PROTO_E_BAD_REQUEST, "field 'candidates' is not allowed with op");
        mp_free(&m);
    }
    rlv_proto_request_free(&q);
}

static void test_version(void **st) {
    (void)st;
    rlv_proto_request q = {0};
    mp m;
    /* a v3 request with fields v1 and v2 do not know: unsupported_version, not unknown field */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 4);
    s(&m, "images"); msgpack_pack_array(&m.pk, 0);
    s(&m, "op"); s(&m, "score");
    s(&m, "id"); msgpack_pack_int(&m.pk, 5);
    s(&m, "v"); msgpack_pack_int(&m.pk, 3);
    EXPECT(&q, &m, NULL, RLV_PROTO_E_UNSUPPORTED_VERSION, "v 3: this daemon speaks v1..v2");
    assert_int_equal(q.id_len, 1);
    assert_int_equal(q.id[0], 5);
    mp_free(&m);
    /* v present twice: the duplicate is refused */
    mp_init(&m);
    msgpack_pack_map(&m.pk, 3);
    s(&m, "v"); msgpack_pack_int(&m.pk, 1);
    s(&m, "op"); s(&m, "ping");
    s(&m, "v"); msgpack_pack_int(&m.pk, 1);
    EXPECT(&q, &m, NULL, RLV_PROTO_E_BAD_REQUEST, "duplicate field 'v'");
    mp_free(&m);
    rlv_proto_request_free(&q);
}

static void test_malformed(void **st) {
    (void)st;
    rlv_proto_request q = {0};
    struct { const char *b; size_t n; const char *want; } cases[] = {
        {"", 0, "empty body"},
        {"\xc1", 1, "invalid byte 0xc1 at byte 0"},
        {"\x81\xa1v\xc1", 4, "invalid byte 0xc1 at byte 3"},
        {"\x92\x01\x02", 3, "expected a map, got array"},
        {"\x2a", 1, "expected a map, got int"},
        {"\x81\xa1v", 3, "truncated"},
        {"\x81\xa1v\x01\x00", 5, "1 trailing bytes"},
        {"\xdd\xff\xff\xff\xff", 5, "truncated"},           /* array32 of 4 G elements in 5 bytes */
        {"\xdf\xff\xff\xff\xff", 5, "truncated"},
        {"\x81\xa1v\xc6\xff\xff\xff\xff", 9, "truncated"},  /* bin32 of 4 GiB */
        {"\x81\xa1v\xdb\x7f\xff\xff\xff", 9, "truncated"},
        {"\x81\xa1v\xc9\xff\xff\xff\xff\x01", 10, "truncated"}, /* ext32 */
        {"\x81\xa1v\xcf\x00\x00", 6, "truncated"},          /* uint64 cut */
        {"\x83\xa1v\x01\xa2op\xa4ping\x01\x01", 14, "field name at byte 12: expected str, got int"},
        {"\x82\xa1v\x01\xa2op", 6, "truncated"},
        {"\x83\xa1v\x01\xa2op\xa4ping\xa3zzz\x01", 17, "unknown field 'zzz'"},
        {"\x83\xa1v\x01\xa2op\xa4ping\xd4\x01\x02\x01", 16, "field name at byte 12: expected str, got ext"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rlv_proto_error e;
        rlv_proto_code rc = rlv_proto_decode_request(&q, cases[i].b, cases[i].n, NULL, &e);
        if (rc != RLV_PROTO_E_BAD_REQUEST || !strstr(e.msg, cases[i].want))
            fail_msg("case %zu: got %s '%s', want '%s'", i, rlv_proto_code_name(rc), e.msg, cases[i].want);
    }
    /* nesting: the top map is level 1; an id may add 15 levels, not 16 */
    for (int levels = 14; levels <= 40; levels++) {
        mp m;
        mp_init(&m);
        msgpack_pack_map(&m.pk, 3);
        s(&m, "v"); msgpack_pack_int(&m.pk, 1);
        s(&m, "op"); s(&m, "ping");
        s(&m, "id");
        for (int l = 0; l < levels; l++) msgpack_pack_array(&m.pk, 1);
        msgpack_pack_nil(&m.pk);
        if (levels <= 15) EXPECT(&q, &m, NULL, RLV_PROTO_OK, "");
        else EXPECT(&q, &m, NULL, RLV_PROTO_E_BAD_REQUEST, "nested deeper than 16");
        mp_free(&m);
    }
    /* every truncation of a valid request fails cleanly (and still echoes the id once readable) */
    mp m;
    build(&m, -1, V_DEFAULT, NULL);
    for (size_t n = 0; n < m.sb.size; n++) {
        rlv_proto_error e;
        assert_int_equal(rlv_proto_decode_request(&q, m.sb.data, n, NULL, &e), RLV_PROTO_E_BAD_REQUEST);
        if (n >= 1 + 2 + 1 + 3 + 6) assert_int_equal(q.id_len, 6); /* map, "v", 1, "id", id */
    }
    mp_free(&m);
    rlv_proto_request_free(&q);
}

/* Seeded mutations of valid requests (bit flips, byte sets, cuts, splices): the decoder never
 * crashes and a success always holds its invariants. The libFuzzer target goes further. */
static void test_mutations(void **st) {
    (void)st;
    mp base;
    build(&base, -1, V_DEFAULT, NULL);
    size_t n0 = base.sb.size;
    uint8_t *buf = malloc(n0 + 64);
    rlv_proto_request q = {0};
    rlv_proto_limits lim;
    rlv_proto_limits_default(&lim);
    lim.max_candidates = 4;
    uint64_t x = 0x9e3779b97f4a7c15u;
    int ok = 0, total = 20000;
    for (int it = 0; it < total; it++) {
        memcpy(buf, base.sb.data, n0);
        size_t n = n0;
        int edits = 1 + (int)(x % 4);
        for (int k = 0; k < edits; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x >> 16) % n;
            switch (x % 4) {
            case 0: buf[at] ^= (uint8_t)(1u << ((x >> 8) % 8)); break;
            case 1: buf[at] = (uint8_t)(x >> 24); break;
            case 2: n = at + 1; break;
            case 3: buf[at] = (uint8_t)(0xc4 + (x >> 32) % 0x1c); break; /* a random header byte */
            }
        }
        rlv_proto_error e;
        rlv_proto_code rc = rlv_proto_decode_request(&q, buf, n, &lim, &e);
        assert_true(rc < RLV_PROTO_CODE_COUNT);
        assert_true(strlen(e.msg) < RLV_PROTO_ERR_MSG_MAX);
        if (q.id) assert_true(q.id >= buf && q.id + q.id_len <= buf + n);
        if (rc == RLV_PROTO_OK) {
            ok++;
            assert_int_equal(q.v, 1);
            if (q.op == RLV_PROTO_OP_SCORE) {
                assert_true(q.n_candidates >= 1 && q.n_candidates <= 4);
                for (size_t c = 0; c < q.n_candidates; c++)
                    assert_true((const uint8_t *)q.candidates[c] >= buf &&
                                (const uint8_t *)q.candidates[c] + q.candidate_lens[c] <= buf + n);
            }
        }
    }
    printf("mutations: %d of %d still valid requests\n", ok, total);
    free(buf);
    mp_free(&base);
    rlv_proto_request_free(&q);
}

/* ---- replies, decoded with msgpack-c's unpacker */

static const msgpack_object *get(const msgpack_object *map, const char *key) {
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *p = &map->via.map.ptr[i];
        if (p->key.type == MSGPACK_OBJECT_STR && p->key.via.str.size == strlen(key) &&
            !memcmp(p->key.via.str.ptr, key, strlen(key)))
            return &p->val;
    }
    return NULL;
}

static void unpack(msgpack_unpacked *u, const rlv_proto_reply *r) {
    size_t len, off = 0;
    const uint8_t *d = rlv_proto_reply_data(r, &len);
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, (const char *)d, len, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len);
}

static void test_reply_score(void **st) {
    (void)st;
    float tl[2][3] = {{-0.5f, -1.25f, -2.0f}, {-0.75f, -1.5f, -3.0f}};
    rlv_proto_ranked rk[2] = {
        {.index = 1, .reward = 0.125, .tokens = 3, .policy = {-3.75, -1.25, tl[0]}, .reference = {-5.25, -1.75, tl[1]}},
        {.index = 0, .reward = -0.5, .tokens = 3, .policy = {-6, -2, tl[0]}, .reference = {-7, -7.0 / 3, tl[1]}},
    };
    rlv_proto_score_result res = {"rlaifv", 0.1, true, 2, rk, 10.5, 20.25, 30.125, 61.0, false, false, 1};
    rlv_proto_reply *r = rlv_proto_reply_new();
    rlv_proto_error e;
    const uint8_t id[] = {0x92, 0x01, 0xa1, 'x'}; /* [1, "x"] */
    assert_int_equal(rlv_proto_reply_score(r, id, sizeof id, &res, &e), RLV_PROTO_OK);
    msgpack_unpacked u;
    unpack(&u, r);
    const msgpack_object *o = &u.data;
    assert_int_equal(o->via.map.size, 6);
    const msgpack_object *v = get(o, "id");
    assert_int_equal(v->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(v->via.array.size, 2);
    assert_true(get(o, "ok")->via.boolean);
    assert_int_equal(get(o, "reward_kind")->via.str.size, 6);
    assert_memory_equal(get(o, "reward_kind")->via.str.ptr, "rlaifv", 6);
    assert_true(get(o, "beta")->via.f64 == 0.1);
    const msgpack_object *rank = get(o, "ranking");
    assert_int_equal(rank->via.array.size, 2);
    const msgpack_object *c0 = &rank->via.array.ptr[0];
    assert_int_equal(c0->via.map.size, 5);
    assert_int_equal(get(c0, "index")->via.u64, 1);
    assert_true(get(c0, "reward")->via.f64 == 0.125);
    assert_int_equal(get(c0, "tokens")->via.u64, 3);
    const msgpack_object *pol = get(c0, "policy");
    assert_true(get(pol, "logp_sum")->via.f64 == -3.75);
    assert_true(get(pol, "logp_mean")->via.f64 == -1.25);
    const msgpack_object *tk = get(pol, "token_logps");
    assert_int_equal(tk->via.array.size, 3);
    assert_int_equal(tk->via.array.ptr[1].type, MSGPACK_OBJECT_FLOAT32);
    assert_true(tk->via.array.ptr[1].via.f64 == -1.25);
    assert_true(get(get(c0, "reference"), "logp_sum")->via.f64 == -5.25);
    assert_true(get(get(&rank->via.array.ptr[1], "reference"), "logp_mean")->via.f64 == -7.0 / 3);
    const msgpack_object *tm = get(o, "timing_ms");
    assert_int_equal(tm->via.map.size, 4); /* a v1 request: v1's reply, without cached */
    assert_true(get(tm, "image")->via.f64 == 10.5 && get(tm, "prefix")->via.f64 == 20.25 &&
                get(tm, "candidates")->via.f64 == 30.125 && get(tm, "total")->via.f64 == 61.0);
    assert_null(get(tm, "cached"));
    msgpack_unpacked_destroy(&u);
    res.v = 2; /* v2 adds timing_ms.cached */
    assert_int_equal(rlv_proto_reply_score(r, id, sizeof id, &res, &e), RLV_PROTO_OK);
    unpack(&u, r);
    tm = get(&u.data, "timing_ms");
    assert_int_equal(tm->via.map.size, 5);
    assert_int_equal(get(tm, "cached")->via.array.size, 0); /* nothing from a cache */
    msgpack_unpacked_destroy(&u);
    /* the prefix cache alone, then both caches: the steps are named in that order */
    for (int both = 0; both < 2; both++) {
        res.prefix_cached = true;
        res.image_cached = both;
        assert_int_equal(rlv_proto_reply_score(r, (const uint8_t *)"\x11", 1, &res, &e), RLV_PROTO_OK);
        unpack(&u, r);
        const msgpack_object *ca = get(get(&u.data, "timing_ms"), "cached");
        assert_int_equal(ca->type, MSGPACK_OBJECT_ARRAY);
        assert_int_equal(ca->via.array.size, 1 + both);
        assert_memory_equal(ca->via.array.ptr[0].via.str.ptr, both ? "image" : "prefix", both ? 5 : 6);
        if (both) assert_memory_equal(ca->via.array.ptr[1].via.str.ptr, "prefix", 6);
        msgpack_unpacked_destroy(&u);
    }
    res.prefix_cached = res.image_cached = false;

    /* no reference, no token_logps, no id: those keys are absent, id is nil */
    for (int i = 0; i < 2; i++) rk[i].policy.token_logps = NULL;
    res.has_reference = false;
    res.reward_kind = "logp_mean";
    assert_int_equal(rlv_proto_reply_score(r, NULL, 0, &res, &e), RLV_PROTO_OK);
    unpack(&u, r);
    o = &u.data;
    assert_int_equal(get(o, "id")->type, MSGPACK_OBJECT_NIL);
    c0 = &get(o, "ranking")->via.array.ptr[0];
    assert_int_equal(c0->via.map.size, 4);
    assert_null(get(c0, "reference"));
    assert_int_equal(get(c0, "policy")->via.map.size, 2);
    assert_null(get(get(c0, "policy"), "token_logps"));
    msgpack_unpacked_destroy(&u);

    /* an incomplete result is our bug, reported as internal */
    res.reward_kind = NULL;
    assert_int_equal(rlv_proto_reply_score(r, NULL, 0, &res, &e), RLV_PROTO_E_INTERNAL);
    size_t len;
    rlv_proto_reply_data(r, &len);
    assert_int_equal(len, 0);

    /* release hands the buffer over; the builder stays usable */
    res.reward_kind = "dpo";
    assert_int_equal(rlv_proto_reply_score(r, id, sizeof id, &res, &e), RLV_PROTO_OK);
    uint8_t *owned = rlv_proto_reply_release(r, &len);
    assert_non_null(owned);
    assert_true(len > 20);
    assert_memory_equal(owned + 4, id, sizeof id); /* 0x86, a2 'id', then the id verbatim */
    free(owned);
    assert_null(rlv_proto_reply_release(r, &len));
    assert_int_equal(rlv_proto_reply_score(r, id, sizeof id, &res, &e), RLV_PROTO_OK);
    rlv_proto_reply_free(&r);
    assert_null(r);
    rlv_proto_reply_free(&r);
    rlv_proto_reply_free(NULL);
}

static void test_reply_error(void **st) {
    (void)st;
    rlv_proto_reply *r = rlv_proto_reply_new();
    msgpack_unpacked u;
    /* control characters and invalid UTF-8 quoted from a client are scrubbed */
    assert_int_equal(rlv_proto_reply_error(r, (const uint8_t *)"\x07", 1, RLV_PROTO_E_TOO_LONG,
                                       "candidate %d: %s\n\x1b[31m\xff", 3, "tok\tens"), RLV_PROTO_OK);
    unpack(&u, r);
    const msgpack_object *o = &u.data;
    assert_int_equal(o->via.map.size, 3);
    assert_int_equal(get(o, "id")->via.u64, 7);
    assert_false(get(o, "ok")->via.boolean);
    const msgpack_object *er = get(o, "error");
    assert_int_equal(er->via.map.size, 2);
    const msgpack_object *code = get(er, "code"), *msg = get(er, "message");
    assert_int_equal(code->via.str.size, strlen("too_long"));
    assert_memory_equal(code->via.str.ptr, "too_long", 8);
    const char want[] = "candidate 3: tok ens  [31m?";
    assert_int_equal(msg->via.str.size, strlen(want));
    assert_memory_equal(msg->via.str.ptr, want, strlen(want));
    msgpack_unpacked_destroy(&u);
    /* bounded: a 5000-byte message of 3-byte characters is cut at a character boundary */
    char lng[5001];
    for (int i = 0; i < 5000; i += 3) memcpy(lng + i, "\xe2\x82\xac", i + 3 <= 5000 ? 3 : 5000 - i);
    lng[5000] = '\0';
    assert_int_equal(rlv_proto_reply_error(r, NULL, 0, RLV_PROTO_E_BAD_REQUEST, "%s", lng), RLV_PROTO_OK);
    unpack(&u, r);
    msg = get(get(&u.data, "error"), "message");
    assert_true(msg->via.str.size < RLV_PROTO_ERR_MSG_MAX && msg->via.str.size > RLV_PROTO_ERR_MSG_MAX - 8);
    assert_memory_equal(msg->via.str.ptr + msg->via.str.size - 3, "...", 3);
    assert_int_equal((msg->via.str.size - 3) % 3, 0);
    msgpack_unpacked_destroy(&u);
    /* RLV_PROTO_OK is never sent as an error */
    assert_int_equal(rlv_proto_reply_error(r, NULL, 0, RLV_PROTO_OK, "oops"), RLV_PROTO_OK);
    unpack(&u, r);
    assert_memory_equal(get(get(&u.data, "error"), "code")->via.str.ptr, "internal", 8);
    msgpack_unpacked_destroy(&u);
    rlv_proto_reply_free(&r);
}

static void test_reply_builder(void **st) {
    (void)st;
    rlv_proto_reply *r = rlv_proto_reply_new();
    rlv_proto_error e;
    rlv_proto_limits lim;
    rlv_proto_limits_default(&lim);
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_add_int(r, "v", 1, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_add_limits(r, "limits", &lim, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_open_array(r, "lat", &e), RLV_PROTO_OK);
    for (int i = 0; i < 20; i++) assert_int_equal(rlv_proto_reply_add_double(r, NULL, i * 0.5, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_open_map(r, NULL, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_add_str(r, "s", "x", &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_close(r, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_close(r, &e), RLV_PROTO_OK);
    size_t len;
    rlv_proto_reply_data(r, &len);
    assert_int_equal(len, 0); /* not complete before end */
    assert_int_equal(rlv_proto_reply_end(r, &e), RLV_PROTO_OK);
    msgpack_unpacked u;
    unpack(&u, r);
    const msgpack_object *o = &u.data;
    assert_int_equal(o->via.map.size, 5);
    assert_int_equal(get(get(o, "limits"), "max_candidates")->via.u64, 64);
    assert_int_equal(get(get(o, "limits"), "max_image_bytes")->via.u64, 16u << 20);
    assert_int_equal(get(o, "limits")->via.map.size, 6);
    const msgpack_object *lat = get(o, "lat");
    assert_int_equal(lat->via.array.size, 21);
    assert_true(lat->via.array.ptr[19].via.f64 == 9.5);
    assert_int_equal(get(&lat->via.array.ptr[20], "s")->via.str.size, 1);
    msgpack_unpacked_destroy(&u);

    /* misuse is reported, never a malformed body */
    assert_int_equal(rlv_proto_reply_add_int(r, "x", 1, &e), RLV_PROTO_E_INTERNAL); /* after end */
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_add_int(r, "ok", 1, &e), RLV_PROTO_E_INTERNAL);
    assert_non_null(strstr(e.msg, "reserved"));
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_add_int(r, NULL, 1, &e), RLV_PROTO_E_INTERNAL);
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_close(r, &e), RLV_PROTO_E_INTERNAL);
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_open_array(r, "a", &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_add_int(r, "k", 1, &e), RLV_PROTO_E_INTERNAL);
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_open_map(r, "m", &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_end(r, &e), RLV_PROTO_E_INTERNAL);
    rlv_proto_reply_data(r, &len);
    assert_int_equal(len, 0);
    assert_int_equal(rlv_proto_reply_begin(r, NULL, 0, &e), RLV_PROTO_OK);
    for (int d = 0; d < 8; d++) assert_int_equal(rlv_proto_reply_open_map(r, "m", &e), RLV_PROTO_OK);
    assert_int_equal(rlv_proto_reply_open_map(r, "m", &e), RLV_PROTO_E_INTERNAL);
    rlv_proto_reply_free(&r);
}

/* The id arrives as raw bytes and leaves bit-identical, whatever it is. */
static void test_id_echo(void **st) {
    (void)st;
    static const struct { const char *b; size_t n; } ids[] = {
        {"\xc0", 1}, {"\xc3", 1}, {"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9}, {"\xd3\x80\0\0\0\0\0\0\0", 9},
        {"\xcb\x3f\xf8\0\0\0\0\0\0", 9}, {"\xc4\x02\x00\xff", 4}, {"\xd6\x05" "abcd", 6},
        {"\x82\x01\xa1x\xa1y\x91\xc0", 8}, {"\xdf\0\0\0\x01\x01\x02", 7} /* map32 with 1 pair */,
    };
    rlv_proto_request q = {0};
    rlv_proto_reply *r = rlv_proto_reply_new();
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        mp m;
        mp_init(&m);
        msgpack_pack_map(&m.pk, 3);
        s(&m, "v"); msgpack_pack_int(&m.pk, 1);
        s(&m, "id"); raw(&m, ids[i].b, ids[i].n);
        s(&m, "op"); s(&m, "ping");
        rlv_proto_error e;
        assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
        assert_int_equal(q.id_len, ids[i].n);
        assert_int_equal(rlv_proto_reply_begin(r, q.id, q.id_len, &e), RLV_PROTO_OK);
        assert_int_equal(rlv_proto_reply_end(r, &e), RLV_PROTO_OK);
        size_t len;
        const uint8_t *d = rlv_proto_reply_data(r, &len);
        /* df 00000002, a2 'i' 'd', then the id */
        assert_int_equal(len, 5 + 3 + ids[i].n + 3 + 1);
        assert_memory_equal(d + 8, ids[i].b, ids[i].n);
        assert_int_equal(rlv_proto_reply_error(r, q.id, q.id_len, RLV_PROTO_E_BUSY, "queue full"), RLV_PROTO_OK);
        d = rlv_proto_reply_data(r, &len);
        assert_memory_equal(d + 4, ids[i].b, ids[i].n);
        mp_free(&m);
    }
    rlv_proto_reply_free(&r);
    rlv_proto_request_free(&q);
}

static void test_codes(void **st) {
    (void)st;
    static const char *const must[] = {"bad_request", "bad_image", "unsupported_image", "too_large", "too_long",
                                       "busy", "timeout", "shutting_down", "internal", "unsupported_version"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++) {
        rlv_proto_code c = rlv_proto_code_parse(must[i], strlen(must[i]));
        assert_string_equal(rlv_proto_code_name(c), must[i]);
        assert_true(strlen(rlv_proto_code_meaning(c)) > 10);
    }
    for (int c = 0; c < RLV_PROTO_CODE_COUNT; c++) {
        const char *n = rlv_proto_code_name((rlv_proto_code)c);
        assert_int_equal(rlv_proto_code_parse(n, strlen(n)), c);
        for (int d = 0; d < c; d++) assert_string_not_equal(n, rlv_proto_code_name((rlv_proto_code)d));
    }
    assert_int_equal(rlv_proto_code_parse("future_code", 11), RLV_PROTO_E_INTERNAL);
    assert_string_equal(rlv_proto_code_name((rlv_proto_code)999), "internal");
    assert_string_equal(rlv_proto_code_meaning((rlv_proto_code)-1), "");
    rlv_proto_error e;
    assert_int_equal(rlv_proto_errorf(&e, RLV_PROTO_E_BUSY, "queue %d/%d", 64, 64), RLV_PROTO_E_BUSY);
    assert_int_equal(e.code, RLV_PROTO_E_BUSY);
    assert_string_equal(e.msg, "queue 64/64");
    assert_int_equal(rlv_proto_errorf(NULL, RLV_PROTO_E_TIMEOUT, "x"), RLV_PROTO_E_TIMEOUT);
}

static void test_scrub_sample(void **st) {
    (void)st;
    char out[16];
    assert_int_equal(rlv_proto_scrub(out, sizeof out, "a\x01" "b\x7f" "c", 5), 5);
    assert_string_equal(out, "a b c");
    rlv_proto_scrub(out, sizeof out, "\xc2\x85x\xc3\xa9", 5); /* C1 NEL -> space, é kept */
    assert_string_equal(out, " x\xc3\xa9");
    rlv_proto_scrub(out, sizeof out, "0123456789abcdefghij", 20);
    assert_string_equal(out, "0123456789ab...");
    rlv_proto_scrub(out, 6, "\xe2\x82\xac\xe2\x82\xac", 6); /* cut never splits a character */
    assert_string_equal(out, "...");
    rlv_proto_scrub(out, sizeof out, "\xe2\x82", 2);
    assert_string_equal(out, "??");
    char smp[128];
    rlv_proto_sample(smp, sizeof smp, "ab\x00\\\xff", 5, 64);
    assert_string_equal(smp, "ab\\x00\\x5c\\xff");
    rlv_proto_sample(smp, sizeof smp, "abcdefgh", 8, 4);
    assert_string_equal(smp, "abcd...(8 bytes)");
    rlv_proto_sample(smp, 5, "\x01\x02", 2, 64);
    assert_string_equal(smp, "\\x01");
}

static void test_reuse(void **st) {
    (void)st;
    rlv_proto_request q = {0};
    mp m;
    rlv_proto_error e;
    build(&m, 5, V_CUSTOM, cands_64);
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    mp_free(&m);
    const char **arr = q.candidates;
    build(&m, -1, V_DEFAULT, NULL);
    assert_int_equal(decode(&q, &m, NULL, &e), RLV_PROTO_OK);
    assert_ptr_equal(q.candidates, arr); /* arrays reused, not reallocated */
    assert_int_equal(q.n_candidates, 3);
    mp_free(&m);
    rlv_proto_request_free(&q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_score),   cmocka_unit_test(test_optional_defaults),
        cmocka_unit_test(test_wrong_types),   cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_values),        cmocka_unit_test(test_version),
        cmocka_unit_test(test_malformed),     cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_reply_score),   cmocka_unit_test(test_reply_error),
        cmocka_unit_test(test_reply_builder), cmocka_unit_test(test_id_echo),
        cmocka_unit_test(test_codes),         cmocka_unit_test(test_scrub_sample),
        cmocka_unit_test(test_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
