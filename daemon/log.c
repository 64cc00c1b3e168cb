/* log.c — text or JSON log lines (see log.h). JSON lines are built with jansson so every
 * string is escaped correctly; text lines replace control characters so one request is one line. */
#include "log.h"

#include "err.h"
#include "rlaifv_proto.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static log_level g_level = LOG_INFO;
static int g_json = 0;
static const char *const NAMES[] = {"debug", "info", "warn", "error"};

int log_init(const char *level, const char *format, rlv_err *err) {
    int lv = -1;
    for (int i = 0; i < 4; i++)
        if (level && !strcmp(level, NAMES[i])) lv = i;
    if (lv < 0) return rlv_errf(err, RLV_EINVAL, "log-level '%s': expected debug, info, warn or error", level ? level : "");
    if (!format || (strcmp(format, "text") && strcmp(format, "json")))
        return rlv_errf(err, RLV_EINVAL, "log-format '%s': expected text or json", format ? format : "");
    g_level = (log_level)lv;
    g_json = !strcmp(format, "json");
    return RLV_OK;
}

int log_enabled(log_level lv) { return lv >= g_level; }

static void timestamp(char *buf, size_t cap) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Copies s into out as valid UTF-8 without control characters, cut on a character boundary:
 * a log line stays one line, and jansson (which refuses invalid UTF-8) never drops it. */
static void scrub(char *out, size_t cap, const char *s) {
    rlv_proto_scrub(out, cap, s ? s : "", s ? strlen(s) : 0);
}

static void emit(log_level lv, json_t *fields, const char *text) {
    char ts[40];
    timestamp(ts, sizeof ts);
    if (g_json) {
        if (fields) {
            json_object_set_new(fields, "ts", json_string(ts));
            json_object_set_new(fields, "level", json_string(NAMES[lv]));
        }
        char *s = fields ? json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        /* never a silent gap in the log: only out of memory gets here */
        if (s) fprintf(stderr, "%s\n", s);
        else fprintf(stderr, "{\"msg\":\"log line lost (out of memory)\",\"ts\":\"%s\",\"level\":\"%s\"}\n", ts, NAMES[lv]);
        free(s);
    } else {
        fprintf(stderr, "%s %-5s %s\n", ts, NAMES[lv], text);
    }
}

void log_msg(log_level lv, const char *fmt, ...) {
    if (!log_enabled(lv)) return;
    char raw[2048], msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    scrub(msg, sizeof msg, raw);
    json_t *f = g_json ? json_pack("{s:s}", "msg", msg) : NULL;
    emit(lv, f, msg);
    json_decref(f);
}

void log_request(const char *id, const char *op, const char *outcome, int candidates, double ms, const char *message) {
    log_level lv = strcmp(outcome, "ok") ? LOG_WARN : LOG_INFO;
    if (!strcmp(outcome, "internal")) lv = LOG_ERROR;
    if (!log_enabled(lv)) return;
    char sid[96], sop[32], smsg[512];
    scrub(sid, sizeof sid, id);
    scrub(sop, sizeof sop, op);
    scrub(smsg, sizeof smsg, message ? message : "");
    if (g_json) {
        json_t *f = json_pack("{s:s,s:s,s:s,s:s,s:i,s:f}", "msg", "request", "id", sid, "op", sop, "outcome", outcome,
                              "candidates", candidates, "ms", ms);
        if (f && message) json_object_set_new(f, "error", json_string(smsg));
        emit(lv, f, NULL);
        json_decref(f);
    } else {
        char line[1024];
        snprintf(line, sizeof line, "request id=%s op=%s outcome=%s candidates=%d ms=%.2f%s%s", sid, sop, outcome,
                 candidates, ms, message ? " error=" : "", message ? smsg : "");
        emit(lv, NULL, line);
    }
}
