/* metrics.c — stats reply -> Prometheus text (see metrics.h). Durations go out in seconds and
 * counters end in _total, as Prometheus' naming rules ask. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf { char *p; size_t len, cap; int oom; } buf;

static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
}

static void head(buf *b, const char *name, const char *type, const char *help) {
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static double num(const json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

/* One sample; integers print exactly, others with Go's %g-like shortest form. */
static void sample(buf *b, const char *name, const char *labels, double v) {
    if (v == (double)(long long)v && v < 9e15 && v > -9e15) put(b, "%s%s %lld\n", name, labels, (long long)v);
    else put(b, "%s%s %.17g\n", name, labels, v);
}

/* a label value: \, " and newline escaped (the keys are the daemon's own names, but be exact) */
static void label_value(char *dst, size_t cap, const char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < cap; i++) {
        if (s[i] == '\\' || s[i] == '"') dst[o++] = '\\', dst[o++] = s[i];
        else if (s[i] == '\n') dst[o++] = '\\', dst[o++] = 'n';
        else dst[o++] = s[i];
    }
    dst[o] = 0;
}

static void requests(buf *b, const json_t *by) {
    head(b, "rlaifv_requests_total", "counter", "Requests answered, by op, transport (zmq, http) and outcome (ok or the error code).");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)by, key, v) { /* "transport.op.outcome" */
        const char *d1 = strchr(key, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
        if (!d2) continue;
        char tr[64], op[64], out[64], labels[256];
        label_value(tr, sizeof tr, key, (size_t)(d1 - key));
        label_value(op, sizeof op, d1 + 1, (size_t)(d2 - d1 - 1));
        label_value(out, sizeof out, d2 + 1, strlen(d2 + 1));
        snprintf(labels, sizeof labels, "{op=\"%s\",transport=\"%s\",outcome=\"%s\"}", op, tr, out);
        sample(b, "rlaifv_requests_total", labels, json_number_value(v));
    }
}

static void stages(buf *b, const json_t *st) {
    const char *name = "rlaifv_stage_duration_seconds";
    head(b, name, "histogram", "Score jobs answered ok: seconds in each stage (queue, image, prefix, candidates) and in all (total).");
    const json_t *le = json_object_get(st, "le");
    const char *stage;
    const json_t *h;
    json_object_foreach((json_t *)st, stage, h) {
        if (!json_is_object(h)) continue;
        const json_t *bk = json_object_get(h, "buckets");
        double cum = 0;
        char labels[160];
        for (size_t i = 0; i < json_array_size(bk); i++) {
            cum += json_number_value(json_array_get(bk, i));
            if (i < json_array_size(le))
                snprintf(labels, sizeof labels, "{stage=\"%s\",le=\"%g\"}", stage, json_number_value(json_array_get(le, i)) / 1e3);
            else
                snprintf(labels, sizeof labels, "{stage=\"%s\",le=\"+Inf\"}", stage);
            char n[80];
            snprintf(n, sizeof n, "%s_bucket", name);
            sample(b, n, labels, cum);
        }
        snprintf(labels, sizeof labels, "{stage=\"%s\"}", stage);
        put(b, "%s_sum%s %.17g\n", name, labels, num(h, "sum") / 1e3);
        sample(b, "rlaifv_stage_duration_seconds_count", labels, num(h, "count"));
    }
}

char *metrics_render(const json_t *s) {
    buf b = {malloc(4096), 0, 4096, 0};
    if (!b.p) return NULL;
    const json_t *ic = json_object_get(s, "image_cache"), *pc = json_object_get(s, "prefix_cache");
    requests(&b, json_object_get(s, "replies_by_transport"));
    stages(&b, json_object_get(s, "stages_ms"));
    struct { const char *name, *type, *help; double v; } one[] = {
        {"rlaifv_queue_depth", "gauge", "Score jobs waiting for a worker.", num(s, "queue_depth")},
        {"rlaifv_queued_bytes", "gauge", "Request bytes held by queued and running score jobs.", num(s, "queued_bytes")},
        {"rlaifv_jobs_running", "gauge", "Score jobs a worker is computing.", num(s, "running")},
        {"rlaifv_workers", "gauge", "Worker threads.", num(s, "workers")},
        {"rlaifv_replies_waiting", "gauge", "Replies waiting for a ZeroMQ client that does not read.", num(s, "replies_waiting")},
        {"rlaifv_undeliverable_replies_total", "counter", "Replies that could not be delivered (the client was gone).", num(s, "undeliverable")},
        {"rlaifv_skipped_disconnected_total", "counter", "Queued score jobs dropped unrun because their client disconnected.", num(s, "skipped_disconnected")},
        {"rlaifv_candidate_tokens_total", "counter", "Candidate tokens scored by jobs answered ok.", num(s, "candidate_tokens")},
        {"rlaifv_image_cache_hits_total", "counter", "Image-embedding cache hits.", num(ic, "hits")},
        {"rlaifv_image_cache_misses_total", "counter", "Image-embedding cache misses.", num(ic, "misses")},
        {"rlaifv_image_cache_used_bytes", "gauge", "Bytes held by the image-embedding cache.", num(ic, "used_bytes")},
        {"rlaifv_prefix_cache_hits_total", "counter", "Prefix-cache hits (per model).", num(pc, "hits")},
        {"rlaifv_prefix_cache_misses_total", "counter", "Prefix-cache misses (per model).", num(pc, "misses")},
        {"rlaifv_prefix_cache_used_bytes", "gauge", "Bytes held by the prefix cache.", num(pc, "used_bytes")},
        {"rlaifv_weight_bytes", "gauge", "Bytes of model weights loaded.", num(s, "weight_bytes")},
        {"rlaifv_uptime_seconds", "gauge", "Seconds since the daemon started serving.", num(s, "uptime_s")},
        {"rlaifv_draining", "gauge", "1 while the daemon drains after SIGTERM.", json_is_true(json_object_get(s, "draining"))},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        head(&b, one[i].name, one[i].type, one[i].help);
        sample(&b, one[i].name, "", one[i].v);
    }
    char labels[160], ver[64];
    const char *v = json_string_value(json_object_get(s, "version"));
    label_value(ver, sizeof ver, v ? v : "", v ? strlen(v) : 0);
    snprintf(labels, sizeof labels, "{version=\"%s\",protocol=\"%d\"}", ver, (int)num(s, "protocol"));
    head(&b, "rlaifv_build_info", "gauge", "The daemon's version and wire-protocol version (value 1).");
    sample(&b, "rlaifv_build_info", labels, 1);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
