/* fuzz_http_json.c — libFuzzer target: the HTTP API's request decoder (http_json_decode) on arbitrary
 * bytes as a /v1/rerank and as a /v1/score body, the image decoder (base64, data: URLs) on them
 * alone, and then the request re-encoded as msgpack must pass rlv_proto_decode_request's own checks or
 * fail with a named code; a decoded job's reply shapes must be valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_json.h"
#include "rlaifv_proto.h"

static void check_json(char *s) {
    if (!s) abort();
    json_t *o = json_loads(s, 0, NULL);
    if (!o) abort();
    json_decref(o);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *img;
    size_t n;
    char msg[200];
    if (http_json_image((const char *)data, size, &img, &n, msg, sizeof msg) == 0) {
        if (n > size) abort(); /* base64 never grows */
        free(img);
    } else if (img || !memchr(msg, 0, sizeof msg)) {
        abort();
    }
    static rlv_proto_request req; /* reused, as the daemon does */
    for (int kind = 0; kind < 2; kind++) {
        http_job j;
        rlv_proto_error e = {0};
        rlv_proto_code rc = http_json_decode(&j, kind ? HTTP_JOB_SCORE : HTTP_JOB_RERANK, (const char *)data, size, &e);
        if ((unsigned)rc >= RLV_PROTO_CODE_COUNT || strlen(e.msg) >= RLV_PROTO_ERR_MSG_MAX) abort();
        if (rc == RLV_PROTO_OK) {
            if (kind == 0 && (j.top_n < 1 || j.top_n > j.q.n_candidates) && j.q.n_candidates) abort();
            size_t len;
            j.q.id = 7;
            uint8_t *b = rlv_proto_encode_request(&j.q, &len);
            if (!b) abort();
            rlv_proto_error pe;
            rlv_proto_code prc = rlv_proto_decode_request(&req, b, len, NULL, &pe);
            if ((unsigned)prc >= RLV_PROTO_CODE_COUNT) abort();
            if (prc == RLV_PROTO_OK && (req.n_candidates != j.q.n_candidates || req.image_len != j.q.image_len)) abort();
            free(b);
            /* a reply of the daemon's shape for this job */
            json_t *rep = json_object(), *rk = json_array();
            for (size_t i = 0; i < j.q.n_candidates && i < 4; i++) {
                json_t *r = json_object();
                json_object_set_new(r, "index", json_integer((json_int_t)i));
                json_object_set_new(r, "reward", json_real(-1.0 * (double)i));
                json_object_set_new(r, "tokens", json_integer(3));
                json_array_append_new(rk, r);
            }
            json_object_set_new(rep, "ranking", rk);
            json_object_set_new(rep, "ok", json_true());
            check_json(kind ? http_json_score_reply(rep) : http_json_rerank_reply(&j, rep, "m", 1));
            json_decref(rep);
        }
        http_job_free(&j);
        check_json(http_json_error(rlv_proto_code_name(rc), e.msg));
    }
    return 0;
}
