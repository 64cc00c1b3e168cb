/* cmd_eval.c — `rlaifv eval`: score a JSONL data set offline with the models loaded once.
 *
 * Input line: {"id": ..., "image": PATH or base64, "prompt": ..., "candidates": [...]}
 *         or  {"id": ..., "image": ..., "question": ..., "chosen": ..., "rejected": ...}
 *         (RLAIF-V-Dataset shape; "idx" / "image_path" / "question" are accepted as aliases).
 * Output line: {"id": ..., "result": {...score JSON...}} (+ "chosen_wins" for pairs).
 * Resumes: ids already in --out are skipped. A bad line is reported (line number) and skipped.
 * Output durability: each record is one write() of its whole line, every write is checked, the
 * file is fsync-ed at the end, and a last line without its newline (a run killed mid-write) is
 * cut off before resuming. A write error stops the run: the file keeps whole lines, the summary
 * counts only the records written, and the exit status is 1. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "file_util.h"
#include "result_json.h"
#include "rlaifv_client.h"
#include "rlaifv.h"

static void usage(FILE *f) {
    fprintf(f, "usage: rlaifv eval --model DIR [--ref-model DIR] --in FILE.jsonl --out FILE.jsonl\n"
               "                   [--reward KIND] [--beta B] [--blas-threads N] [--compute fp32|bf16]\n"
               "                   [--prefix-cache-mb MB] (the prefix cache, default 1024; 0 disables)\n"
               "       rlaifv eval --server ENDPOINT [--server-key F --client-key F] --in ... --out ...\n"
               "  Scores every line; resumes by skipping ids already in --out; prints a summary\n"
               "  (items, mean reward, pairwise accuracy for chosen/rejected pairs).\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The id as canonical JSON text (the resume key). */
static char *id_key(json_t *id) { return json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS); }

/* Cuts a regular file back to its last newline: a line a killed run left half-written would
 * otherwise have the next record appended onto it. Returns 0, or -1 with errno. */
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
 * line went out, cuts the file back to its size before (if it is a regular file). 0 or -1 with errno. */
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

/* Reads ids already written to out (lines that parse and have an id); only a regular file (not
 * /dev/full or a pipe). */
static json_t *done_ids(const char *out) {
    json_t *set = json_object();
    struct stat st;
    if (stat(out, &st) || !S_ISREG(st.st_mode)) return set;
    FILE *f = fopen(out, "r");
    if (!f) return set;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *id = json_object_get(o, "id");
        char *k = id ? id_key(id) : NULL;
        if (k) json_object_set_new(set, k, json_true());
        free(k);
        json_decref(o);
    }
    free(line);
    fclose(f);
    return set;
}

static const char *str_field(json_t *o, const char *a, const char *b) {
    json_t *v = json_object_get(o, a);
    if (!v && b) v = json_object_get(o, b);
    return json_string_value(v);
}

/* The image: a path (relative to the input file's folder if not absolute), or base64 (a
 * data: URL prefix is allowed). Returns a malloc-ed buffer or NULL with a message. */
static uint8_t *load_image(const char *s, const char *in_dir, size_t *len, char *msg, size_t cap) {
    char path[4096];
    struct stat st;
    if (s[0] == '/') snprintf(path, sizeof path, "%s", s);
    else snprintf(path, sizeof path, "%s/%s", in_dir, s);
    if (strlen(s) < 4096 && stat(path, &st) == 0 && S_ISREG(st.st_mode)) return read_file(path, len, msg, cap);
    const char *b64 = s, *comma = strstr(s, ";base64,");
    if (!strncmp(s, "data:", 5) && comma) b64 = comma + 8;
    size_t n = strlen(b64), out_len = 0;
    uint8_t *buf = malloc(n / 4 * 3 + 4);
    if (!buf) { snprintf(msg, cap, "out of memory"); return NULL; }
    if (sodium_base642bin(buf, n / 4 * 3 + 4, b64, n, " \r\n", &out_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        out_len == 0) {
        free(buf);
        snprintf(msg, cap, "image is neither a readable file (%.300s) nor base64", path);
        return NULL;
    }
    *len = out_len;
    return buf;
}

static void progress(int done, int total, double t0) {
    double el = now_s() - t0, rate = el > 0 ? done / el : 0;
    int w = 30, fill = total ? (int)((double)done / total * w) : w;
    double eta = rate > 0 ? (total - done) / rate : 0;
    fprintf(stderr, "\r[%.*s%*s] %d/%d  %.2f items/s  ETA %02d:%02d:%02d ", fill, "==============================",
            w - fill, "", done, total, rate, (int)eta / 3600, (int)eta / 60 % 60, (int)eta % 60);
}

int cmd_eval(int argc, char **argv) {
    rlv_engine_opts o;
    rlv_engine_opts_default(&o);
    const char *in = NULL, *out = NULL;
    rlv_reward_kind reward = RLV_REWARD_DEFAULT;
    double beta = RLV_DEFAULT_BETA;
    rlv_client_opts co = {.timeout_ms = 600000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!v) { fprintf(stderr, "rlaifv eval: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--model")) o.model_dir = v;
        else if (!strcmp(a, "--ref-model")) o.ref_model_dir = v;
        else if (!strcmp(a, "--in")) in = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--blas-threads")) o.blas_threads = atoi(v);
        else if (!strcmp(a, "--prefix-cache-mb")) o.prefix_cache_bytes = (size_t)strtoull(v, NULL, 10) << 20;
        else if (!strcmp(a, "--compute")) {
            if (rlv_compute_parse(v, &o.compute) != RLV_OK) {
                fprintf(stderr, "rlaifv eval: --compute must be fp32 or bf16\n");
                return 2;
            }
        }
        else if (!strcmp(a, "--server")) co.endpoint = v;
        else if (!strcmp(a, "--server-key")) co.server_key_file = v;
        else if (!strcmp(a, "--client-key")) co.client_key_file = v;
        else if (!strcmp(a, "--timeout-ms")) co.timeout_ms = atoi(v);
        else if (!strcmp(a, "--beta")) beta = atof(v);
        else if (!strcmp(a, "--reward") && !rlv_reward_parse(v, &reward)) continue;
        else { fprintf(stderr, "rlaifv eval: bad option '%s %s'\n", a, v); usage(stderr); return 2; }
    }
    if ((!o.model_dir && !co.endpoint) || !in || !out || !(beta > 0)) {
        fprintf(stderr, "rlaifv eval: needs --model or --server, --in and --out (and a positive --beta)\n");
        return 2;
    }
    if (sodium_init() < 0) return 1;
    FILE *fi = fopen(in, "r");
    if (!fi) { perror(in); return 1; }
    char in_dir[4096];
    snprintf(in_dir, sizeof in_dir, "%s", in);
    char *slash = strrchr(in_dir, '/');
    if (slash) *slash = 0;
    else strcpy(in_dir, ".");
    int total = 0, c;
    while ((c = fgetc(fi)) != EOF) total += c == '\n';
    rewind(fi);
    int fo = open(out, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644); /* read: cut_partial_line */
    if (fo < 0 || cut_partial_line(fo)) {
        perror(out);
        if (fo >= 0) close(fo);
        fclose(fi);
        return 1;
    }
    json_t *skip = done_ids(out);
    rlv_err err = {0};
    rlv_engine *e = NULL;
    rlv_worker *w = NULL;
    rlv_client *cl = NULL;
    char cmsg[256];
    if (co.endpoint ? rlv_client_connect(&cl, &co, cmsg, sizeof cmsg) != 0
                    : (rlv_engine_open(&e, &o, &err) || rlv_worker_open(&w, e, &err))) {
        fprintf(stderr, "rlaifv eval: %s [%s]\n", co.endpoint ? cmsg : err.msg, co.endpoint ? "client" : rlv_err_name(err.code));
        fclose(fi);
        close(fo);
        json_decref(skip);
        rlv_engine_free(&e);
        return 1;
    }
    int tty = isatty(2), lineno = 0, items = 0, bad = 0, skipped = 0, pairs = 0, wins = 0, write_err = 0;
    double reward_sum = 0, best_sum = 0, t0 = now_s();
    int n_rewards = 0;
    char *line = NULL, msg[512];
    size_t cap = 0;
    while (!write_err && getline(&line, &cap, fi) > 0) {
        lineno++;
        if (tty) progress(lineno - 1, total, t0);
        json_error_t je;
        json_t *o2 = json_loads(line, 0, &je);
        json_t *id = o2 ? json_object_get(o2, "id") : NULL;
        if (o2 && !id) id = json_object_get(o2, "idx");
        const char *img_s = o2 ? str_field(o2, "image", "image_path") : NULL;
        const char *prompt = o2 ? str_field(o2, "prompt", "question") : NULL;
        json_t *cands = o2 ? json_object_get(o2, "candidates") : NULL;
        const char *chosen = o2 ? str_field(o2, "chosen", NULL) : NULL;
        const char *rejected = o2 ? str_field(o2, "rejected", NULL) : NULL;
        const char *why = !o2 ? je.text : !json_is_object(o2) ? "not a JSON object" : !id ? "no 'id'"
                        : !img_s ? "no 'image' (path or base64)" : !prompt ? "no 'prompt' or 'question'"
                        : !(json_is_array(cands) || (chosen && rejected)) ? "needs 'candidates' or 'chosen' + 'rejected'"
                        : NULL;
        char *key = id ? id_key(id) : NULL;
        if (!why && key && json_object_get(skip, key)) {
            skipped++;
            free(key);
            json_decref(o2);
            continue;
        }
        const char *list[4096];
        size_t lens[4096];
        int n = 0;
        if (!why && json_is_array(cands)) {
            if (json_array_size(cands) == 0 || json_array_size(cands) > 4096) why = "'candidates' must hold 1..4096 strings";
            for (size_t i = 0; !why && i < json_array_size(cands); i++) {
                list[n] = json_string_value(json_array_get(cands, i));
                if (!list[n]) why = "'candidates' must hold strings";
                else lens[n] = json_string_length(json_array_get(cands, i)), n++;
            }
        } else if (!why) {
            list[0] = chosen, list[1] = rejected, n = 2;
            lens[0] = strlen(chosen), lens[1] = strlen(rejected);
        }
        size_t img_len = 0;
        uint8_t *img = NULL;
        if (!why && !(img = load_image(img_s, in_dir, &img_len, msg, sizeof msg))) why = msg;
        json_t *res = NULL;
        if (!why && cl) {
            rlv_client_job job = {.image = img, .image_len = img_len, .prompt = prompt, .candidates = list,
                                  .n_candidates = n, .reward = rlv_reward_name(reward), .beta = beta,
                                  .deadline_ms = -1};
            rlv_client_error ce;
            char *js = NULL;
            if (rlv_client_score(cl, &job, &js, &ce) == 0) res = json_loads(js, 0, NULL);
            else snprintf(msg, sizeof msg, "%.450s [%s]", ce.message, ce.code), why = msg;
            free(js);
        } else if (!why) {
            rlv_job job = {.image = img, .image_len = img_len, .prompt = prompt, .prompt_len = strlen(prompt),
                           .n_candidates = n, .candidates = list, .candidate_lens = lens, .reward = reward,
                           .beta = beta};
            const rlv_result *r = NULL;
            if (rlv_score(w, &job, &r, &err)) {
                snprintf(msg, sizeof msg, "%.450s [%s]", err.msg, rlv_err_name(err.code));
                why = msg;
            } else {
                res = result_to_json(r);
            }
        }
        if (!why && !res) why = "unreadable reply";
        if (why) {
            if (tty) fprintf(stderr, "\r\033[K");
            fprintf(stderr, "rlaifv eval: %s:%d: %s (skipped)\n", in, lineno, why);
            bad++;
        } else {
            json_t *rec = json_object();
            json_object_set(rec, "id", id);
            json_t *rank = json_object_get(res, "ranking");
            json_object_set(rec, "result", res);
            int chosen_wins = -1; /* -1: not a pair */
            if (!json_is_array(cands)) {
                /* strictly above: a tie is not a win, whatever order the stable sort kept */
                json_t *a = json_array_get(rank, 0), *b = json_array_get(rank, 1);
                int a_is_chosen = json_integer_value(json_object_get(a, "index")) == 0;
                double ra = json_number_value(json_object_get(a, "reward")), rb = json_number_value(json_object_get(b, "reward"));
                chosen_wins = a_is_chosen ? ra > rb : rb > ra;
                json_object_set_new(rec, "chosen_wins", json_boolean(chosen_wins));
            }
            /* one write of the whole line: a kill leaves at most a partial last line, cut on resume */
            char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
            size_t tn = text ? strlen(text) : 0;
            char *nl = text ? realloc(text, tn + 2) : NULL;
            if (nl) {
                text = nl;
                text[tn++] = '\n';
            }
            if (!nl || write_line(fo, text, tn)) {
                if (tty) fprintf(stderr, "\r\033[K");
                fprintf(stderr, "rlaifv eval: %s: writing the record of line %d: %s; stopping\n", out, lineno,
                        nl ? strerror(errno) : "out of memory");
                write_err = 1;
            } else {
                for (size_t i = 0; i < json_array_size(rank); i++)
                    reward_sum += json_number_value(json_object_get(json_array_get(rank, i), "reward")), n_rewards++;
                best_sum += json_number_value(json_object_get(json_array_get(rank, 0), "reward"));
                items++;
                if (chosen_wins >= 0) {
                    pairs++;
                    wins += chosen_wins;
                }
            }
            free(text);
            json_decref(rec);
        }
        json_decref(res);
        free(img);
        free(key);
        json_decref(o2);
    }
    if (!write_err && (fsync(fo) && errno != EINVAL && errno != EROFS)) { /* EINVAL: /dev/null, a pipe */
        fprintf(stderr, "rlaifv eval: %s: fsync: %s\n", out, strerror(errno));
        write_err = 1;
    }
    if (close(fo) && !write_err) {
        fprintf(stderr, "rlaifv eval: %s: close: %s\n", out, strerror(errno));
        write_err = 1;
    }
    if (tty && !write_err) { progress(total, total, t0); fputc('\n', stderr); }
    double el = now_s() - t0;
    printf("{\"items\": %d, \"skipped_done\": %d, \"bad_lines\": %d, \"seconds\": %.3f, \"items_per_s\": %.3f, "
           "\"mean_reward\": %.6g, \"mean_best_reward\": %.6g",
           items, skipped, bad, el, el > 0 ? items / el : 0.0, n_rewards ? reward_sum / n_rewards : 0.0,
           items ? best_sum / items : 0.0);
    if (pairs) printf(", \"pairs\": %d, \"pairwise_accuracy\": %.6f", pairs, (double)wins / pairs);
    if (write_err) printf(", \"write_error\": true");
    printf("}\n");
    free(line);
    fclose(fi);
    json_decref(skip);
    rlv_worker_free(&w);
    rlv_engine_free(&e);
    rlv_client_destroy(&cl);
    return write_err ? 1 : 0;
}
