/* cmd_tokenize.c — `rlaifv tokenize --tokenizer PATH [--no-bos]`: JSON lines {"text": "..."} on
 * stdin, one line {"ids": [...]} per input line on stdout, in order. A line that is not JSON or
 * has no string "text" gets {"error": "..."} and the tool goes on. Exit 0 unless loading fails. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "tok.h"

static void put_error(const char *msg) {
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    printf("%s\n", s ? s : "{\"error\": \"out of memory\"}");
    free(s);
    json_decref(o);
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int bos = 1, help = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--no-bos")) bos = 0;
        else if (!strcmp(argv[i], "--help")) help = 1;
        else { fprintf(stderr, "rlaifv tokenize: unknown option '%s'\n", argv[i]); path = NULL; break; }
    }
    if (!path || help) {
        fprintf(help ? stdout : stderr,
                "usage: rlaifv tokenize --tokenizer PATH [--no-bos]\n"
                "  PATH: tokenizer.json, tokenizer.model, or a checkpoint directory (tokenizer.json wins).\n"
                "  Reads JSON lines {\"text\": \"...\"} on stdin; writes {\"ids\": [...]} per line (BOS added\n"
                "  unless --no-bos), or {\"error\": \"...\"} for a line without valid JSON and a string \"text\".\n");
        return help ? 0 : 2;
    }
    tok *t = NULL;
    rlv_err err = {0};
    if (tok_load(&t, path, &err)) {
        fprintf(stderr, "rlaifv tokenize: %s [%s]\n", err.msg, rlv_err_name(err.code));
        return 1;
    }
    char *line = NULL;
    size_t lcap = 0;
    ssize_t n;
    int cap = 4096;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    char *out = NULL;
    size_t ocap = 0;
    while (ids && (n = getline(&line, &lcap, stdin)) >= 0) {
        json_error_t je;
        json_t *v = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &je), *jt = json_object_get(v, "text");
        if (!v) {
            char m[300];
            snprintf(m, sizeof m, "invalid JSON: %s", je.text);
            put_error(m);
        } else if (!json_is_string(jt)) {
            put_error("no string field \"text\"");
        } else {
            int cnt, rc = tok_encode(t, json_string_value(jt), json_string_length(jt), bos, ids, cap, &cnt, &err);
            if (rc == RLV_ELIMIT) {
                int32_t *b = realloc(ids, (size_t)cnt * sizeof *ids);
                if (b) {
                    ids = b;
                    cap = cnt;
                    rc = tok_encode(t, json_string_value(jt), json_string_length(jt), bos, ids, cap, &cnt, &err);
                }
            }
            if (rc) {
                put_error(err.msg);
            } else {
                size_t need = 16 + (size_t)cnt * 12;
                if (need > ocap) {
                    char *o = realloc(out, need);
                    if (!o) { put_error("out of memory"); json_decref(v); continue; }
                    out = o;
                    ocap = need;
                }
                size_t k = (size_t)sprintf(out, "{\"ids\": [");
                for (int i = 0; i < cnt; i++) k += (size_t)sprintf(out + k, i ? ", %d" : "%d", ids[i]);
                sprintf(out + k, "]}");
                puts(out);
            }
        }
        json_decref(v);
    }
    free(out);
    free(line);
    free(ids);
    tok_free(&t);
    return 0;
}
