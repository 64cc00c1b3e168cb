/* fuzz_eval_merge.c — libFuzzer target: `rlaifv eval --merge` (eval_merge) over one shard whose
 * output and manifest are the input bytes (split at the first NUL: the output, then its
 * .shard.json), for the fixed data set below. Shard files are anyone's to edit, so whatever they
 * hold the merge must return 0 with its failed rows and run figures, or -1 with a named code and
 * a message — never crash, never leave its temp file. The seeds (tests/fuzz/corpus/eval_merge)
 * are real `rlaifv eval --shard 0/1` outputs of this data set on the demo pair. */
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval_shard.h"

/* 4 rows: two pairs, one text-only row with gold, one that is not JSON (a failed row). */
static const char DATA_SET[] =
    "{\"id\": \"a\", \"image\": null, \"prompt\": \"Capital?\", \"candidates\": [\"Paris.\", \"Lyon.\"], \"gold\": 0}\n"
    "{\"id\": 2, \"image\": null, \"prompt\": \"Colour?\", \"chosen\": \"Red.\", \"rejected\": \"Blue.\", \"ds\": \"x\"}\n"
    "{not json\n"
    "{\"image\": null, \"question\": \"Size?\", \"chosen\": \"Big.\", \"rejected\": \"Small.\"}\n";

static char dir[64], in[96], shard[96], manifest[112], out[96];

static void cleanup(void) {
    const char *files[] = {in, shard, manifest, out};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) unlink(files[i]);
    rmdir(dir);
}

static void put(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_eval_merge.XXXXXX");
        if (!mkdtemp(dir) || sodium_init() < 0) abort();
        snprintf(in, sizeof in, "%s/in.jsonl", dir);
        snprintf(shard, sizeof shard, "%s/s.jsonl", dir);
        snprintf(manifest, sizeof manifest, "%s/s.jsonl.shard.json", dir);
        snprintf(out, sizeof out, "%s/out.jsonl", dir);
        put(in, DATA_SET, sizeof DATA_SET - 1);
        atexit(cleanup);
    }
    const uint8_t *nul = memchr(data, 0, size);
    size_t n_out = nul ? (size_t)(nul - data) : size;
    put(shard, data, n_out);
    put(manifest, nul ? nul + 1 : data, nul ? size - n_out - 1 : 0);
    json_t *failed = NULL, *run = NULL;
    char code[32], msg[1024], *shards[] = {shard};
    int rc = eval_merge(in, out, shards, 1, &failed, &run, code, msg, sizeof msg);
    if (rc == 0 ? !json_is_array(failed) || !json_is_object(run) : rc != -1 || !code[0] || !memchr(msg, 0, sizeof msg) ||
                                                                   failed || run)
        abort();
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.merge.tmp", out);
    if (access(tmp, F_OK) == 0) abort(); /* the temp file never outlives the merge */
    json_decref(failed);
    json_decref(run);
    return 0;
}
