/* stats.c — counters and latency percentiles (see stats.h). */
#include "stats.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stats_init(rlvd_stats *s) { memset(s, 0, sizeof *s); }

const char *const stats_stage_names[STAGE_COUNT] = {"queue", "image", "prefix", "candidates", "total"};
const double stats_bucket_ms[STATS_N_BUCKETS] = STATS_BUCKET_MS;

static void bump(stats_counter *t, int *n, const char *key, uint64_t by) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(t[i].key, key)) {
            t[i].count += by;
            return;
        }
    if (*n == STATS_MAX_KEYS) return; /* transport x op x outcome is a small fixed set; never reached */
    snprintf(t[*n].key, sizeof t[0].key, "%s", key);
    t[(*n)++].count = by;
}

static void count_n(rlvd_stats *s, const char *transport, const char *op, const char *outcome, uint64_t by) {
    char key[48];
    s->requests += by;
    snprintf(key, sizeof key, "%s.%s", op, outcome);
    bump(s->counters, &s->n_counters, key, by);
    snprintf(key, sizeof key, "%s.%s.%s", transport, op, outcome);
    bump(s->by_transport, &s->n_by_transport, key, by);
}

void stats_count(rlvd_stats *s, const char *transport, const char *op, const char *outcome) {
    count_n(s, transport, op, outcome, 1);
}

/* the HTTP thread's notes: "op.outcome" -> count since the last merge */
static pthread_mutex_t http_mu = PTHREAD_MUTEX_INITIALIZER;
static stats_counter http_notes[STATS_MAX_KEYS];
static int n_http_notes;

void stats_note_http(const char *op, const char *outcome) {
    char key[48];
    snprintf(key, sizeof key, "%s.%s", op, outcome);
    pthread_mutex_lock(&http_mu);
    bump(http_notes, &n_http_notes, key, 1);
    pthread_mutex_unlock(&http_mu);
}

void stats_merge_http(rlvd_stats *s) {
    pthread_mutex_lock(&http_mu);
    for (int i = 0; i < n_http_notes; i++) {
        char op[sizeof http_notes[0].key];
        memcpy(op, http_notes[i].key, sizeof op);
        char *dot = strchr(op, '.');
        if (dot && http_notes[i].count) {
            *dot = 0;
            count_n(s, "http", op, dot + 1, http_notes[i].count);
        }
    }
    n_http_notes = 0;
    pthread_mutex_unlock(&http_mu);
}

void stats_stage_add(rlvd_stats *s, stats_stage st, double ms) {
    stats_hist *h = &s->stage[st];
    int b = 0;
    while (b < STATS_N_BUCKETS && ms > stats_bucket_ms[b]) b++;
    h->bucket[b]++;
    h->count++;
    h->sum_ms += ms;
}

void stats_latency(rlvd_stats *s, double ms) { s->lat_ms[s->n_lat++ % STATS_WINDOW] = ms; }

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double stats_percentile(const rlvd_stats *s, double p) {
    size_t n = s->n_lat < STATS_WINDOW ? (size_t)s->n_lat : STATS_WINDOW;
    if (!n) return 0;
    static double tmp[STATS_WINDOW]; /* frontend thread only */
    memcpy(tmp, s->lat_ms, n * sizeof tmp[0]);
    qsort(tmp, n, sizeof tmp[0], cmp_d);
    double r = p / 100.0 * (double)(n - 1); /* linear interpolation between ranks */
    size_t lo = (size_t)r;
    double f = r - (double)lo;
    return lo + 1 < n ? tmp[lo] * (1 - f) + tmp[lo + 1] * f : tmp[lo];
}
