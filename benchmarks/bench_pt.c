/* bench_pt.c — open time and resident memory of a torch.save checkpoint next to its safetensors twin.
 * usage: bench_pt BIN_DIR ST_DIR [REPS]
 *   The pair (same weights, real widths, 2 decoder layers, 2 ViT blocks, ~1.9 GB each):
 *     /usr/bin/python3 tests/reference/make_pt.py --real-widths --layers 2 --vit-blocks 2 --out /tmp/rw_pt
 *     bench_pt /tmp/rw_pt/bin /tmp/rw_pt/st
 * Opens are warm (the files sit in the page cache after the first run). Resident memory is read from
 * /proc/self/status: RssAnon (private copies: should stay flat) and RssFile (mapped file pages, which
 * grow only when tensor bytes are touched). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "ckpt.h"

/* RssAnon and RssFile in MB. */
static void rss_mb(double *anon, double *file) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *anon = *file = -1;
    while (f && fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) *anon = kb / 1024.0;
        if (sscanf(line, "RssFile: %ld kB", &kb) == 1) *file = kb / 1024.0;
    }
    if (f) fclose(f);
}

static int bench(const char *dir, int reps) {
    double t[64];
    rlv_err err = {0};
    int n = 0;
    size_t total = 0;
    for (int r = 0; r < reps; r++) {
        ckpt *c = NULL;
        double t0 = now_s();
        if (ckpt_open(&c, dir, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[r] = now_s() - t0;
        n = ckpt_n_tensors(c);
        total = 0;
        for (int i = 0; i < n; i++) total += ckpt_tensor(c, i)->nbytes;
        ckpt_free(&c);
    }
    sort_median(t, reps);
    /* Resident memory: before, after one open, after reading every tensor byte once. */
    double a0, f0, a1, f1, a2, f2;
    rss_mb(&a0, &f0);
    ckpt *c = NULL;
    if (ckpt_open(&c, dir, &err)) return 1;
    rss_mb(&a1, &f1);
    volatile uint64_t sink = 0;
    for (int i = 0; i < n; i++) {
        const rlv_tensor *x = ckpt_tensor(c, i);
        const uint8_t *p = x->data;
        for (size_t k = 0; k < x->nbytes; k += 4096) sink += p[k];
    }
    (void)sink;
    rss_mb(&a2, &f2);
    printf("%-12s %s: %d tensors, %.2f GB in %d file(s)\n", ckpt_format(c), dir, n, total / 1e9, ckpt_n_files(c));
    printf("  open: median %.3f ms (min %.3f, max %.3f) over %d runs\n", t[reps / 2] * 1e3, t[0] * 1e3,
           t[reps - 1] * 1e3, reps);
    printf("  RSS anon/file MB: before %.1f/%.1f, after open %.1f/%.1f, after touching every page %.1f/%.1f\n",
           a0, f0, a1, f1, a2, f2);
    ckpt_free(&c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_pt BIN_DIR ST_DIR [REPS]\n");
        return 2;
    }
    int reps = argc > 3 ? atoi(argv[3]) : 9;
    if (reps < 1 || reps > 64) reps = 9;
    return bench(argv[1], reps) || bench(argv[2], reps);
}
