/* bench_util.h — the clock and the order statistics every benchmark uses. Header-only. */
#ifndef RLV_BENCH_UTIL_H
#define RLV_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "timing.h"

/* Monotonic seconds. */
static inline double now_s(void) { return clock_now_ms() / 1e3; }

static inline int bench_cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v ascending (so v[0] is the minimum, v[n-1] the maximum) and returns the median. */
static inline double sort_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_d);
    return v[n / 2];
}

/* best[s] = min(best[s], t[s]) stage by stage (first: copy): on a shared machine the least
 * disturbed repetition of each stage is the figure to keep. */
static inline void bench_timing_min(rlv_timing *best, const rlv_timing *t, int first) {
    for (int s = 0; s < RLV_STAGE_N; s++)
        if (first || t->s[s] < best->s[s]) best->s[s] = t->s[s], best->n[s] = t->n[s];
}

/* out = a * fa + b * fb, stage by stage (e.g. per-layer stages scaled to the real depth). */
static inline void bench_timing_axpy(rlv_timing *out, const rlv_timing *a, double fa, const rlv_timing *b, double fb) {
    for (int s = 0; s < RLV_STAGE_N; s++) {
        out->s[s] = a->s[s] * fa + (b ? b->s[s] * fb : 0);
        out->n[s] = (long)(a->n[s] * fa + (b ? b->n[s] * fb : 0));
    }
}

/* One line per stage that ran: seconds, calls, share of the table's total; then the total and
 * the share of everything that is not a matrix product. */
static inline void bench_print_stages(const char *title, const rlv_timing *t) {
    double tot = 0;
    for (int s = 0; s < RLV_STAGE_N; s++) tot += t->s[s];
    printf("  %s: %.3f s\n", title, tot);
    double other = 0;
    for (int s = 0; s < RLV_STAGE_N; s++) {
        if (!t->n[s]) continue;
        printf("    %-16s %10.4f s %8ld calls %7.2f %%\n", timing_stage_name(s), t->s[s], t->n[s],
               tot > 0 ? 100 * t->s[s] / tot : 0);
        if (s != RLV_STAGE_MATMUL && s != RLV_STAGE_LM_HEAD && s != RLV_STAGE_ATTENTION) other += t->s[s];
    }
    printf("    %-16s %10.4f s %14s %7.2f %%\n", "not a product", other, "", tot > 0 ? 100 * other / tot : 0);
}

#endif
