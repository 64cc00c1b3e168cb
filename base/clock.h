/* clock.h — the monotonic clock in milliseconds: the time base of job deadlines, queue ages and
 * request timeouts in every module (core's forward loops, the daemon, the client library).
 * Owns nothing; header-only. Knows nothing of models or the wire. */
#ifndef RLV_CLOCK_H
#define RLV_CLOCK_H

#include <time.h>

static inline double clock_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
