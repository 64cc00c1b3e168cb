/* eval_shard.c — shards of an `rlaifv eval` run and their merge (see eval_shard.h).
 *
 * Design notes:
 * (1) A row's shard depends on its id alone (FNV-1a 64 of the resume key), so rows with the same
 *     id (the second is a duplicate_id error) land in the same shard, a resumed shard run sees
 *     exactly its rows again, and the assignment does not depend on the machine or the input order.
 * (2) The merge restores input order by reading the input again (ids only; no image is loaded):
 *     a resumed shard's output is not in input order (rows retried on resume come last), so the
 *     order cannot come from the shard files alone.
 * (3) Records are copied byte for byte (pread at the offsets found while indexing), so the merged
 *     file is what one run would have written whenever the scores are the same.
 * (4) The failed rows of a shard's last run come from its manifest, so the merged summary counts
 *     the same errors by code and group as one run would; a row with neither a record nor a failure
 *     (a shard run that did not finish) stops the merge instead of vanishing from the totals. */
#include "eval_shard.h"

#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "eval_input.h"

/* Decimal digits at *p (no sign, no space); advances *p. 0, or -1 when none or too large. */
static int digits(const char **p, long *v) {
    const char *s = *p;
    long x = 0;
    if (*s < '0' || *s > '9') return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if ((x = x * 10 + (*s - '0')) > 1000000000L) return -1;
    *p = s;
    *v = x;
    return 0;
}

int eval_shard_parse(eval_shard *s, const char *spec, char *msg, size_t cap) {
    const char *p = spec;
    long i, n;
    if (digits(&p, &i) || *p++ != '/' || digits(&p, &n) || *p) {
        snprintf(msg, cap, "--shard '%.64s': expected INDEX/COUNT such as 0/3 (numbered from 0, as Slurm's array task ids)", spec);
        return -1;
    }
    if (n < 1 || n > EVAL_MAX_SHARDS) {
        snprintf(msg, cap, "--shard '%.64s': the count must be 1..%d", spec, EVAL_MAX_SHARDS);
        return -1;
    }
    if (i >= n) {
        snprintf(msg, cap, "--shard '%.64s': the index must be 0..%ld (numbered from 0, as Slurm's array task ids)", spec, n - 1);
        return -1;
    }
    s->index = (int)i;
    s->count = (int)n;
    return 0;
}

int eval_shard_of(const char *key, int count) {
    uint64_t h = 14695981039346656037ULL; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 1099511628211ULL;
    return count > 0 ? (int)(h % (uint64_t)count) : 0;
}

/* {"bytes", "blake2b"} of a file: what a manifest names its input by. NULL with msg. */
static json_t *input_digest(const char *path, char *msg, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, cap, "%s: %s", path, strerror(errno));
        return NULL;
    }
    crypto_generichash_state st;
    unsigned char buf[1 << 16], h[32];
    char hex[65];
    size_t n;
    json_int_t bytes = 0;
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        crypto_generichash_update(&st, buf, n);
        bytes += (json_int_t)n;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(msg, cap, "%s: read error", path);
        return NULL;
    }
    crypto_generichash_final(&st, h, sizeof h);
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    return json_pack("{sIss}", "bytes", bytes, "blake2b", hex);
}

int eval_shard_write_manifest(const char *out, const eval_shard *s, const char *in, json_t *scorer, json_t *failed,
                              json_t *run, char *msg, size_t cap) {
    json_t *digest = input_digest(in, msg, cap);
    if (!digest) return -1;
    char spec[32], path[4200], tmp[4300];
    snprintf(spec, sizeof spec, "%d/%d", s->index, s->count);
    snprintf(path, sizeof path, "%s.shard.json", out);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    json_object_set_new(digest, "path", json_string(in));
    json_t *m = json_pack("{sssOsOsOsO}", "shard", spec, "input", digest, "scorer", scorer, "failed", failed, "run", run);
    json_decref(digest);
    FILE *f = m ? fopen(tmp, "w") : NULL;
    int ok = f && !json_dumpf(m, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17)) &&
             fputc('\n', f) != EOF && !fflush(f) && !fsync(fileno(f));
    if (f && fclose(f)) ok = 0;
    json_decref(m);
    if (!ok || rename(tmp, path)) {
        snprintf(msg, cap, "%s: %s", path, m ? strerror(errno) : "out of memory");
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- the merge ---- */

typedef struct merge_shard {
    FILE *f;                 /* the shard's output, read while indexing, pread while copying */
    json_t *manifest;
    int index;
} merge_shard;

/* What scores depend on, and the check that names a difference. An optional key is compared only
 * when both shards know it (a shard scored over HTTP has no weight bytes nor compute). */
static const struct { const char *key, *code; int optional; } scorer_keys[] = {
    {"policy", "model_mismatch", 0}, {"reference", "model_mismatch", 0}, {"weight_bytes", "model_mismatch", 1},
    {"compute", "model_mismatch", 1}, {"reward", "reward_mismatch", 0}, {"beta", "reward_mismatch", 0},
    {"token_logps", "reward_mismatch", 0},
};

/* Each shard keeps one output file open: room for them all when the soft limit is lower. */
static void raise_open_files(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= want) return;
    rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

#define MERGE_FAIL(name, ...)                        \
    do {                                             \
        snprintf(code, 32, "%s", name);              \
        snprintf(msg, cap, __VA_ARGS__);             \
        goto done;                                   \
    } while (0)

int eval_merge(const char *in, const char *out, char **shards, int n_shards, json_t **failed_out, json_t **run_out,
               char code[32], char *msg, size_t cap) {
    *failed_out = *run_out = NULL;
    code[0] = 0;
    merge_shard *sh = calloc((size_t)n_shards, sizeof *sh);
    int *holder = NULL;                          /* [count]: 1 + the position in shards of each index */
    json_t *records = json_object();             /* key -> [shard position, offset, length, line, used] */
    json_t *failed_at = json_object();           /* where -> failed entry of the manifests */
    json_t *failed = json_array(), *digest = NULL, *row = NULL, *id = NULL;
    char *key = NULL, *line = NULL, tmp[4300] = "";
    size_t line_cap = 0;
    FILE *fo = NULL;
    eval_input *inp = NULL;
    int count = 0, rc = -1, where = 0;
    char w[32];
    if (!sh || !records || !failed_at || !failed) MERGE_FAIL("io_error", "out of memory");
    raise_open_files((rlim_t)n_shards + 32);
    if (!(digest = input_digest(in, msg, cap))) {
        snprintf(code, 32, "io_error");
        goto done;
    }

    /* the manifests: one run's shards, each once, all of them */
    for (int s = 0; s < n_shards; s++) {
        char mp[4200], why[256];
        json_error_t je;
        eval_shard sp;
        snprintf(mp, sizeof mp, "%s.shard.json", shards[s]);
        json_t *m = sh[s].manifest = json_load_file(mp, 0, &je);
        const char *spec = json_string_value(json_object_get(m, "shard"));
        json_t *input = json_object_get(m, "input"), *sc = json_object_get(m, "scorer"), *fl = json_object_get(m, "failed");
        if (!m || !spec || eval_shard_parse(&sp, spec, why, sizeof why) || !json_is_object(input) || !json_is_object(sc) ||
            !json_is_array(fl) || !json_is_object(json_object_get(m, "run")))
            MERGE_FAIL("no_manifest", "%s: %s (`rlaifv eval --shard` writes it when the shard's run ends: did it end?)", mp,
                       m ? "not a shard manifest" : je.text);
        if (!s) {
            count = sp.count;
            if (!(holder = calloc((size_t)count, sizeof *holder))) MERGE_FAIL("io_error", "out of memory");
        }
        if (sp.count != count)
            MERGE_FAIL("shard_mismatch", "%s is shard %s but %s is shard %d/%d: outputs of runs split %d and %d ways",
                       shards[s], spec, shards[0], sh[0].index, count, sp.count, count);
        if (holder[sp.index])
            MERGE_FAIL("duplicate_shard", "%s and %s are both shard %s", shards[holder[sp.index] - 1], shards[s], spec);
        holder[sp.index] = s + 1;
        sh[s].index = sp.index;
        if (!json_equal(json_object_get(input, "blake2b"), json_object_get(digest, "blake2b")) ||
            !json_equal(json_object_get(input, "bytes"), json_object_get(digest, "bytes")))
            MERGE_FAIL("input_mismatch", "%s: shard %s scored %s (%lld bytes, blake2b %.16s...), not --in %s (%lld bytes, %.16s...)",
                       shards[s], spec, json_string_value(json_object_get(input, "path")),
                       (long long)json_integer_value(json_object_get(input, "bytes")),
                       json_string_value(json_object_get(input, "blake2b")), in,
                       (long long)json_integer_value(json_object_get(digest, "bytes")),
                       json_string_value(json_object_get(digest, "blake2b")));
        json_t *sc0 = json_object_get(sh[0].manifest, "scorer");
        for (size_t k = 0; k < sizeof scorer_keys / sizeof scorer_keys[0]; k++) {
            json_t *a = json_object_get(sc0, scorer_keys[k].key), *b = json_object_get(sc, scorer_keys[k].key);
            if (a == b || (a && b && json_equal(a, b))) continue;
            if (scorer_keys[k].optional && (json_is_null(a) || json_is_null(b) || !a || !b)) continue;
            char *ta = a ? json_dumps(a, JSON_ENCODE_ANY) : NULL, *tb = b ? json_dumps(b, JSON_ENCODE_ANY) : NULL;
            snprintf(code, 32, "%s", scorer_keys[k].code);
            snprintf(msg, cap, "%s was scored with %s %.300s, %s with %.300s", shards[0], scorer_keys[k].key,
                     ta ? ta : "(none)", shards[s], tb ? tb : "(none)");
            free(ta);
            free(tb);
            goto done;
        }
        size_t i;
        json_t *e;
        json_array_foreach(fl, i, e) {
            if (!json_is_integer(json_object_get(e, "where")) || !json_is_string(json_object_get(e, "code")) ||
                !json_is_string(json_object_get(e, "message")))
                MERGE_FAIL("no_manifest", "%s: failed row %zu is not {where, code, message, fields}", mp, i);
            snprintf(w, sizeof w, "%lld", (long long)json_integer_value(json_object_get(e, "where")));
            json_object_set(failed_at, w, e);
        }
    }
    for (int i = 0; i < count; i++)
        if (!holder[i]) MERGE_FAIL("missing_shard", "shard %d/%d is not among the %d outputs given", i, count, n_shards);

    /* every record: valid, in its file's shard, once (design note 1) */
    for (int s = 0; s < n_shards; s++) {
        if (!(sh[s].f = fopen(shards[s], "r"))) MERGE_FAIL("io_error", "%s: %s", shards[s], strerror(errno));
        ssize_t n;
        json_int_t off = 0;
        for (int ln = 1; (n = getline(&line, &line_cap, sh[s].f)) > 0; ln++, off += n) {
            json_t *o = line[n - 1] == '\n' ? json_loadb(line, (size_t)n, 0, NULL) : NULL;
            json_t *rid = json_object_get(o, "id");
            key = rid ? eval_id_key(rid) : NULL;
            json_decref(o);
            if (!key) MERGE_FAIL("bad_record", "%s:%d: not a record (a JSON object with an id, ending in a newline)", shards[s], ln);
            int home = eval_shard_of(key, count);
            if (home != sh[s].index)
                MERGE_FAIL("wrong_shard", "%s:%d: id %.200s belongs to shard %d/%d, the file is shard %d/%d", shards[s], ln, key,
                           home, count, sh[s].index, count);
            json_t *prev = json_object_get(records, key);
            if (prev)
                MERGE_FAIL("duplicate_record", "%s:%d: id %.200s has a record already (%s:%lld)", shards[s], ln, key,
                           shards[json_integer_value(json_array_get(prev, 0))], (long long)json_integer_value(json_array_get(prev, 3)));
            json_object_set_new(records, key, json_pack("[iIIii]", s, off, (json_int_t)n, ln, 0));
            free(key);
            key = NULL;
        }
        if (ferror(sh[s].f)) MERGE_FAIL("io_error", "%s: read error", shards[s]);
    }

    /* input order (design note 2): each row's record, else its failure */
    snprintf(tmp, sizeof tmp, "%s.merge.tmp", out);
    if (eval_input_open(&inp, in, msg, cap)) {
        snprintf(code, 32, "io_error");
        goto done;
    }
    if (!(fo = fopen(tmp, "w"))) MERGE_FAIL("io_error", "%s: %s", tmp, strerror(errno));
    char why[256];
    while (eval_input_next(inp, &row, &where, why, sizeof why)) {
        id = eval_row_id(row, where);
        key = eval_id_key(id);
        json_decref(row);
        json_decref(id);
        row = id = NULL;
        if (!key) MERGE_FAIL("io_error", "out of memory");
        json_t *r = json_object_get(records, key);
        if (r && !json_integer_value(json_array_get(r, 4))) {
            int s = (int)json_integer_value(json_array_get(r, 0));
            size_t len = (size_t)json_integer_value(json_array_get(r, 2));
            if (len > line_cap) {
                char *nl = realloc(line, len);
                if (!nl) MERGE_FAIL("io_error", "out of memory");
                line = nl, line_cap = len;
            }
            if (pread(fileno(sh[s].f), line, len, (off_t)json_integer_value(json_array_get(r, 1))) != (ssize_t)len ||
                fwrite(line, 1, len, fo) != len)
                MERGE_FAIL("io_error", "copying the record of id %.200s from %s to %s: %s", key, shards[s], tmp, strerror(errno));
            json_array_set_new(r, 4, json_integer(1));
        } else {
            snprintf(w, sizeof w, "%d", where);
            json_t *e = json_object_get(failed_at, w);
            int home = eval_shard_of(key, count);
            if (!e)
                MERGE_FAIL("missing_record", "%s:%d: id %.200s belongs to shard %d/%d (%s), which has no record of it and did not "
                           "fail it in its last run (did the run finish? run it again: it resumes)", in, where, key, home,
                           count, shards[holder[home] - 1]);
            json_array_append(failed, e);
        }
        free(key);
        key = NULL;
    }
    const char *k;
    json_t *r;
    json_object_foreach(records, k, r)
        if (!json_integer_value(json_array_get(r, 4)))
            MERGE_FAIL("unknown_record", "%s:%lld: id %.200s is not a row of %s", shards[json_integer_value(json_array_get(r, 0))],
                       (long long)json_integer_value(json_array_get(r, 3)), k, in);
    if (fflush(fo) || fsync(fileno(fo))) MERGE_FAIL("io_error", "%s: %s", tmp, strerror(errno));
    int closed = fclose(fo);
    fo = NULL;
    if (closed || rename(tmp, out)) MERGE_FAIL("io_error", "%s: %s", out, strerror(errno));
    tmp[0] = 0;

    json_int_t items = 0, skipped = 0, conc = 0;
    double seconds = 0;
    for (int s = 0; s < n_shards; s++) {
        json_t *run = json_object_get(sh[s].manifest, "run");
        items += json_integer_value(json_object_get(run, "new_items"));
        skipped += json_integer_value(json_object_get(run, "skipped_done"));
        conc += json_integer_value(json_object_get(run, "concurrency"));
        double sec = json_number_value(json_object_get(run, "seconds"));
        if (sec > seconds) seconds = sec;
    }
    *run_out = json_pack("{sIsIsIsf}", "new_items", items, "skipped_done", skipped, "concurrency", conc, "seconds", seconds);
    *failed_out = failed;
    failed = NULL;
    rc = 0;
done:
    if (fo) fclose(fo);
    if (tmp[0]) unlink(tmp);
    for (int s = 0; sh && s < n_shards; s++) {
        if (sh[s].f) fclose(sh[s].f);
        json_decref(sh[s].manifest);
    }
    free(sh);
    free(holder);
    free(key);
    free(line);
    json_decref(row);
    json_decref(id);
    json_decref(records);
    json_decref(failed_at);
    json_decref(failed);
    json_decref(digest);
    eval_input_close(&inp);
    return rc;
}
