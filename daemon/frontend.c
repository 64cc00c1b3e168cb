/* frontend.c — the ROUTER loop of rlaifvd.
 *
 * Invariants:
 * (1) Only this thread touches the ROUTER socket; workers see jobs through inproc only.
 * (2) Every request gets exactly one reply: a decode error, `busy`, `timeout`,
 *     `shutting_down` or the worker's reply. A reply that cannot be routed (the client is
 *     gone: ZMQ_ROUTER_MANDATORY makes that visible) is counted as undeliverable, never silent.
 *     A client whose pipe is full (SNDHWM replies it has not read: EAGAIN) is not a reason to
 *     drop: its reply waits in the job slot and the frontend stops reading requests (all of
 *     them: a ROUTER cannot read one peer's) until the waiting replies are sent, so the clients'
 *     sends block instead. A reply that waited reply-hold-ms is dropped and counted, and its peer
 *     remembered as not reading (its next full pipe drops at once): one stuck client cannot stop
 *     the daemon reading for longer than that.
 * (3) A job slot belongs to exactly one owner at a time: the frontend from receipt to dispatch
 *     and again from the worker's "done" to the reply; the worker in between. Slots come from
 *     a pool sized at start-up (max_queue + workers + 1): nothing is allocated per request except
 *     the reply body, which ZeroMQ frees after sending. Requests are read only while no reply
 *     waits, so queued + running jobs leave a slot free for the next one.
 * (4) Memory: requests are held only by queued and running jobs, whose body bytes held_bytes
 *     counts against max-queued-bytes; with the fixed pool that bounds RSS (docs/operations.md).
 * (6) HTTP requests (daemon/http.c) arrive on the same ROUTER through RLVD_HTTP_EP, as msgpack
 *     requests from one inproc DEALER: everything above holds for them unchanged. The HTTP thread
 *     answers its own request only when this loop can no longer (after the drain).
 * (5) A queued job whose client disconnected is dropped unrun (stats skipped_disconnected):
 *     the ROUTER's monitor reports ACCEPTED / DISCONNECTED with the connection's fd, and a job
 *     knows the fd its request came on (ZMQ_SRCFD). An fd is reused by the next connection, so
 *     the monitor is drained before every read of the ROUTER (epoch k = the k-th drain) and a
 *     job is taken for the closed connection's only when that is certain (drain_monitor).
 *
 * Job states:  RECEIVED -> (bad request) -> REPLIED
 *              RECEIVED -> QUEUED -> RUNNING -> REPLIED
 *              RECEIVED -> (queue full) busy -> REPLIED
 *              QUEUED -> EXPIRED (deadline passed before a worker took it) timeout -> REPLIED
 *              RECEIVED -> (max-queued-bytes reached) busy -> REPLIED
 *              RECEIVED -> (its client has max-peer-jobs queued or running) busy -> REPLIED
 *              QUEUED -> (client disconnected) SKIPPED
 *              RUNNING -> (max-job-ms passed, the engine stops at a layer) timeout -> REPLIED
 *              any reply -> (peer's pipe full) WAITING -> REPLIED, or after reply-hold-ms dropped
 *              QUEUED -> (SIGTERM) shutting_down -> REPLIED;  RUNNING jobs finish and reply;
 *              then requests still arriving get shutting_down until the socket is quiet.
 */
#include "frontend.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "curve.h"
#include "err.h"
#include "hugemem.h"
#include "prefix.h"
#include "job.h"
#include "log.h"
#include "rlaifv_proto.h"
#include "stats.h"
#include "worker.h"

volatile sig_atomic_t rlvd_stop = 0;
volatile sig_atomic_t rlvd_signal = 0;
_Atomic int rlvd_phase_now = RLVD_LOADING;

#define STUCK_PEERS 16     /* routing ids remembered as not reading */
#define MONITOR_BATCH 256  /* monitor events handled per drain */
#define MONITOR_EP "inproc://rlvd-router-monitor"

typedef struct frontend {
    const rlvd_settings *cfg;
    rlv_engine *engine;
    void *zctx, *router, *backend;
    rlvd_pool pool;
    rlvd_job **queue;            /* ring of max_queue */
    int q_head, q_len;
    rlvd_worker *workers;
    zmq_msg_t *idle;             /* identity frames of idle workers (stack) */
    int n_idle, n_running;
    int n_failed_workers;        /* ready frames with a failed open status (start-up stops) */
    rlv_proto_reply *rep;            /* for replies built here */
    rlv_proto_limits lim;
    rlvd_stats stats;
    size_t held_bytes;           /* body bytes of queued + running score jobs (invariant 4) */
    double t_start_ms;
    int draining;
    rlvd_job **waiting;          /* jobs whose reply waits for room in its peer's pipe, oldest first [pool.n] */
    int n_waiting;
    struct { uint8_t id[256]; size_t len; } stuck[STUCK_PEERS]; /* peers seen not reading (invariant 2) */
    int n_stuck, stuck_next;
    void *monitor;               /* PAIR: the ROUTER's ACCEPTED / DISCONNECTED events (invariant 5) */
    uint64_t epoch;              /* monitor drains so far */
    uint16_t ev_kind[MONITOR_BATCH];
    int ev_fd[MONITOR_BATCH];
} frontend;

/* The id as log text: a sanitised sample of its msgpack bytes. */
static void id_text(const rlvd_job *j, char *buf, size_t cap) {
    rlv_proto_id_text(buf, cap, j->req.id, j->req.id_len);
}

static void free_body(void *data, void *hint) {
    (void)hint;
    free(data);
}

static void undeliverable(frontend *f, const char *why) {
    f->stats.undeliverable++;
    log_msg(LOG_WARN, "reply undeliverable: %s", why);
}

/* The peer's index in the not-reading list, or -1. */
static int stuck_find(const frontend *f, zmq_msg_t *id) {
    size_t n = zmq_msg_size(id);
    for (int i = 0; i < f->n_stuck; i++)
        if (f->stuck[i].len == n && !memcmp(f->stuck[i].id, zmq_msg_data(id), n)) return i;
    return -1;
}

static void stuck_add(frontend *f, zmq_msg_t *id) {
    size_t n = zmq_msg_size(id);
    if (stuck_find(f, id) >= 0 || n > sizeof f->stuck[0].id) return;
    int i = f->n_stuck < STUCK_PEERS ? f->n_stuck++ : f->stuck_next++ % STUCK_PEERS;
    memcpy(f->stuck[i].id, zmq_msg_data(id), n);
    f->stuck[i].len = n;
}

/* A reply got through: the peer reads again. */
static void stuck_clear(frontend *f, zmq_msg_t *id) {
    int i = f->n_stuck ? stuck_find(f, id) : -1;
    if (i >= 0) f->stuck[i] = f->stuck[--f->n_stuck];
}

/* Sends j's envelope, then *body (ZeroMQ takes it). Returns 0 sent, 1 the peer's pipe is full
 * (EAGAIN; nothing was sent), -1 not routable (the client is gone). */
static int try_send(frontend *f, rlvd_job *j, zmq_msg_t *body) {
    for (int i = 0; i < j->n_env; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_copy(&m, &j->env[i]) != 0) {
            zmq_msg_close(&m);
            return -1;
        }
        if (zmq_msg_send(&m, f->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            int e = zmq_errno();
            zmq_msg_close(&m);
            return i == 0 && e == EAGAIN ? 1 : -1; /* the HWM counts whole messages: only the first frame finds it */
        }
    }
    return zmq_msg_send(body, f->router, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Sends envelope + body; the body is handed to ZeroMQ (freed by it) when owned != 0. A full
 * pipe makes the reply wait in the job (invariant 2); finish() then keeps the slot. */
static void send_reply(frontend *f, rlvd_job *j, const uint8_t *body, size_t len, int owned) {
    zmq_msg_t m;
    if (owned ? zmq_msg_init_data(&m, (void *)body, len, free_body, NULL) != 0 : zmq_msg_init_size(&m, len) != 0) {
        if (owned) free((void *)body);
        undeliverable(f, "out of memory for the reply message");
        return;
    }
    if (!owned) memcpy(zmq_msg_data(&m), body, len);
    int r = try_send(f, j, &m);
    if (r == 1 && stuck_find(f, &j->env[0]) < 0) {
        zmq_msg_init(&j->out);
        zmq_msg_move(&j->out, &m);
        j->waiting = 1;
        j->t_wait_ms = clock_now_ms();
        f->waiting[f->n_waiting++] = j;
    } else if (r == 1) {
        undeliverable(f, "the client has not read its replies for reply-hold-ms");
    } else if (r < 0) {
        undeliverable(f, zmq_strerror(zmq_errno()));
    } else {
        stuck_clear(f, &j->env[0]);
    }
    zmq_msg_close(&m);
}

/* Retries the waiting replies, oldest first. One that waited reply-hold-ms is dropped (counted)
 * and its peer remembered as not reading, which drops its other waiting replies too. */
static void flush_waiting(frontend *f) {
    double now = clock_now_ms();
    int kept = 0;
    for (int i = 0; i < f->n_waiting; i++) {
        rlvd_job *j = f->waiting[i];
        int r = try_send(f, j, &j->out);
        if (r == 1 && now - j->t_wait_ms < f->cfg->reply_hold_ms && stuck_find(f, &j->env[0]) < 0) {
            f->waiting[kept++] = j;
            continue;
        }
        if (r == 1) {
            stuck_add(f, &j->env[0]);
            undeliverable(f, "the client read no reply for reply-hold-ms");
        } else if (r < 0) {
            undeliverable(f, zmq_strerror(zmq_errno()));
        } else {
            stuck_clear(f, &j->env[0]);
        }
        job_release(&f->pool, j);
    }
    f->n_waiting = kept;
}

static void finish(frontend *f, rlvd_job *j, const char *outcome, const char *message) {
    const char *op = rlv_proto_op_name(j->req.op);
    double ms = clock_now_ms() - j->t_recv_ms;
    char id[128];
    id_text(j, id, sizeof id);
    stats_count(&f->stats, j->http ? "http" : "zmq", op, outcome);
    f->held_bytes -= j->held_bytes;
    j->held_bytes = 0;
    if (j->req.op == RLV_PROTO_OP_SCORE && !strcmp(outcome, "ok")) {
        stats_latency(&f->stats, ms);
        if (j->t_dispatch_ms) stats_stage_add(&f->stats, STAGE_QUEUE, j->t_dispatch_ms - j->t_recv_ms);
        for (int k = 0; k < 3; k++) stats_stage_add(&f->stats, STAGE_IMAGE + k, j->stage_ms[k]);
        stats_stage_add(&f->stats, STAGE_TOTAL, ms);
        f->stats.candidate_tokens += (uint64_t)j->tokens;
    }
    log_request(id, op, outcome, (int)j->req.n_candidates, ms, message && *message ? message : NULL);
    if (j->waiting) { /* the slot stays with its reply; the request is not needed any more */
        zmq_msg_close(&j->body);
        zmq_msg_init(&j->body);
    } else {
        job_release(&f->pool, j);
    }
}

/* Replies with an error built here and releases the job. */
static void reply_error(frontend *f, rlvd_job *j, rlv_proto_code code, const char *fmt, ...) {
    char msg[RLV_PROTO_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len;
    if (rlv_proto_reply_error(f->rep, j->req.id, j->req.id_len, code, "%s", msg) == RLV_PROTO_OK) {
        const uint8_t *b = rlv_proto_reply_data(f->rep, &len);
        send_reply(f, j, b, len, 0);
    }
    finish(f, j, rlv_proto_code_name(code), msg);
}

struct kv_ctx { frontend *f; rlv_proto_error *err; };
static void add_setting(void *ctx, const char *key, const char *value) {
    struct kv_ctx *c = ctx;
    rlv_proto_reply_add_str(c->f->rep, key, value, c->err);
}

/* The prefix cache's counters, in both info and stats. */
static rlv_proto_code add_prefix_cache(rlv_proto_reply *r, const rlv_engine_info *in, rlv_proto_error *e) {
    rlv_proto_code rc = rlv_proto_reply_open_map(r, "prefix_cache", e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "hits", in->prefix_cache_hits, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "misses", in->prefix_cache_misses, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "entries", in->prefix_cache_entries, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "used_bytes", in->prefix_cache_used_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "capacity_bytes", in->prefix_cache_capacity_bytes, e);
    return rc ? rc : rlv_proto_reply_close(r, e);
}

static rlv_proto_code build_info(frontend *f, rlvd_job *j, rlv_proto_error *e) {
    rlv_engine_info in;
    rlv_engine_get_info(f->engine, &in);
    rlv_proto_reply *r = f->rep;
    rlv_proto_code rc = rlv_proto_reply_begin(r, j->req.id, j->req.id_len, e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "version", RLV_VERSION, e);
    rc = rc ? rc : rlv_proto_reply_add_int(r, "protocol", RLV_PROTO_VERSION, e);
    rc = rc ? rc : rlv_proto_reply_add_bool(r, "demo", f->cfg->demo != 0, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "models", e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "policy", in.policy_dir, e);
    rc = rc ? rc : (in.reference_dir ? rlv_proto_reply_add_str(r, "reference", in.reference_dir, e)
                                     : rlv_proto_reply_add_nil(r, "reference", e));
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "model", e);
    struct { const char *k; int v; } ints[] = {
        {"hidden_size", in.hidden_size}, {"num_layers", in.num_layers}, {"num_heads", in.num_heads},
        {"num_kv_heads", in.num_kv_heads}, {"vocab_size", in.vocab_size}, {"num_query", in.num_query},
        {"image_size", in.image_size}, {"vit_width", in.vit_width}, {"vit_blocks", in.vit_blocks},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !rc; i++) rc = rlv_proto_reply_add_int(r, ints[i].k, ints[i].v, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "weight_bytes", in.weight_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "shared_bytes", in.shared_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "repacked_bytes", in.repacked_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "streamed_bytes", in.streamed_bytes, e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "host", e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "cpu", in.cpu, e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "kernel", in.kernel, e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "huge_pages", in.huge_pages, e);
    /* here, not in stats: smaps_rollup walks the page tables, ~3 ms per resident GB of weights */
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "huge_page_bytes", hugemem_huge_bytes(), e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : rlv_proto_reply_open_array(r, "reward_kinds", e);
    for (int k = 0; k < 4 && !rc; k++)
        if (in.reference_dir || k >= RLV_REWARD_LOGP_MEAN) rc = rlv_proto_reply_add_str(r, NULL, rlv_reward_name(k), e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "default_reward", in.reference_dir ? "rlaifv" : "logp_mean", e);
    rc = rc ? rc : rlv_proto_reply_add_double(r, "default_beta", RLV_DEFAULT_BETA, e);
    rc = rc ? rc : rlv_proto_reply_add_limits(r, "limits", &f->lim, e);
    rc = rc ? rc : add_prefix_cache(r, &in, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "settings", e);
    if (!rc) {
        struct kv_ctx c = {f, e};
        settings_each(f->cfg, add_setting, &c);
        rc = e->code;
    }
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    return rc ? rc : rlv_proto_reply_end(r, e);
}

/* stages_ms: {le: [bounds], queue: {buckets: [non-cumulative counts, the last above every
 * bound], count, sum}, image: ..., ...} */
static rlv_proto_code add_stages(rlv_proto_reply *r, const rlvd_stats *s, rlv_proto_error *e) {
    rlv_proto_code rc = rlv_proto_reply_open_map(r, "stages_ms", e);
    rc = rc ? rc : rlv_proto_reply_open_array(r, "le", e);
    for (int b = 0; b < STATS_N_BUCKETS && !rc; b++) rc = rlv_proto_reply_add_double(r, NULL, stats_bucket_ms[b], e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    for (int st = 0; st < STAGE_COUNT && !rc; st++) {
        const stats_hist *h = &s->stage[st];
        rc = rlv_proto_reply_open_map(r, stats_stage_names[st], e);
        rc = rc ? rc : rlv_proto_reply_open_array(r, "buckets", e);
        for (int b = 0; b <= STATS_N_BUCKETS && !rc; b++) rc = rlv_proto_reply_add_uint(r, NULL, h->bucket[b], e);
        rc = rc ? rc : rlv_proto_reply_close(r, e);
        rc = rc ? rc : rlv_proto_reply_add_uint(r, "count", h->count, e);
        rc = rc ? rc : rlv_proto_reply_add_double(r, "sum", h->sum_ms, e);
        rc = rc ? rc : rlv_proto_reply_close(r, e);
    }
    return rc ? rc : rlv_proto_reply_close(r, e);
}

static rlv_proto_code build_stats(frontend *f, rlvd_job *j, rlv_proto_error *e) {
    rlv_engine_info in;
    rlv_engine_get_info(f->engine, &in);
    rlvd_stats *s = &f->stats;
    stats_merge_http(s);
    rlv_proto_reply *r = f->rep;
    rlv_proto_code rc = rlv_proto_reply_begin(r, j->req.id, j->req.id_len, e);
    rc = rc ? rc : rlv_proto_reply_add_double(r, "uptime_s", (clock_now_ms() - f->t_start_ms) / 1e3, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "requests", s->requests, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "replies", e);
    for (int i = 0; i < s->n_counters && !rc; i++) rc = rlv_proto_reply_add_uint(r, s->counters[i].key, s->counters[i].count, e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "undeliverable", s->undeliverable, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "skipped_disconnected", s->skipped_disconnected, e);
    rc = rc ? rc : rlv_proto_reply_add_int(r, "replies_waiting", f->n_waiting, e);
    rc = rc ? rc : rlv_proto_reply_add_int(r, "queue_depth", f->q_len, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "queued_bytes", f->held_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_int(r, "running", f->n_running, e);
    rc = rc ? rc : rlv_proto_reply_add_int(r, "workers", f->cfg->workers, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "image_cache", e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "hits", in.cache_hits, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "misses", in.cache_misses, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "used_bytes", in.cache_used_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "capacity_bytes", in.cache_capacity_bytes, e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : add_prefix_cache(r, &in, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "latency_ms", e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "window", s->n_lat < STATS_WINDOW ? s->n_lat : STATS_WINDOW, e);
    rc = rc ? rc : rlv_proto_reply_add_double(r, "p50", stats_percentile(s, 50), e);
    rc = rc ? rc : rlv_proto_reply_add_double(r, "p90", stats_percentile(s, 90), e);
    rc = rc ? rc : rlv_proto_reply_add_double(r, "p99", stats_percentile(s, 99), e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : rlv_proto_reply_open_map(r, "replies_by_transport", e);
    for (int i = 0; i < s->n_by_transport && !rc; i++)
        rc = rlv_proto_reply_add_uint(r, s->by_transport[i].key, s->by_transport[i].count, e);
    rc = rc ? rc : rlv_proto_reply_close(r, e);
    rc = rc ? rc : add_stages(r, s, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "candidate_tokens", s->candidate_tokens, e);
    rc = rc ? rc : rlv_proto_reply_add_uint(r, "weight_bytes", in.weight_bytes, e);
    rc = rc ? rc : rlv_proto_reply_add_str(r, "version", RLV_VERSION, e);
    rc = rc ? rc : rlv_proto_reply_add_int(r, "protocol", RLV_PROTO_VERSION, e);
    rc = rc ? rc : rlv_proto_reply_add_bool(r, "draining", f->draining != 0, e);
    return rc ? rc : rlv_proto_reply_end(r, e);
}

static void answer_here(frontend *f, rlvd_job *j) {
    rlv_proto_error e = {0};
    rlv_proto_code rc;
    if (j->req.op == RLV_PROTO_OP_PING) {
        rc = rlv_proto_reply_begin(f->rep, j->req.id, j->req.id_len, &e);
        rc = rc ? rc : rlv_proto_reply_add_str(f->rep, "pong", RLV_VERSION, &e);
        rc = rc ? rc : rlv_proto_reply_end(f->rep, &e);
    } else if (j->req.op == RLV_PROTO_OP_INFO) {
        rc = build_info(f, j, &e);
    } else {
        rc = build_stats(f, j, &e);
    }
    if (rc != RLV_PROTO_OK) {
        reply_error(f, j, RLV_PROTO_E_INTERNAL, "building the %s reply: %s", rlv_proto_op_name(j->req.op), e.msg);
        return;
    }
    size_t len;
    const uint8_t *b = rlv_proto_reply_data(f->rep, &len);
    send_reply(f, j, b, len, 0);
    finish(f, j, "ok", NULL);
}

/* Score jobs queued or running for the client j came from (same first routing frame): exactly the
 * slots holding request bytes (invariant 4). The pool is small (max_queue + workers + 1). */
static int peer_jobs(const frontend *f, const rlvd_job *j) {
    size_t n = zmq_msg_size((zmq_msg_t *)&j->env[0]);
    const void *id = zmq_msg_data((zmq_msg_t *)&j->env[0]);
    int c = 0;
    for (int i = 0; i < f->pool.n; i++) {
        rlvd_job *o = &f->pool.jobs[i];
        if (o->held_bytes && o->n_env && zmq_msg_size(&o->env[0]) == n && !memcmp(zmq_msg_data(&o->env[0]), id, n)) c++;
    }
    return c;
}

/* Reads one multipart request (envelope frames, then the body as the last frame) into a job.
 * A slot is always free here: the pool has max_queue + workers + 1 slots, and a reply built
 * here releases its slot before the next request is read. */
static void on_request(frontend *f) {
    rlvd_job *j = job_alloc(&f->pool);
    RLV_ASSERT(j != NULL);
    int overflow = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, f->router, 0) < 0) {
            zmq_msg_close(&m);
            if (zmq_errno() == EINTR) continue;
            break; /* cannot happen after POLLIN; the job is answered below as malformed */
        }
        if (!zmq_msg_more(&m)) {
            zmq_msg_close(&j->body);
            zmq_msg_init(&j->body);
            zmq_msg_move(&j->body, &m);
            zmq_msg_close(&m);
            break;
        }
        if (j->n_env < RLVD_MAX_ENVELOPE) {
            zmq_msg_init(&j->env[j->n_env]);
            zmq_msg_move(&j->env[j->n_env++], &m);
        } else {
            overflow = 1;
        }
        zmq_msg_close(&m);
    }
    j->t_recv_ms = clock_now_ms();
    j->src_fd = zmq_msg_get(&j->body, ZMQ_SRCFD);
    /* inproc has no fd; a ZeroMQ peer naming itself RLVD_HTTP_ID comes on tcp/ipc (invariant 6) */
    j->http = f->cfg->http_bind && j->src_fd < 0 && j->n_env && zmq_msg_size(&j->env[0]) == strlen(RLVD_HTTP_ID) &&
              !memcmp(zmq_msg_data(&j->env[0]), RLVD_HTTP_ID, strlen(RLVD_HTTP_ID));
    j->epoch = f->epoch;
    rlv_proto_error e = {0};
    rlv_proto_code rc = j->n_env == 0 || overflow
                        ? rlv_proto_errorf(&e, RLV_PROTO_E_BAD_REQUEST, "message has %s routing frames",
                                       overflow ? "too many" : "no")
                        : rlv_proto_decode_request(&j->req, zmq_msg_data(&j->body), zmq_msg_size(&j->body), &f->lim, &e);
    if (j->n_env == 0 || overflow) { /* nothing to route a reply to, or not all of the route: count it */
        f->stats.undeliverable++;
        log_msg(LOG_WARN, "request with %s routing frames not answered (undeliverable)", overflow ? "too many" : "no");
        job_release(&f->pool, j);
        return;
    }
    if (rc != RLV_PROTO_OK) {
        char sample[160];
        rlv_proto_sample(sample, sizeof sample, zmq_msg_data(&j->body), zmq_msg_size(&j->body), 64);
        log_msg(LOG_DEBUG, "bad request (%s), body sample: %s", e.msg, sample);
        reply_error(f, j, rc, "%s", e.msg);
        return;
    }
    if (j->req.op != RLV_PROTO_OP_SCORE) {
        answer_here(f, j);
        return;
    }
    if (f->draining) {
        reply_error(f, j, RLV_PROTO_E_SHUTTING_DOWN, "the daemon is shutting down");
        return;
    }
    if ((j->req.reward == RLV_REWARD_RLAIFV || j->req.reward == RLV_REWARD_DPO) &&
        !rlv_engine_has_reference(f->engine)) {
        reply_error(f, j, RLV_PROTO_E_UNSUPPORTED_REWARD, "reward '%s' needs a reference model (start with --ref-model)",
                    rlv_reward_name(j->req.reward));
        return;
    }
    if (f->q_len == f->cfg->max_queue) {
        reply_error(f, j, RLV_PROTO_E_BUSY, "queue full (%d jobs waiting); retry later", f->q_len);
        return;
    }
    /* HTTP jobs all come from one DEALER: not one client. Each HTTP connection has one request at a
     * time, so http-max-connections is their per-client bound. */
    int peer_limit = f->cfg->max_peer_jobs && !j->http;
    int mine = peer_limit ? peer_jobs(f, j) : 0;
    if (peer_limit && mine >= f->cfg->max_peer_jobs) {
        reply_error(f, j, RLV_PROTO_E_BUSY, "this client has %d jobs queued or running, max-peer-jobs %d; retry later", mine,
                    f->cfg->max_peer_jobs);
        return;
    }
    size_t bytes = zmq_msg_size(&j->body);
    if (f->held_bytes + bytes > (size_t)f->cfg->max_queued_bytes) {
        reply_error(f, j, RLV_PROTO_E_BUSY, "queued requests hold %zu bytes, this one %zu, max-queued-bytes %lld; retry later",
                    f->held_bytes, bytes, (long long)f->cfg->max_queued_bytes);
        return;
    }
    j->held_bytes = bytes;
    f->held_bytes += bytes;
    if (j->req.has_deadline) j->deadline_ms = j->t_recv_ms + (double)j->req.deadline_ms;
    f->queue[(f->q_head + f->q_len++) % f->cfg->max_queue] = j;
}

/* Answers queued jobs whose deadline has passed. */
static void expire(frontend *f) {
    double now = clock_now_ms();
    int kept = 0, n = f->q_len;
    for (int i = 0; i < n; i++) {
        rlvd_job *j = f->queue[(f->q_head + i) % f->cfg->max_queue];
        if (j->deadline_ms && now >= j->deadline_ms)
            reply_error(f, j, RLV_PROTO_E_TIMEOUT, "deadline of %lld ms passed after %.1f ms in the queue",
                        (long long)j->req.deadline_ms, now - j->t_recv_ms);
        else
            f->queue[(f->q_head + kept++) % f->cfg->max_queue] = j;
    }
    f->q_len = kept;
}

/* Drops the queued jobs that came on fd with an epoch below `before` (invariant 5). */
static void skip_disconnected(frontend *f, int fd, uint64_t before) {
    int kept = 0, n = f->q_len;
    for (int i = 0; i < n; i++) {
        rlvd_job *j = f->queue[(f->q_head + i) % f->cfg->max_queue];
        if (j->src_fd != fd || j->epoch >= before) {
            f->queue[(f->q_head + kept++) % f->cfg->max_queue] = j;
            continue;
        }
        char id[128];
        id_text(j, id, sizeof id);
        log_request(id, rlv_proto_op_name(j->req.op), "skipped_disconnected", (int)j->req.n_candidates,
                    clock_now_ms() - j->t_recv_ms, "the client disconnected before a worker took the job");
        f->stats.skipped_disconnected++;
        f->held_bytes -= j->held_bytes;
        job_release(&f->pool, j);
    }
    f->q_len = kept;
}

/* Reads the ROUTER's pending monitor events (epoch k). DISCONNECTED(fd) drops the queued jobs of
 * that connection: all jobs on fd when no later ACCEPTED(fd) is in the batch (a newer connection on
 * fd would have been accepted, hence reported, before its request was read); with one, only jobs
 * read before drain k - 1 (those after it may be the new connection's). A full batch counts as
 * having one. */
static void drain_monitor(frontend *f) {
    uint64_t k = ++f->epoch;
    int n = 0;
    while (n < MONITOR_BATCH) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, f->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            break;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev)) zmq_msg_recv(&addr, f->monitor, 0); /* the endpoint: not needed */
        if (zmq_msg_size(&ev) == 6) { /* uint16 event, uint32 value (the fd) */
            uint16_t kind;
            uint32_t fd;
            memcpy(&kind, zmq_msg_data(&ev), 2);
            memcpy(&fd, (uint8_t *)zmq_msg_data(&ev) + 2, 4);
            f->ev_kind[n] = kind;
            f->ev_fd[n++] = (int)fd;
        }
        zmq_msg_close(&addr);
        zmq_msg_close(&ev);
    }
    for (int i = 0; i < n; i++) {
        if (f->ev_kind[i] != ZMQ_EVENT_DISCONNECTED) continue;
        int reused = n == MONITOR_BATCH;
        for (int t = i + 1; t < n && !reused; t++) reused = f->ev_kind[t] == ZMQ_EVENT_ACCEPTED && f->ev_fd[t] == f->ev_fd[i];
        skip_disconnected(f, f->ev_fd[i], reused ? k - 1 : k);
    }
}

static void dispatch(frontend *f) {
    expire(f);
    while (f->n_idle && f->q_len) {
        rlvd_job *j = f->queue[f->q_head];
        f->q_head = (f->q_head + 1) % f->cfg->max_queue;
        f->q_len--;
        j->t_dispatch_ms = clock_now_ms();
        zmq_msg_t *wid = &f->idle[--f->n_idle];
        /* The backend is ROUTER_MANDATORY: a worker that is gone fails the send instead of the
         * job vanishing. Inproc to a live worker does not fail; if it does, the client hears it. */
        int sent = zmq_msg_send(wid, f->backend, ZMQ_SNDMORE) >= 0 && zmq_send(f->backend, &j, sizeof j, 0) >= 0;
        zmq_msg_close(wid);
        if (!sent) {
            const char *why = zmq_strerror(zmq_errno());
            log_msg(LOG_ERROR, "cannot hand a job to a worker: %s (%d of %d workers left)", why, f->n_idle + f->n_running,
                    f->cfg->workers);
            reply_error(f, j, RLV_PROTO_E_INTERNAL, "the daemon could not hand the job to a worker: %s", why);
            continue;
        }
        f->n_running++;
    }
}

/* A frame from a worker: its ready frame (int32_t open status, worker.h) or a finished job. */
static void on_worker(frontend *f) {
    zmq_msg_t wid;
    zmq_msg_init(&wid);
    if (zmq_msg_recv(&wid, f->backend, 0) < 0) { zmq_msg_close(&wid); return; }
    union { rlvd_job *j; int32_t status; } m = {0};
    int n = zmq_recv(f->backend, &m, sizeof m, 0);
    if (n == (int)sizeof m.status && m.status != RLV_OK) { /* it logged why and ended */
        f->n_failed_workers++;
        zmq_msg_close(&wid);
        return;
    }
    zmq_msg_init(&f->idle[f->n_idle]);
    zmq_msg_move(&f->idle[f->n_idle++], &wid);
    zmq_msg_close(&wid);
    rlvd_job *j = m.j;
    if (n != (int)sizeof j || !j) return; /* ready */
    f->n_running--;
    if (j->reply) {
        send_reply(f, j, j->reply, j->reply_len, 1);
        j->reply = NULL; /* ZeroMQ owns it now */
        finish(f, j, j->outcome ? j->outcome : "internal", j->message);
    } else {
        reply_error(f, j, RLV_PROTO_E_INTERNAL, "the worker could not build a reply");
    }
}

static int is_local(const char *ep) {
    return prefix_skip(ep, "ipc://") || prefix_skip(ep, "inproc://") || prefix_skip(ep, "tcp://127.") ||
           prefix_skip(ep, "tcp://localhost:") || prefix_skip(ep, "tcp://[::1]:");
}

/* 1 when a process accepts connections on the unix socket of an ipc:// endpoint: ZeroMQ would
 * unlink it and bind over the live daemon (issue 18). A stale file (ECONNREFUSED) is fine. */
static int ipc_live(const char *ep) {
    const char *path = prefix_skip(ep, "ipc://");
    if (!path) return 0;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) return 0; /* zmq_bind refuses it itself */
    strcpy(a.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    int live = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return live;
}

/* ZeroMQ reads the host of tcp://HOST:PORT as an interface name or an IP address, so
 * tcp://localhost:P names no interface ("No such device"): it binds 127.0.0.1 (IPv4 only). An
 * IPv6 address (tcp://[::1]:P) needs ZMQ_IPV6 on the socket, set by the caller. */
static void bind_endpoint(const char *ep, char *out, size_t cap) {
    const char *port = prefix_skip(ep, "tcp://localhost:");
    if (port) snprintf(out, cap, "tcp://127.0.0.1:%s", port);
    else snprintf(out, cap, "%s", ep);
}

/* zmq_setsockopt that says which option failed: RLV_OK, or RLV_EIO with err (errno kept for
 * socket_error, which then names the socket before it). */
static int set_option(void *s, int opt, const void *v, size_t n, const char *name, rlv_err *err) {
    if (zmq_setsockopt(s, opt, v, n) == 0) return RLV_OK;
    int e = zmq_errno();
    rlv_errf(err, RLV_EIO, "cannot set ZMQ_%s: %s", name, zmq_strerror(e));
    errno = e;
    return RLV_EIO;
}

/* Why a socket could not be created or set up (a NULL s: zmq_socket failed) into err, after what
 * set_option said; returns RLV_EIO. */
static int socket_error(void *s, const char *what, rlv_err *err) {
    if (s && err && err->code == RLV_EIO) { /* set_option's message: name the socket too */
        char opt[RLV_ERR_MSG_MAX];
        snprintf(opt, sizeof opt, "%s", err->msg);
        return rlv_errf(err, RLV_EIO, "cannot set up %s: %s", what, opt);
    }
    return rlv_errf(err, RLV_EIO, "cannot %s %s: %s", s ? "set up" : "create", what, zmq_strerror(zmq_errno()));
}

/* Everything the frontend needs before it serves; RLV_OK or an RLV_E* code with err. */
static int setup(frontend *f, rlv_err *err) {
    const rlvd_settings *c = f->cfg;
    rlv_proto_limits_default(&f->lim);
    f->lim.max_message_bytes = (size_t)c->max_message_bytes;
    f->lim.max_image_bytes = (size_t)c->max_image_bytes;
    f->lim.max_candidates = (size_t)c->max_candidates;
    f->lim.max_candidate_bytes = (size_t)c->max_candidate_bytes;
    f->lim.max_prompt_bytes = (size_t)c->max_prompt_bytes;
    stats_init(&f->stats);
    f->t_start_ms = clock_now_ms();
    int rc = job_pool_init(&f->pool, c->max_queue + c->workers + 1, err);
    if (rc) return rc;
    f->queue = calloc((size_t)c->max_queue, sizeof *f->queue);
    f->idle = calloc((size_t)c->workers, sizeof *f->idle);
    f->workers = calloc((size_t)c->workers, sizeof *f->workers);
    f->waiting = calloc((size_t)f->pool.n, sizeof *f->waiting);
    f->rep = rlv_proto_reply_new();
    if (!f->queue || !f->idle || !f->workers || !f->waiting || !f->rep || !f->zctx)
        return rlv_errf(err, RLV_ENOMEM, "out of memory for the queue (%d), the workers (%d) or the reply builder", c->max_queue,
                        c->workers);
    int curve = c->curve_secret_file != NULL;
    if (!curve && !is_local(c->bind) && !c->insecure)
        return rlv_errf(err, RLV_EINVAL, "refusing to bind %s without CurveZMQ: give --curve-secret-file and --curve-allow-dir, "
                                         "or --insecure to accept anyone on the network", c->bind);
    if (curve && (rc = curve_start(f->zctx, c->curve_allow_dir, err)) != RLV_OK) return rc;
    int one = 1, linger = 2000;
    /* ZeroMQ's own guard: frames far above the protocol limit are refused by the transport
     * (the peer is disconnected); up to twice the limit they are read and answered too_large. */
    int64_t maxmsg = c->max_message_bytes * 2 + 4096;
    if (!(f->router = zmq_socket(f->zctx, ZMQ_ROUTER)) ||
        set_option(f->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one, "ROUTER_MANDATORY", err) ||
        set_option(f->router, ZMQ_LINGER, &linger, sizeof linger, "LINGER", err) ||
        set_option(f->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg, "MAXMSGSIZE", err))
        return socket_error(f->router, "the ROUTER socket", err);
    if (curve && (rc = curve_server_setup(f->router, c->curve_secret_file, err)) != RLV_OK) return rc;
    int unlimited = 0, zero = 0;
    if (!(f->monitor = zmq_socket(f->zctx, ZMQ_PAIR)) ||
        set_option(f->monitor, ZMQ_RCVHWM, &unlimited, sizeof unlimited, "RCVHWM", err) || /* the io thread must never wait on us */
        set_option(f->monitor, ZMQ_LINGER, &zero, sizeof zero, "LINGER", err))
        return socket_error(f->monitor, "the monitor socket", err);
    if (zmq_socket_monitor(f->router, MONITOR_EP, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0 ||
        zmq_connect(f->monitor, MONITOR_EP) != 0)
        return rlv_errf(err, RLV_EIO, "cannot monitor the ROUTER socket: %s", zmq_strerror(zmq_errno()));
    if (ipc_live(c->bind)) return rlv_errf(err, RLV_EIO, "cannot bind %s: another process is listening on it", c->bind);
    /* the HTTP endpoint first: its DEALER (already connected) takes its routing id before any tcp peer */
    if (c->http_bind && zmq_bind(f->router, RLVD_HTTP_EP) != 0)
        return rlv_errf(err, RLV_EIO, "cannot bind %s: %s", RLVD_HTTP_EP, zmq_strerror(zmq_errno()));
    char ep[1024];
    bind_endpoint(c->bind, ep, sizeof ep);
    if (prefix_skip(ep, "tcp://[") && set_option(f->router, ZMQ_IPV6, &one, sizeof one, "IPV6", err))
        return socket_error(f->router, c->bind, err);
    if (zmq_bind(f->router, ep) != 0) return rlv_errf(err, RLV_EIO, "cannot bind %s: %s", c->bind, zmq_strerror(zmq_errno()));
    if (!(f->backend = zmq_socket(f->zctx, ZMQ_ROUTER)) ||
        set_option(f->backend, ZMQ_LINGER, &linger, sizeof linger, "LINGER", err) ||
        set_option(f->backend, ZMQ_ROUTER_MANDATORY, &one, sizeof one, "ROUTER_MANDATORY", err) ||
        zmq_bind(f->backend, RLVD_BACKEND_EP) != 0)
        return socket_error(f->backend, "the workers' socket " RLVD_BACKEND_EP, err);
    for (int i = 0; i < c->workers; i++) {
        f->workers[i] = (rlvd_worker){.id = i, .zctx = f->zctx, .engine = f->engine, .max_candidates = c->max_candidates};
        if ((rc = worker_start(&f->workers[i], err))) return rc;
    }
    log_msg(LOG_INFO, "listening on %s (%s), %d workers, queue %d", c->bind, curve ? "CURVE" : "plain", c->workers,
            c->max_queue);
    return RLV_OK;
}

static void teardown(frontend *f) {
    /* Stop the workers: each idle worker gets the empty frame (all are idle by now). */
    for (int i = 0; i < f->n_idle; i++) {
        if (zmq_msg_send(&f->idle[i], f->backend, ZMQ_SNDMORE) < 0 || zmq_send(f->backend, "", 0, 0) < 0)
            log_msg(LOG_ERROR, "cannot stop a worker: %s (waiting for it anyway)", zmq_strerror(zmq_errno()));
        zmq_msg_close(&f->idle[i]);
    }
    f->n_idle = 0;
    if (f->workers)
        for (int i = 0; i < f->cfg->workers; i++) worker_join(&f->workers[i]);
    for (int i = 0; i < f->q_len; i++) job_release(&f->pool, f->queue[(f->q_head + i) % f->cfg->max_queue]);
    for (int i = 0; i < f->n_waiting; i++) { /* their clients did not read before the drain ended */
        undeliverable(f, "the daemon stopped before the client read it");
        job_release(&f->pool, f->waiting[i]);
    }
    f->n_waiting = 0;
    if (f->router && f->monitor) zmq_socket_monitor(f->router, NULL, 0);
    if (f->monitor) zmq_close(f->monitor);
    if (f->router) zmq_close(f->router);
    if (f->backend) zmq_close(f->backend);
    curve_stop();
    job_pool_free(&f->pool);
    rlv_proto_reply_free(&f->rep);
    free(f->queue);
    free(f->idle);
    free(f->workers);
    free(f->waiting);
}

/* At exit: requests already sent reach the ROUTER a few ms late; each gets its answer
 * (shutting_down for score, ping/info/stats as usual) until the socket has been quiet for
 * DRAIN_QUIET_MS, for at most DRAIN_MAX_MS. */
#define DRAIN_QUIET_MS 50
#define DRAIN_MAX_MS 1000
static void drain_inbound(frontend *f) {
    double t0 = clock_now_ms();
    int n = 0;
    while (clock_now_ms() - t0 < DRAIN_MAX_MS) {
        if (f->n_waiting) flush_waiting(f);
        /* requests are read only while no reply waits (invariant 3) */
        zmq_pollitem_t it = {f->router, 0, f->n_waiting ? 0 : ZMQ_POLLIN, 0};
        int r = zmq_poll(&it, 1, f->n_waiting ? 2 : DRAIN_QUIET_MS);
        if (r < 0 && zmq_errno() == EINTR) continue;
        if (r < 0 || (r == 0 && !f->n_waiting)) break;
        if (!(it.revents & ZMQ_POLLIN)) continue;
        drain_monitor(f);
        on_request(f);
        n++;
    }
    log_msg(LOG_INFO, "drained %d late requests in %.1f ms", n, clock_now_ms() - t0);
}

int frontend_run(const rlvd_settings *cfg, rlv_engine *engine, void *zctx, rlv_err *err) {
    frontend f = {.cfg = cfg, .engine = engine, .zctx = zctx};
    int rc = setup(&f, err);
    if (rc != RLV_OK) {
        /* Workers that started are waiting for the frontend: let them register, then stop them. */
        if (f.backend)
            while (f.n_idle + f.n_failed_workers < cfg->workers) {
                zmq_pollitem_t it = {f.backend, 0, ZMQ_POLLIN, 0};
                if (zmq_poll(&it, 1, 1000) <= 0) break;
                on_worker(&f);
            }
        teardown(&f);
        return rc;
    }
    /* Wait until every worker said ready, so a fast first request finds them. A worker that
     * could not open its workspace stops the daemon here: ping must not look healthy while every
     * score would get `internal`. */
    while (f.n_idle + f.n_failed_workers < cfg->workers) on_worker(&f);
    if (f.n_failed_workers) {
        rc = rlv_errf(err, RLV_ENOMEM, "%d of %d workers could not start (see above): stopping", f.n_failed_workers, cfg->workers);
        teardown(&f);
        return rc;
    }
    rlvd_phase_now = RLVD_READY;
    for (;;) {
        if (rlvd_stop && !f.draining) {
            f.draining = 1;
            rlvd_phase_now = RLVD_DRAINING;
            log_msg(LOG_INFO, "stopping: %d running jobs finish, %d queued get shutting_down", f.n_running, f.q_len);
            while (f.q_len) {
                rlvd_job *j = f.queue[f.q_head];
                f.q_head = (f.q_head + 1) % cfg->max_queue;
                f.q_len--;
                reply_error(&f, j, RLV_PROTO_E_SHUTTING_DOWN, "the daemon is shutting down");
            }
        }
        if (rlvd_signal) {
            int sig = rlvd_signal;
            rlvd_signal = 0;
            if (sig == SIGUSR1)
                log_msg(LOG_INFO, "SIGUSR1: %llu requests, %llu undeliverable replies, %llu skipped (client gone), "
                        "%d queued (%zu bytes), %d running, %d replies waiting",
                        (unsigned long long)f.stats.requests, (unsigned long long)f.stats.undeliverable,
                        (unsigned long long)f.stats.skipped_disconnected, f.q_len, f.held_bytes, f.n_running,
                        f.n_waiting);
            else
                log_msg(LOG_INFO, "%s ignored (logs go to stderr: nothing to reopen)", sig == SIGHUP ? "SIGHUP" : "SIGUSR2");
        }
        if (f.draining && f.n_running == 0) {
            drain_inbound(&f);
            break;
        }
        /* while a reply waits for its client, requests stay unread (invariant 2); retry every 2 ms */
        zmq_pollitem_t items[3] = {{f.router, 0, f.n_waiting ? 0 : ZMQ_POLLIN, 0}, {f.backend, 0, ZMQ_POLLIN, 0},
                                   {f.monitor, 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll(items, 3, f.n_waiting ? 2 : 50);
        if (n < 0 && zmq_errno() != EINTR) break;
        drain_monitor(&f); /* before every read of the ROUTER (invariant 5) */
        if (n > 0 && (items[1].revents & ZMQ_POLLIN)) on_worker(&f);
        if (f.n_waiting) flush_waiting(&f);
        if (n > 0 && (items[0].revents & ZMQ_POLLIN) && !f.n_waiting) on_request(&f);
        dispatch(&f);
    }
    log_msg(LOG_INFO, "stopped after %llu requests (%llu undeliverable replies)",
            (unsigned long long)f.stats.requests, (unsigned long long)f.stats.undeliverable);
    teardown(&f);
    return RLV_OK;
}
