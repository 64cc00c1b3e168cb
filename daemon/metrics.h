/* metrics.h — the `stats` reply rendered in Prometheus' text exposition format (version 0.0.4)
 * for GET /metrics. The numbers are the stats op's own (daemon/stats.c, built by the frontend), so
 * ZeroMQ's `stats` and HTTP's /metrics can never disagree. Owns only the metric names and help
 * texts (docs/http.md lists them). */
#ifndef RLVD_METRICS_H
#define RLVD_METRICS_H

#include <jansson.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* stats: the stats reply as JSON (reply_to_json). Returns malloc-ed text (caller frees) or NULL
 * when out of memory. */
char *metrics_render(const json_t *stats);

#endif
