/* stats.h — rlaifvd's counters and latency percentiles for the `stats` op.
 * Owns: requests by op and outcome, undeliverable replies, queued jobs skipped because their
 * client disconnected, and a window of the last
 * STATS_WINDOW latencies (exact percentiles over that window). Touched only by the
 * frontend thread, so it needs no lock (frontend.c invariant 1). */
#ifndef RLVD_STATS_H
#define RLVD_STATS_H

#include <stdint.h>

#define STATS_WINDOW 4096
#define STATS_MAX_KEYS 64

typedef struct stats_counter {
    char key[48];      /* "score.ok", "score.busy", "ping.ok", ... */
    uint64_t count;
} stats_counter;

typedef struct rlvd_stats {
    stats_counter counters[STATS_MAX_KEYS];
    int n_counters;
    uint64_t requests, undeliverable;
    uint64_t skipped_disconnected; /* queued score jobs dropped unrun: their client disconnected */
    double lat_ms[STATS_WINDOW];  /* ring of the last latencies of answered score jobs */
    uint64_t n_lat;
} rlvd_stats;

void stats_init(rlvd_stats *s);
/* Counts one reply of `op` with `outcome` ("ok" or an error code). */
void stats_count(rlvd_stats *s, const char *op, const char *outcome);
/* Adds one latency (milliseconds) to the window. */
void stats_latency(rlvd_stats *s, double ms);
/* Percentile p in [0, 100] over the window (0 when empty). */
double stats_percentile(const rlvd_stats *s, double p);

#endif
