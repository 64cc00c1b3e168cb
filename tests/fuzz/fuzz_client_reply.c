/* fuzz_client_reply.c — libFuzzer target: the C client's reading of an HTTP answer
 * (client_http_parse_reply) on arbitrary bytes: byte 0 picks the status, byte 1 whether the
 * first object of "data" is wanted (/v1/models), the rest is the body. The answer must be one of
 * the three outcomes: a JSON object (0), the daemon's error code (1), or a local error whose
 * message has no control characters (-1). A JSON object is then read as a score result
 * (reply_score_result), which must either refuse it or give a result whose every array is
 * readable to its stated length (ASan checks) and that prints back as JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_http.h"
#include "reply_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const long status[] = {200, 400, 429, 502, 503, 504, 0, 201};
    if (size < 2) return 0;
    char *body = malloc(size - 1);
    if (!body) return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = 0;
    json_t *json = NULL;
    rlv_client_error e;
    memset(&e, 0, sizeof e);
    int rc = client_http_parse_reply("http://fuzz/v1/score", body, status[data[0] % 8], data[1] & 1 ? "data" : NULL, &json, &e);
    if (rc == 0) {
        if (!json_is_object(json)) abort();
        rlv_proto_score_result *res = reply_score_result(json);
        if (res) {
            double sum = res->beta + res->total_ms + strlen(res->reward_kind);
            for (size_t i = 0; i < res->n; i++) {
                const rlv_proto_ranked *r = &res->ranking[i];
                for (int t = 0; r->policy.token_logps && t < r->tokens; t++) sum += r->policy.token_logps[t];
                for (int t = 0; res->has_reference && r->reference.token_logps && t < r->tokens; t++)
                    sum += r->reference.token_logps[t];
            }
            json_t *back = score_result_json(res);
            if (!json_is_object(back) || sum == 1e300) abort();
            json_decref(back);
            rlv_client_result_free(&res);
        }
    } else if (rc == 1) {
        if (e.local || (unsigned)e.code >= RLV_PROTO_CODE_COUNT || !e.name[0] || !memchr(e.name, 0, sizeof e.name)) abort();
    } else if (rc == -1) {
        if (!e.local || strcmp(e.name, "client_error")) abort();
        for (const char *p = e.message; *p; p++)
            if ((unsigned char)*p < 0x20) abort();
    } else {
        abort();
    }
    json_decref(json);
    free(body);
    return 0;
}
