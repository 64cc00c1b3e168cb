/* stats.c — counters and latency percentiles (see stats.h). */
#include "stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void stats_init(rlvd_stats *s) { memset(s, 0, sizeof *s); }

void stats_count(rlvd_stats *s, const char *op, const char *outcome) {
    char key[48];
    snprintf(key, sizeof key, "%s.%s", op, outcome);
    s->requests++;
    for (int i = 0; i < s->n_counters; i++)
        if (!strcmp(s->counters[i].key, key)) {
            s->counters[i].count++;
            return;
        }
    if (s->n_counters == STATS_MAX_KEYS) return; /* op x outcome is a small fixed set; never reached */
    snprintf(s->counters[s->n_counters].key, sizeof s->counters[0].key, "%s", key);
    s->counters[s->n_counters++].count = 1;
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
