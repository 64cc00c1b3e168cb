/* stats.h — rlaifvd's counters, latency percentiles and stage histograms for the `stats` op
 * (which GET /metrics renders in Prometheus' text format: daemon/metrics.c).
 * Owns: requests by op and outcome, the same by transport ("zmq", "http"), undeliverable replies,
 * queued jobs skipped because their client disconnected, candidate tokens scored, a window of
 * the last STATS_WINDOW latencies (exact percentiles over that window) and one cumulative
 * histogram per job stage (fixed bucket bounds, STATS_BUCKET_MS). An rlvd_stats is touched only
 * by the frontend thread, so it needs no lock (frontend.c invariant 1); the requests the HTTP
 * thread answers itself (routing, auth, body size, JSON shape) are noted in a small table of
 * their own under a mutex (stats_note_http) and merged in by the frontend (stats_merge_http). */
#ifndef RLVD_STATS_H
#define RLVD_STATS_H

#include <stdint.h>

#define STATS_WINDOW 4096
#define STATS_MAX_KEYS 64

/* Histogram bucket upper bounds in ms (the last bucket, +Inf, is implicit). */
#define STATS_BUCKET_MS {1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000}
#define STATS_N_BUCKETS 16

/* The stages of a score job answered ok: queue = receipt to a worker taking it; image, prefix,
 * candidates = the engine's steps (rlv_result); total = receipt to the reply. */
typedef enum { STAGE_QUEUE, STAGE_IMAGE, STAGE_PREFIX, STAGE_CANDIDATES, STAGE_TOTAL, STAGE_COUNT } stats_stage;
extern const char *const stats_stage_names[STAGE_COUNT];
extern const double stats_bucket_ms[STATS_N_BUCKETS];

typedef struct stats_counter {
    char key[48];      /* "score.ok", "score.busy", "ping.ok", ...; by transport "http.score.ok" */
    uint64_t count;
} stats_counter;

typedef struct stats_hist {
    uint64_t bucket[STATS_N_BUCKETS + 1]; /* not cumulative: [i] counts ms <= bound i (and > bound i-1); last: above all */
    uint64_t count;
    double sum_ms;
} stats_hist;

typedef struct rlvd_stats {
    stats_counter counters[STATS_MAX_KEYS];      /* op.outcome */
    stats_counter by_transport[STATS_MAX_KEYS];  /* transport.op.outcome */
    int n_counters, n_by_transport;
    uint64_t requests, undeliverable;
    uint64_t skipped_disconnected; /* queued score jobs dropped unrun: their client disconnected */
    uint64_t candidate_tokens;     /* tokens of the candidates of score jobs answered ok */
    stats_hist stage[STAGE_COUNT];
    double lat_ms[STATS_WINDOW];  /* ring of the last latencies of answered score jobs */
    uint64_t n_lat;
} rlvd_stats;

void stats_init(rlvd_stats *s);
/* Counts one reply of `op` with `outcome` ("ok" or an error code) that came by `transport`. */
void stats_count(rlvd_stats *s, const char *transport, const char *op, const char *outcome);
/* From the HTTP thread: one request it answered itself, without the frontend. */
void stats_note_http(const char *op, const char *outcome);
/* From the frontend thread: adds the noted HTTP counts into s (and clears the notes). */
void stats_merge_http(rlvd_stats *s);
/* Adds one latency (milliseconds) to the window. */
void stats_latency(rlvd_stats *s, double ms);
/* Adds one observation (milliseconds) to a stage's histogram. */
void stats_stage_add(rlvd_stats *s, stats_stage st, double ms);
/* Percentile p in [0, 100] over the window (0 when empty). */
double stats_percentile(const rlvd_stats *s, double p);

#endif
