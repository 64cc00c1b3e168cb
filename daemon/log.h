/* log.h — rlaifvd's log lines on stderr: text or JSON (one object per line), four levels.
 * Owns: the level/format settings (set once at start-up) and line formatting. Thread-safe:
 * each line is written with one locked stdio call. */
#ifndef RLVD_LOG_H
#define RLVD_LOG_H

#include "rlaifv.h" /* rlv_err */

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level;

/* level: "debug|info|warn|error", format: "text|json". RLV_OK, or RLV_EINVAL naming the unknown
 * value in err. */
int log_init(const char *level, const char *format, rlv_err *err);
int log_enabled(log_level lv);

/* A free-form line: log_msg(LOG_INFO, "listening on %s", ep). */
void log_msg(log_level lv, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The one line per request: id (already rendered as text, sanitised here), op, outcome
 * ("ok" or an error code), candidate count, milliseconds, and the error message if any. */
void log_request(const char *id, const char *op, const char *outcome, int candidates, double ms, const char *message);

#endif
