/* err.c — the error code table and message formatting (see err.h). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *rlv_err_name(int code) {
    switch (code) {
#define RLV_ERR_CASE(c, val, name) case val: return name;
        RLV_ERR_TABLE(RLV_ERR_CASE)
#undef RLV_ERR_CASE
    }
    return "unknown";
}

int rlv_errf(rlv_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void rlv_err_prefix(rlv_err *err, const char *prefix) {
    if (!err || !prefix) return;
    char tmp[2 * RLV_ERR_MSG_MAX];
    snprintf(tmp, sizeof tmp, "%s: %s", prefix, err->msg);
    size_t n = strlen(tmp);
    if (n >= sizeof err->msg) n = sizeof err->msg - 1; /* cut to the message size */
    memcpy(err->msg, tmp, n);
    err->msg[n] = 0;
}

void rlv_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
