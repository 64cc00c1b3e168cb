/* bench_tok.c — tokenizer encode speed: TOKENIZER TEXT_FILE. One tok_encode per line (the unit
 * bench_tok_hf.js uses too), then the whole file as one string; best of 3, one thread. Also the
 * load time. Prints MB/s and token counts (compare with bench_tok_hf.js on the same file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "tok.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench_tok TOKENIZER TEXT_FILE\n");
        return 2;
    }
    rlv_err err = {0};
    tok *t = NULL;
    double t0 = now_s();
    if (tok_load(&t, argv[1], &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t_load = now_s() - t0;
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) return 1;
    fclose(f);
    text[n] = 0;
    int cap = 1 << 22;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    double best_line = 1e30, best_whole = 1e30;
    long tokens_line = 0, lines = 0;
    int tokens_whole = 0;
    for (int rep = 0; rep < 3; rep++) {
        t0 = now_s();
        tokens_line = lines = 0;
        for (char *p = text, *e; *p; p = *e ? e + 1 : e) {
            e = strchr(p, '\n');
            if (!e) e = p + strlen(p);
            if (e == p) continue;
            int k;
            if (tok_encode(t, p, (size_t)(e - p), 0, ids, cap, &k, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
            tokens_line += k;
            lines++;
        }
        double dt = now_s() - t0;
        if (dt < best_line) best_line = dt;
        t0 = now_s();
        if (tok_encode(t, text, (size_t)n, 0, ids, cap, &tokens_whole, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        dt = now_s() - t0;
        if (dt < best_whole) best_whole = dt;
    }
    double mb = n / 1e6;
    printf("rlaifv load %s: %.1f ms (%s)\n", argv[1], t_load * 1e3, tok_source(t));
    printf("rlaifv per-line (1 thread): %.2f MB/s, %ld tokens, %ld lines\n", mb / best_line, tokens_line, lines);
    printf("rlaifv whole text, one call: %.2f MB/s, %d tokens\n", mb / best_whole, tokens_whole);
    free(ids);
    free(text);
    tok_free(&t);
    return 0;
}
