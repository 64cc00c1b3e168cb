/* cmd_eval.c — `rlaifv eval`: score a data set (JSON lines or a JSON array, docs/eval.md) with
 * the models loaded once, or through rlaifvd with several requests in flight.
 *
 * Design notes:
 * (1) Fail fast: the server is pinged and its `info` read (is the reward kind available? how
 *     many workers?), or the model loaded and the reward checked, before the first row is read.
 *     When that fails nothing is scored and the exit status is 3.
 * (2) Rows go through a ring of slots: FREE -> READY (parsed, to score) -> TAKEN (a scorer
 *     thread has it) -> DONE -> written and FREE again. Rows that need no scoring (bad, repeated
 *     id, already in --out) go straight to DONE. Only this thread reads the input and writes the
 *     output, always at the ring's head, so records leave in input order whatever the order the
 *     replies came in.
 * (3) Output durability: each record is one write() of its whole line, every write is checked,
 *     the file is fsync-ed at the end, and a last line without its newline (a run killed
 *     mid-write) is cut before resuming; ids already in --out are skipped. A killed run therefore
 *     loses at most the records in flight and duplicates none. A write error stops the run.
 * (4) The summary is computed from the whole output file after the run (old and new records)
 *     plus the rows that failed in this run, so a resumed run reports the same figures as one
 *     uninterrupted run.
 * (5) --shard i/n keeps the rows whose id falls in shard i (eval_shard.h) before parsing them (no
 *     image of another shard is read) and writes OUT.shard.json at the end; --merge puts the
 *     shards' outputs back into input order and summarises them as (4) does one run's.
 * Exit status: 0 every row scored (now or before); 1 some rows failed, or a write error; 2 bad
 * options; 3 nothing could be scored (the check of (1) failed, or rows failed and the output
 * holds no record at all). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_args.h"
#include "clock.h"
#include "cmd.h"
#include "eval_input.h"
#include "eval_report.h"
#include "eval_shard.h"
#include "eval_summary.h"
#include "reply_json.h"
#include "rlaifv_client.h"
#include "rlaifv.h"

#define EVAL_EXIT_FAILED_LINES 1
#define EVAL_EXIT_USAGE 2
#define EVAL_EXIT_NOTHING 3
#define EVAL_MAX_CONCURRENCY 256
#define EVAL_CHECK_TIMEOUT_MS 5000 /* the ping / info before the first row */

static void usage(FILE *f) {
    fprintf(f,
            "usage: rlaifv eval [--model DIR [--ref-model DIR]] --in FILE --out FILE.jsonl [options]\n"
            "       rlaifv eval --server ENDPOINT[,ENDPOINT...] [--server-key F.pub --client-key F.key] --in FILE --out FILE.jsonl [options]\n"
            "       rlaifv eval --merge --in FILE --out FILE.jsonl [--summary F --report F --group-by F] SHARD.jsonl...\n"
            "  Scores every row of FILE (JSON lines or one JSON array; formats in docs/eval.md), writes one\n"
            "  record per scored row to --out in input order, resumes by skipping ids already there, and\n"
            "  prints a summary of the whole output file as JSON (items, errors by code, mean/std reward,\n"
            "  pairwise accuracy with ties apart, top-1 accuracy against 'gold').\n"
            "  Without --model and --server: the embedded demo pair, as rlaifvd. Several --server endpoints\n"
            "  (daemons serving the same models): each row goes to the one with the fewest rows in flight;\n"
            "  a row answered busy or shutting_down, unanswered in time, or whose daemon drops the\n"
            "  connection is sent to another (docs/scaling.md). --server http://HOST:PORT: rlaifvd's HTTP\n"
            "  front end, or a load balancer in front of several (--api-key-file F: F's first line is the\n"
            "  Bearer key); its default concurrency is 1 (/v1/models does not say the workers).\n"
            "options:\n"
            "  --reward KIND          rlaifv, dpo, logp_mean or logp_sum (default: rlaifv with a reference model)\n"
            "  --beta B               > 0 (default 0.1)\n"
            "  --token-logps          keep each candidate's per-token log-probs in the records\n"
            "  --group-by FIELD       the summary per value of a row field (ds_name, origin_dataset, ...)\n"
            "  --summary FILE.json    also write the summary there\n"
            "  --report FILE.html     one self-contained HTML page: the summary table, the reward margin\n"
            "                         (chosen - rejected) histogram and the accuracy per group\n"
            "  --image-root DIR       where relative image paths are (default: the input file's folder)\n"
            "  --concurrency N        rows scored at once, 1..256 (default: the daemon's workers from\n"
            "                         `info` times the endpoints with --server, 1 offline: each offline\n"
            "                         one holds a worker)\n"
            "  --timeout-ms N         --server: wait per request, 1..86400000 (default 600000: a row may\n"
            "                         wait behind others in the daemon's queue)\n"
            "  --retries N            --server: tries after a timeout, 0..100 (default 0; n endpoints add\n"
            "                         n - 1); 'busy' replies (from every endpoint) are always retried with\n"
            "                         backoff (0.05 s doubling to 2 s, 8 tries)\n"
            "  --shard I/N            score only the rows of shard I of N (0 <= I < N, by a hash of the row's\n"
            "                         id) and write OUT.shard.json for --merge (docs/eval.md \"Sharding\")\n"
            "  --merge SHARD.jsonl... the outputs of all N shards into --out in input order, as one run would\n"
            "                         have written it, and its summary; inconsistent shards write nothing\n"
            "  --blas-threads N, --compute fp32|bf16, --prefix-cache-mb MB   offline engine settings\n"
            "                         (docs/operations.md)\n"
            "  --version, --help\n"
            "  Options take `--key value` or `--key=value`.\n"
            "exit status: 0 all rows scored; 1 some rows failed (count on stderr) or the output could not\n"
            "  be written; 2 bad options; 3 nothing could be scored (server or model check failed, or rows\n"
            "  failed and the output holds no record), or --merge found the shards inconsistent.\n");
}

static double now_s(void) { return clock_now_ms() / 1e3; }

/* ---- output file (design note 3) ---- */

/* Cuts a regular file back to its last newline. Returns 0, or -1 with errno. */
static int cut_partial_line(int fd) {
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) return 0;
    off_t end = st.st_size;
    char buf[4096];
    while (end > 0) {
        off_t from = end > (off_t)sizeof buf ? end - (off_t)sizeof buf : 0;
        ssize_t n = pread(fd, buf, (size_t)(end - from), from);
        if (n != end - from) return -1;
        for (ssize_t i = n; i > 0; i--)
            if (buf[i - 1] == '\n') {
                off_t keep = from + i;
                if (keep == st.st_size) return 0;
                fprintf(stderr, "rlaifv eval: cutting a partial last line (%lld bytes) before resuming\n",
                        (long long)(st.st_size - keep));
                return ftruncate(fd, keep);
            }
        end = from;
    }
    fprintf(stderr, "rlaifv eval: cutting a partial line (%lld bytes, no newline) before resuming\n", (long long)st.st_size);
    return ftruncate(fd, 0);
}

/* Writes all n bytes (one write() unless the kernel takes fewer). On an error after part of the
 * line went out, cuts the file back to its size before. 0 or -1 with errno. */
static int write_line(int fd, const char *p, size_t n) {
    off_t before = lseek(fd, 0, SEEK_END);
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            if (done && before >= 0 && ftruncate(fd, before)) {} /* best effort: keep whole lines */
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    return 0;
}

static int is_regular(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Each record of a regular output file: its id key into done (if non-NULL), the record into sum
 * (if non-NULL). A line that does not parse is ignored (cut_partial_line ran before). */
static void read_output(const char *out, json_t *done, eval_summary *sum) {
    if (!is_regular(out)) return;
    FILE *f = fopen(out, "r");
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *id = json_object_get(o, "id");
        char *k = id && done ? eval_id_key(id) : NULL;
        if (k) json_object_set_new(done, k, json_true());
        if (o && sum) eval_summary_add_record(sum, o);
        free(k);
        json_decref(o);
    }
    free(line);
    fclose(f);
}

/* ---- scoring (design note 2) ---- */

enum { SLOT_FREE, SLOT_READY, SLOT_TAKEN, SLOT_DONE };

typedef struct slot {
    eval_item it;
    int state;
    int skip;          /* already in --out */
    json_t *res;       /* the score result, or NULL with it.code set */
} slot;

typedef struct eval_run {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    slot *ring;        /* [cap] */
    long cap, head, tail;
    int stop;
    rlv_engine *engine;           /* offline, or NULL */
    rlv_reward_kind reward;
    double beta;
    int token_logps;
} eval_run;

typedef struct scorer {
    eval_run *run;
    rlv_worker *w;                /* offline */
    rlv_client *c;                /* --server */
    pthread_t th;
} scorer;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Scores one item; the result JSON, or NULL with it->code / it->msg. */
static json_t *score_item(scorer *sc, eval_item *it) {
    eval_run *r = sc->run;
    if (sc->c) {
        rlv_client_job job = {.image = it->image, .image_len = it->image_len, .prompt = it->prompt,
                              .candidates = it->cands, .n_candidates = it->n,
                              .reward = r->reward == RLV_REWARD_DEFAULT ? NULL : rlv_reward_name(r->reward),
                              .beta = r->beta, .token_logps = r->token_logps, .deadline_ms = -1};
        rlv_client_error ce;
        rlv_proto_score_result *res = NULL;
        int rc = -1;
        for (int attempt = 0, wait_ms = 50; attempt < 8; attempt++, wait_ms = wait_ms < 1000 ? 2 * wait_ms : 2000) {
            rc = rlv_client_score(sc->c, &job, &res, &ce);
            if (rc != 1 || ce.code != RLV_PROTO_E_BUSY) break;
            sleep_ms(wait_ms); /* the daemon's queue is full: back off and try again */
        }
        if (rc != 0) {
            snprintf(it->code, sizeof it->code, "%s", ce.name);
            snprintf(it->msg, sizeof it->msg, "%s", ce.message);
            return NULL;
        }
        /* the numbers as `rlaifv score` prints them (10 significant digits), the precision the
         * HTTP front end sends: a row's record and margin are the same bytes over either transport */
        json_t *typed = score_result_json(res);
        rlv_client_result_free(&res);
        char *text = json_dumps(typed, REPLY_JSON_FLAGS);
        json_decref(typed);
        json_t *out = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (!out) {
            snprintf(it->code, sizeof it->code, "client_error");
            snprintf(it->msg, sizeof it->msg, "out of memory");
        }
        return out;
    }
    rlv_job job = {.image = it->image, .image_len = it->image_len, .prompt = it->prompt,
                   .prompt_len = strlen(it->prompt), .n_candidates = it->n, .candidates = it->cands,
                   .candidate_lens = it->lens, .reward = r->reward, .beta = r->beta, .token_logps = r->token_logps};
    const rlv_result *res = NULL;
    rlv_err err = {0};
    if (rlv_score(sc->w, &job, &res, &err)) {
        snprintf(it->code, sizeof it->code, "%s", rlv_err_name(err.code));
        snprintf(it->msg, sizeof it->msg, "%s", err.msg);
        return NULL;
    }
    rlv_proto_ranked *ranked = malloc(((size_t)res->n + 1) * sizeof *ranked);
    if (!ranked) {
        snprintf(it->code, sizeof it->code, "%s", rlv_err_name(RLV_ENOMEM));
        snprintf(it->msg, sizeof it->msg, "out of memory");
        return NULL;
    }
    rlv_proto_score_result pr;
    rlv_proto_score_result_of(&pr, ranked, res, RLV_PROTO_VERSION);
    json_t *out = score_result_json(&pr);
    free(ranked);
    return out;
}

static void *scorer_main(void *arg) {
    scorer *sc = arg;
    eval_run *r = sc->run;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        slot *s = NULL;
        for (long q = r->head; !r->stop && q < r->tail && !s; q++)
            if (r->ring[q % r->cap].state == SLOT_READY) s = &r->ring[q % r->cap];
        if (r->stop) break;
        if (!s) {
            pthread_cond_wait(&r->work, &r->mu);
            continue;
        }
        s->state = SLOT_TAKEN;
        pthread_mutex_unlock(&r->mu);
        json_t *res = score_item(sc, &s->it);
        pthread_mutex_lock(&r->mu);
        s->res = res;
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&r->done);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* The record of a scored item: id, fields, result, and the pair / gold outcome. */
static json_t *make_record(eval_item *it, json_t *res) {
    json_t *rec = json_object(), *rank = json_object_get(res, "ranking");
    json_object_set(rec, "id", it->id);
    if (json_object_size(it->fields)) json_object_set(rec, "fields", it->fields);
    json_object_set(rec, "result", res);
    double m;
    const char *po = it->pair ? eval_pair_outcome(rank, &m) : NULL;
    if (po) {
        json_object_set_new(rec, "chosen_wins", json_boolean(po[0] == 'w'));
        json_object_set_new(rec, "outcome", json_string(po));
        json_object_set_new(rec, "margin", json_real(m));
    }
    const char *to = it->gold >= 0 ? eval_top1_outcome(rank, it->gold) : NULL;
    if (to) {
        json_object_set_new(rec, "gold", json_integer(it->gold));
        json_object_set_new(rec, "top1", json_string(to));
    }
    return rec;
}

static void progress(int done, int total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    int w = 30, fill = total ? (int)((double)done / total * w) : w;
    if (fill > w) fill = w;
    double eta = rate > 0 && total > done ? (total - done) / rate : 0;
    fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f rows/s  ETA %02d:%02d:%02d ", fill, "==============================",
            w - fill, "", done, total, rate, (int)eta / 3600, (int)eta / 60 % 60, (int)eta % 60);
}

/* ---- fail-fast checks (design note 1) ---- */

/* ping + info. Returns the daemon's worker count (>= 1) with *info_out (new reference), or -1
 * with the reason printed. */
static int check_server(const rlv_client_opts *co, rlv_reward_kind reward, json_t **info_out) {
    rlv_client_opts po = *co;
    po.timeout_ms = co->timeout_ms < EVAL_CHECK_TIMEOUT_MS ? co->timeout_ms : EVAL_CHECK_TIMEOUT_MS;
    po.retries = 0;
    rlv_client *c = NULL;
    char *js = NULL;
    rlv_client_error ce;
    int workers = -1;
    json_t *info = NULL;
    if (rlv_client_connect(&c, &po, &ce)) {
        fprintf(stderr, "rlaifv eval: %s\n", ce.message);
    } else if (rlv_client_call(c, "ping", &js, &ce)) {
        fprintf(stderr, "rlaifv eval: %s does not answer ping: %s [%s] (is rlaifvd running there?)\n", co->endpoint,
                ce.message, ce.name);
    } else if (free(js), js = NULL, rlv_client_call(c, "info", &js, &ce) || !(info = json_loads(js, 0, NULL))) {
        fprintf(stderr, "rlaifv eval: %s: info: %s [%s]\n", co->endpoint, info ? "" : ce.message, info ? "" : ce.name);
    } else {
        json_t *kinds = json_object_get(info, "reward_kinds"), *k;
        size_t i;
        int have = reward == RLV_REWARD_DEFAULT;
        json_array_foreach(kinds, i, k) have |= !have && !strcmp(json_string_value(k) ? json_string_value(k) : "", rlv_reward_name(reward));
        const char *ws = json_string_value(json_object_get(json_object_get(info, "settings"), "workers"));
        if (!have) {
            char *list = json_dumps(kinds, JSON_COMPACT);
            fprintf(stderr, "rlaifv eval: %s cannot score --reward %s: its models allow %s (a reference model is needed for rlaifv and dpo)\n",
                    co->endpoint, rlv_reward_name(reward), list ? list : "[]");
            free(list);
        } else {
            workers = ws && atoi(ws) > 0 ? atoi(ws) : 1;
            *info_out = json_incref(info);
        }
    }
    json_decref(info);
    free(js);
    rlv_client_destroy(&c);
    return workers;
}

/* ---- the command ---- */

typedef struct eval_opts {
    const char *in, *out, *summary, *report, *group_by, *image_root;
    rlv_engine_opts eo;
    rlv_client_opts co;
    rlv_reward_kind reward;
    double beta;
    int token_logps, concurrency;
    eval_shard shard;             /* count 0: every row */
    int merge;                    /* --merge: shards[0..n_shards) are the outputs to merge */
    char **shards;                /* malloc-ed [argc]: the strings are argv's */
    int n_shards;
} eval_opts;

/* What the scores depend on, for the shard manifest (eval_shard.h): from the daemon's info, or
 * from the loaded engine (model folders by their real path). Over HTTP, info (/v1/models) has no
 * weight bytes nor compute: they are null then, which the merge does not compare. */
static json_t *scorer_json(const eval_opts *o, json_t *info, const rlv_engine *engine) {
    const char *reward = o->reward != RLV_REWARD_DEFAULT ? rlv_reward_name(o->reward) : NULL;
    json_t *sc;
    if (info) { /* ZeroMQ's info has "models"; HTTP's /v1/models entry names them at its top */
        json_t *models = json_object_get(info, "models") ? json_object_get(info, "models") : info;
        if (!reward) reward = json_string_value(json_object_get(info, "default_reward"));
        sc = json_pack("{sO?sO?sO?ss?}", "policy", json_object_get(models, "policy"), "reference",
                       json_object_get(models, "reference"), "weight_bytes",
                       json_object_get(json_object_get(info, "model"), "weight_bytes"), "compute",
                       json_string_value(json_object_get(json_object_get(info, "settings"), "compute")));
    } else {
        rlv_engine_info ei;
        rlv_engine_get_info(engine, &ei);
        char pol[4096], ref[4096];
        if (!reward) reward = ei.reference_dir ? rlv_reward_name(RLV_REWARD_RLAIFV) : rlv_reward_name(RLV_REWARD_LOGP_MEAN);
        sc = json_pack("{ssss?sIss}", "policy", realpath(ei.policy_dir, pol) ? pol : ei.policy_dir, "reference",
                       !ei.reference_dir ? NULL : realpath(ei.reference_dir, ref) ? ref : ei.reference_dir, "weight_bytes",
                       (json_int_t)ei.weight_bytes, "compute", rlv_compute_name(o->eo.compute));
    }
    json_object_set_new(sc, "reward", reward ? json_string(reward) : json_null());
    json_object_set_new(sc, "beta", json_real(o->beta));
    json_object_set_new(sc, "token_logps", json_boolean(o->token_logps));
    return sc;
}

/* Design note 5: whether a row (NULL: not JSON) belongs to the shard, by its id alone. */
static int in_shard(const eval_shard *sh, json_t *row, int where) {
    json_t *id = eval_row_id(row, where);
    char *k = eval_id_key(id);
    int mine = k && eval_shard_of(k, sh->count) == sh->index;
    free(k);
    json_decref(id);
    return mine;
}

/* Design note 4: the summary of the output file (every record in it; run_sum, this run's records,
 * when it is not a regular file) with the rows that failed (errors: [{where, code, message,
 * fields}]) and the run's figures (run: new_items, skipped_done, concurrency, seconds), printed
 * and written to --summary and --report. Sets *items; returns 1 when --summary or --report
 * could not be written. */
static int emit_summary(const eval_opts *o, eval_summary *run_sum, json_t *errors, json_t *run, int write_err, long *items) {
    eval_summary *sum = run_sum;
    if (is_regular(o->out) || !sum) {
        sum = eval_summary_new(o->group_by);
        read_output(o->out, NULL, sum);
    }
    size_t ei;
    json_t *e;
    json_array_foreach(errors, ei, e)
        eval_summary_add_error(sum, json_object_get(e, "fields"), json_string_value(json_object_get(e, "code")));
    json_t *sj = eval_summary_json(sum);
    json_int_t new_items = json_integer_value(json_object_get(run, "new_items"));
    double el = json_number_value(json_object_get(run, "seconds"));
    json_object_set_new(sj, "new_items", json_integer(new_items));
    json_object_set(sj, "skipped_done", json_object_get(run, "skipped_done"));
    json_object_set(sj, "concurrency", json_object_get(run, "concurrency"));
    json_object_set_new(sj, "seconds", json_real(el));
    json_object_set_new(sj, "items_per_s", json_real(el > 0 ? new_items / el : 0.0));
    if (write_err) json_object_set_new(sj, "write_error", json_true());
    char *text = json_dumps(sj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (text) printf("%s\n", text);
    free(text);
    fflush(stdout);
    int out_err = 0;
    char msg[512];
    if (o->summary) {
        FILE *f = fopen(o->summary, "w");
        if (!f || json_dumpf(sj, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) || fputc('\n', f) == EOF ||
            fclose(f)) {
            fprintf(stderr, "rlaifv eval: --summary %s: %s\n", o->summary, strerror(errno));
            out_err = 1;
        }
    }
    if (o->report && eval_report_write(o->report, sum, sj, o->in, msg, sizeof msg)) {
        fprintf(stderr, "rlaifv eval: --report %s\n", msg);
        out_err = 1;
    }
    *items = (long)json_integer_value(json_object_get(sj, "items"));
    json_decref(sj);
    if (sum != run_sum) eval_summary_free(&sum);
    return out_err;
}

/* Returns -1 to go on, else the exit status (help, version, a bad option). */
static int parse_opts(eval_opts *o, int argc, char **argv) {
    rlv_engine_opts_default(&o->eo);
    o->reward = RLV_REWARD_DEFAULT;
    o->beta = RLV_DEFAULT_BETA;
    o->co.timeout_ms = 600000;
    for (int i = 1; i < argc; i++) {
        cli_arg a;
        cli_split(&a, "rlaifv eval", argv[i]);
        int f;
        if ((f = cli_flag(&a, "--help")) || (f = cli_flag(&a, "-h"))) {
            if (f < 0) return EVAL_EXIT_USAGE;
            usage(stdout);
            return 0;
        }
        if ((f = cli_flag(&a, "--version"))) {
            if (f > 0) cli_version("rlaifv");
            return f > 0 ? 0 : EVAL_EXIT_USAGE;
        }
        if ((f = cli_flag(&a, "--token-logps"))) {
            if (f < 0) return EVAL_EXIT_USAGE;
            o->token_logps = 1;
            continue;
        }
        if ((f = cli_flag(&a, "--merge"))) {
            if (f < 0) return EVAL_EXIT_USAGE;
            o->merge = 1;
            continue;
        }
        if (argv[i][0] != '-') { /* a shard output of --merge */
            if (!o->shards && !(o->shards = calloc((size_t)argc, sizeof *o->shards))) return EVAL_EXIT_NOTHING;
            o->shards[o->n_shards++] = argv[i];
            continue;
        }
        static const char *with_value[] = {"--model", "--ref-model", "--in", "--out", "--summary", "--report",
                                           "--group-by", "--image-root", "--server", "--server-key", "--client-key", "--api-key-file",
                                           "--blas-threads", "--prefix-cache-mb", "--compute", "--timeout-ms",
                                           "--retries", "--concurrency", "--beta", "--reward", "--shard"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(a.name, with_value[k]);
        if (!known) {
            fprintf(stderr, "rlaifv eval: unknown option '%s' (rlaifv eval --help)\n", argv[i]);
            return EVAL_EXIT_USAGE;
        }
        const char *v = cli_value(&a, argc, argv, &i);
        char msg[256];
        size_t mb;
        int bad = !v;
        if (bad) {}
        else if (!strcmp(a.name, "--model")) o->eo.model_dir = v;
        else if (!strcmp(a.name, "--ref-model")) o->eo.ref_model_dir = v;
        else if (!strcmp(a.name, "--in")) o->in = v;
        else if (!strcmp(a.name, "--out")) o->out = v;
        else if (!strcmp(a.name, "--summary")) o->summary = v;
        else if (!strcmp(a.name, "--report")) o->report = v;
        else if (!strcmp(a.name, "--group-by")) o->group_by = v;
        else if (!strcmp(a.name, "--image-root")) o->image_root = v;
        else if (!strcmp(a.name, "--server")) bad = cli_endpoint(&a), o->co.endpoint = v;
        else if (!strcmp(a.name, "--server-key")) o->co.server_key_file = v;
        else if (!strcmp(a.name, "--client-key")) o->co.client_key_file = v;
        else if (!strcmp(a.name, "--api-key-file")) o->co.api_key_file = v;
        else if (!strcmp(a.name, "--blas-threads")) bad = cli_int(&a, 1, 1024, &o->eo.blas_threads);
        else if (!strcmp(a.name, "--prefix-cache-mb")) bad = cli_size(&a, 1u << 30, &mb), o->eo.prefix_cache_bytes = mb << 20;
        else if (!strcmp(a.name, "--timeout-ms")) bad = cli_int(&a, 1, 86400000, &o->co.timeout_ms);
        else if (!strcmp(a.name, "--retries")) bad = cli_int(&a, 0, 100, &o->co.retries);
        else if (!strcmp(a.name, "--concurrency")) bad = cli_int(&a, 1, EVAL_MAX_CONCURRENCY, &o->concurrency);
        else if (!strcmp(a.name, "--beta")) bad = cli_double(&a, 0, 1e6, 1, &o->beta);
        else if (!strcmp(a.name, "--shard") && eval_shard_parse(&o->shard, v, msg, sizeof msg))
            fprintf(stderr, "rlaifv eval: %s\n", msg), bad = 1;
        else if (!strcmp(a.name, "--compute") && rlv_compute_parse(v, &o->eo.compute) != RLV_OK)
            fprintf(stderr, "rlaifv eval: --compute must be fp32 or bf16\n"), bad = 1;
        else if (!strcmp(a.name, "--reward") && rlv_reward_parse(v, &o->reward))
            fprintf(stderr, "rlaifv eval: unknown reward '%s' (rlaifv, dpo, logp_mean, logp_sum)\n", v), bad = 1;
        if (bad) return EVAL_EXIT_USAGE;
    }
    if (!o->in || !o->out) {
        fprintf(stderr, "rlaifv eval: needs --in FILE and --out FILE.jsonl (rlaifv eval --help)\n");
        return EVAL_EXIT_USAGE;
    }
    if (o->n_shards && !o->merge) {
        fprintf(stderr, "rlaifv eval: unexpected argument '%s' (shard outputs follow --merge; rlaifv eval --help)\n", o->shards[0]);
        return EVAL_EXIT_USAGE;
    }
    if (o->merge) {
        const char *scoring = o->co.endpoint ? "--server" : o->eo.model_dir ? "--model" : o->shard.count ? "--shard" : NULL;
        if (scoring || !o->n_shards) {
            fprintf(stderr, "rlaifv eval: --merge %s (rlaifv eval --help)\n",
                    scoring ? "scores nothing: drop --server, --model and --shard" : "needs the shard outputs, e.g. out.*.jsonl");
            return EVAL_EXIT_USAGE;
        }
        return -1;
    }
    if (o->co.endpoint && (o->eo.model_dir || o->eo.ref_model_dir)) {
        fprintf(stderr, "rlaifv eval: --server and --model are exclusive (the daemon has its models)\n");
        return EVAL_EXIT_USAGE;
    }
    if (!o->co.endpoint && !o->eo.model_dir) {
        if (o->eo.ref_model_dir) {
            fprintf(stderr, "rlaifv eval: --ref-model needs --model\n");
            return EVAL_EXIT_USAGE;
        }
        if (cli_demo_models("rlaifv eval", &o->eo)) return EVAL_EXIT_NOTHING; /* the same default as rlaifvd */
    }
    return -1;
}

/* One run over the input (or its shard): design notes 1-4. */
static int run_eval(const eval_opts *op) {
    eval_opts o = *op;
    char root[4096];
    snprintf(root, sizeof root, "%s", o.image_root ? o.image_root : o.in);
    if (!o.image_root) {
        char *slash = strrchr(root, '/');
        if (slash) *slash = 0;
        else strcpy(root, ".");
    }

    /* (1) fail fast, before any row */
    rlv_engine *engine = NULL;
    int conc = o.concurrency;
    char msg[512];
    rlv_client_error ce;
    rlv_client_pool *pool = NULL; /* the scorers' in-flight counts per endpoint */
    json_t *info = NULL; /* the daemon's */
    if (o.co.endpoint) {
        int workers = check_server(&o.co, o.reward, &info);
        if (workers < 0 || rlv_client_pool_new(&pool, o.co.endpoint, &ce)) {
            json_decref(info);
            return EVAL_EXIT_NOTHING;
        }
        o.co.pool = pool;
        if (!conc) {
            int n = rlv_client_count_endpoints(o.co.endpoint, &ce);
            conc = workers * n < EVAL_MAX_CONCURRENCY ? workers * n : EVAL_MAX_CONCURRENCY;
        }
    } else {
        rlv_err err = {0};
        if (rlv_engine_open(&engine, &o.eo, &err)) {
            fprintf(stderr, "rlaifv eval: %s [%s]\n", err.msg, rlv_err_name(err.code));
            return EVAL_EXIT_NOTHING;
        }
        if ((o.reward == RLV_REWARD_RLAIFV || o.reward == RLV_REWARD_DPO) && !rlv_engine_has_reference(engine)) {
            fprintf(stderr, "rlaifv eval: --reward %s needs a reference model (--ref-model DIR)\n", rlv_reward_name(o.reward));
            rlv_engine_free(&engine);
            return EVAL_EXIT_NOTHING;
        }
        if (!conc) conc = 1;
    }
    eval_input *in = NULL;
    if (eval_input_open(&in, o.in, msg, sizeof msg)) {
        fprintf(stderr, "rlaifv eval: %s\n", msg);
        rlv_engine_free(&engine);
        rlv_client_pool_free(&pool);
        json_decref(info);
        return EVAL_EXIT_NOTHING;
    }
    int fo = open(o.out, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644); /* read: cut_partial_line */
    if (fo < 0 || cut_partial_line(fo)) {
        fprintf(stderr, "rlaifv eval: %s: %s\n", o.out, strerror(errno));
        if (fo >= 0) close(fo);
        eval_input_close(&in);
        rlv_engine_free(&engine);
        rlv_client_pool_free(&pool);
        json_decref(info);
        return EVAL_EXIT_NOTHING;
    }
    json_t *done = json_object(), *seen = json_object(), *errors = json_array();
    read_output(o.out, done, NULL);

    eval_run run = {.cap = 4L * conc, .engine = engine, .reward = o.reward, .beta = o.beta, .token_logps = o.token_logps};
    pthread_mutex_init(&run.mu, NULL);
    pthread_cond_init(&run.work, NULL);
    pthread_cond_init(&run.done, NULL);
    run.ring = calloc((size_t)run.cap, sizeof *run.ring);
    scorer *sc = calloc((size_t)conc, sizeof *sc);
    int n_sc = 0, setup_failed = !run.ring || !sc;
    for (int i = 0; i < conc && !setup_failed; i++) {
        rlv_err err = {0};
        sc[i].run = &run;
        if (o.co.endpoint ? rlv_client_connect(&sc[i].c, &o.co, &ce) != 0 : rlv_worker_open(&sc[i].w, engine, &err) != 0) {
            fprintf(stderr, "rlaifv eval: scorer %d: %s\n", i, o.co.endpoint ? ce.message : err.msg);
            setup_failed = 1;
        } else if (pthread_create(&sc[i].th, NULL, scorer_main, &sc[i])) {
            rlv_worker_free(&sc[i].w);
            rlv_client_destroy(&sc[i].c);
            setup_failed = 1;
        } else {
            n_sc++;
        }
    }

    int tty = isatty(2), total = eval_input_count(in), handled = 0, eof = setup_failed, write_err = 0;
    long new_items = 0, skipped = 0, bad = 0;
    const char *unit = eval_input_unit(in);
    eval_summary *run_sum = eval_summary_new(o.group_by); /* this run's records, for an output that is not a file */
    double t0 = now_s();
    for (;;) {
        /* fill the ring in input order */
        while (!eof && run.tail - run.head < run.cap) {
            json_t *row = NULL;
            int where = 0;
            if (!eval_input_next(in, &row, &where, msg, sizeof msg)) { eof = 1; break; }
            if (o.shard.count && !in_shard(&o.shard, row, where)) { /* (5): not even parsed */
                json_decref(row);
                handled++;
                continue;
            }
            slot *s = &run.ring[run.tail % run.cap];
            int ok = row ? eval_item_parse(&s->it, row, where, root) == 0 : (eval_item_bad_json(&s->it, where, msg), 0);
            s->skip = 0;
            s->res = NULL;
            if (s->it.key) {
                json_t *prev = json_object_get(seen, s->it.key);
                if (prev && ok) {
                    snprintf(s->it.code, sizeof s->it.code, "duplicate_id");
                    snprintf(s->it.msg, sizeof s->it.msg, "id %.200s repeats the id of %s %lld", s->it.key, unit,
                             (long long)json_integer_value(prev));
                    ok = 0;
                } else if (!prev) {
                    json_object_set_new(seen, s->it.key, json_integer(where));
                }
            }
            s->skip = ok && json_object_get(done, s->it.key) != NULL;
            pthread_mutex_lock(&run.mu);
            s->state = ok && !s->skip ? SLOT_READY : SLOT_DONE;
            run.tail++;
            pthread_cond_signal(&run.work);
            pthread_mutex_unlock(&run.mu);
        }
        if (run.head == run.tail) break;
        /* write the head once it is done */
        slot *s = &run.ring[run.head % run.cap];
        pthread_mutex_lock(&run.mu);
        while (s->state != SLOT_DONE) pthread_cond_wait(&run.done, &run.mu);
        pthread_mutex_unlock(&run.mu);
        if (s->skip) {
            skipped++;
        } else if (!s->res) {
            if (tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr, "rlaifv eval: %s:%d: %s [%s] (skipped)\n", o.in, s->it.where, s->it.msg, s->it.code);
            bad++;
            json_array_append_new(errors, json_pack("{sisssssO?}", "where", s->it.where, "code", s->it.code, "message",
                                                    s->it.msg, "fields", s->it.fields));
        } else {
            json_t *rec = make_record(&s->it, s->res);
            char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
            size_t tn = text ? strlen(text) : 0;
            char *nl = text ? realloc(text, tn + 2) : NULL;
            if (nl) {
                text = nl;
                text[tn++] = '\n';
            }
            /* one write of the whole line: a kill leaves at most a partial last line, cut on resume */
            if (!nl || write_line(fo, text, tn)) {
                if (tty) fprintf(stderr, "\r\033[K");
                fprintf(stderr, "rlaifv eval: %s: writing the record of %s %d: %s; stopping\n", o.out, unit, s->it.where,
                        nl ? strerror(errno) : "out of memory");
                write_err = 1;
            } else {
                new_items++;
                eval_summary_add_record(run_sum, rec);
            }
            free(text);
            json_decref(rec);
        }
        json_decref(s->res);
        s->res = NULL;
        eval_item_clear(&s->it);
        pthread_mutex_lock(&run.mu);
        s->state = SLOT_FREE;
        run.head++;
        if (write_err) run.stop = 1; /* the items in flight are dropped */
        pthread_mutex_unlock(&run.mu);
        if (tty) progress(++handled, total, t0);
        if (write_err) break;
    }
    pthread_mutex_lock(&run.mu);
    run.stop = 1;
    pthread_cond_broadcast(&run.work);
    pthread_mutex_unlock(&run.mu);
    for (int i = 0; i < n_sc; i++) pthread_join(sc[i].th, NULL);
    for (long q = run.head; q < run.tail; q++) { /* left after a write error */
        json_decref(run.ring[q % run.cap].res);
        eval_item_clear(&run.ring[q % run.cap].it);
    }
    if (!write_err && (fsync(fo) && errno != EINVAL && errno != EROFS)) { /* EINVAL: /dev/null, a pipe */
        fprintf(stderr, "rlaifv eval: %s: fsync: %s\n", o.out, strerror(errno));
        write_err = 1;
    }
    if (close(fo) && !write_err) {
        fprintf(stderr, "rlaifv eval: %s: close: %s\n", o.out, strerror(errno));
        write_err = 1;
    }
    if (tty) fputc('\n', stderr);
    double el = now_s() - t0;

    /* (4) the summary of the whole output file, with this run's failed rows */
    json_t *run_fig = json_pack("{sIsIsisf}", "new_items", (json_int_t)new_items, "skipped_done", (json_int_t)skipped,
                                "concurrency", conc, "seconds", el);
    long items = 0;
    int out_err = emit_summary(&o, run_sum, errors, run_fig, write_err, &items);
    if (o.shard.count && !setup_failed) {
        json_t *scorer = scorer_json(&o, info, engine);
        if (eval_shard_write_manifest(o.out, &o.shard, o.in, scorer, errors, run_fig, msg, sizeof msg)) {
            fprintf(stderr, "rlaifv eval: the shard manifest: %s\n", msg);
            out_err = 1;
        }
        json_decref(scorer);
    }
    json_decref(run_fig);
    if (bad) fprintf(stderr, "rlaifv eval: %ld of %ld rows failed this run (see above)\n", bad, bad + new_items);
    int rc = setup_failed || (bad && !items && !write_err) ? EVAL_EXIT_NOTHING
           : bad || write_err || out_err ? EVAL_EXIT_FAILED_LINES : 0;
    eval_summary_free(&run_sum);
    for (int i = 0; i < conc && sc; i++) {
        rlv_worker_free(&sc[i].w);
        rlv_client_destroy(&sc[i].c);
    }
    free(sc);
    free(run.ring);
    pthread_mutex_destroy(&run.mu);
    pthread_cond_destroy(&run.work);
    pthread_cond_destroy(&run.done);
    json_decref(done);
    json_decref(seen);
    json_decref(errors);
    json_decref(info);
    eval_input_close(&in);
    rlv_engine_free(&engine);
    rlv_client_pool_free(&pool);
    return rc;
}

/* --merge (design note 5): the shards' records into --out, then the summary, as of one run. */
static int run_merge(const eval_opts *o) {
    json_t *failed = NULL, *run = NULL;
    char code[32], msg[1024];
    if (eval_merge(o->in, o->out, o->shards, o->n_shards, &failed, &run, code, msg, sizeof msg)) {
        fprintf(stderr, "rlaifv eval --merge: %s [%s]; %s is left as it was\n", msg, code, o->out);
        return EVAL_EXIT_NOTHING;
    }
    size_t i;
    json_t *e;
    json_array_foreach(failed, i, e)
        fprintf(stderr, "rlaifv eval: %s:%lld: %s [%s] (failed in its shard)\n", o->in,
                (long long)json_integer_value(json_object_get(e, "where")), json_string_value(json_object_get(e, "message")),
                json_string_value(json_object_get(e, "code")));
    long items = 0, bad = (long)json_array_size(failed);
    int out_err = emit_summary(o, NULL, failed, run, 0, &items);
    if (bad) fprintf(stderr, "rlaifv eval: %ld rows failed in their shards (see above)\n", bad);
    json_decref(failed);
    json_decref(run);
    return bad && !items ? EVAL_EXIT_NOTHING : bad || out_err ? EVAL_EXIT_FAILED_LINES : 0;
}

int cmd_eval(int argc, char **argv) {
    eval_opts o = {0};
    int rc = parse_opts(&o, argc, argv);
    if (rc < 0 && sodium_init() < 0) rc = EVAL_EXIT_NOTHING;
    if (rc < 0) rc = o.merge ? run_merge(&o) : run_eval(&o);
    free(o.shards);
    return rc;
}
