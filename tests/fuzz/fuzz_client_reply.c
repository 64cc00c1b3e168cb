/* fuzz_client_reply.c — libFuzzer target: the C client's reading of an HTTP answer
 * (client_http_parse_reply) on arbitrary bytes: byte 0 picks the status, byte 1 whether the
 * first object of "data" is wanted (/v1/models), the rest is the body. The answer must be one of
 * the three outcomes: a JSON object (0), the daemon's error code (1), or a client_error whose
 * message has no control characters (-1). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const long status[] = {200, 400, 429, 502, 503, 504, 0, 201};
    if (size < 2) return 0;
    char *body = malloc(size - 1);
    if (!body) return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = 0;
    char *json = NULL;
    rlv_client_error e;
    memset(&e, 0, sizeof e);
    int rc = client_http_parse_reply("http://fuzz/v1/score", body, status[data[0] % 8], data[1] & 1 ? "data" : NULL, &json, &e);
    if (rc == 0) {
        json_t *o = json ? json_loads(json, 0, NULL) : NULL;
        if (!json_is_object(o)) abort();
        json_decref(o);
    } else if (rc == 1) {
        if (!e.code[0] || memchr(e.code, 0, sizeof e.code) == NULL) abort();
    } else if (rc == -1) {
        if (strcmp(e.code, "client_error")) abort();
        for (const char *p = e.message; *p; p++)
            if ((unsigned char)*p < 0x20) abort();
    } else {
        abort();
    }
    free(json);
    free(body);
    return 0;
}
