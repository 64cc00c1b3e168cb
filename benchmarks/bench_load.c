/* bench_load.c — checkpoint open+validate time, and bf16->f32 conversion throughput next to memcpy.
 * usage: bench_load MODEL_DIR [MB]
 *   MODEL_DIR: e.g. a real-width checkpoint with 2 decoder layers and 2 ViT blocks:
 *     /usr/bin/python3 tests/reference/make_ckpt.py --real-widths --layers 2 --vit-blocks 2 --out /tmp/rw2
 *   MB: size of the streaming conversion buffer (default 256, out of cache). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "ckpt.h"
#include "model_config.h"
#include "half.h"
#include "manifest.h"

/* Median seconds of `reps` runs of fn over (dst, src, n). */
typedef void (*conv_fn)(float *, const uint16_t *, size_t);
static void copy_fn(float *d, const uint16_t *s, size_t n) { memcpy(d, s, n * 2); }
static void copy_out_fn(float *d, const uint16_t *s, size_t n) { memcpy(d, d + n, n * 4); (void)s; }

static double time_it(conv_fn fn, float *dst, const uint16_t *src, size_t n, int reps) {
    double t[64];
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        fn(dst, src, n);
        t[r] = now_s() - t0;
    }
    sort_median(t, reps);
    return t[reps / 2];
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_load MODEL_DIR [MB]\n");
        return 2;
    }
    size_t mb = argc > 2 ? (size_t)atoi(argv[2]) : 256;
    rlv_err err = {0};
    rlv_model_config cfg;
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", argv[1]);
    if (model_config_load(&cfg, p, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }

    /* 1. open + validate + manifest check, 7 runs (pages stay in the page cache: a warm open). */
    double t[7];
    size_t total = 0;
    int ntens = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        ckpt *c = NULL;
        if (ckpt_open(&c, argv[1], &err) || manifest_check(&cfg, c, NULL, NULL, NULL, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        t[r] = now_s() - t0;
        total = 0;
        ntens = ckpt_n_tensors(c);
        for (int i = 0; i < ntens; i++) total += ckpt_tensor(c, i)->nbytes;
        ckpt_free(&c);
    }
    sort_median(t, 7);
    printf("open+validate+manifest: %d tensors, %.2f GB: median %.2f ms (min %.2f, max %.2f) over 7 runs\n",
           ntens, total / 1e9, t[3] * 1e3, t[0] * 1e3, t[6] * 1e3);

    /* 2. conversion throughput: streaming (mb MB of bf16, out of cache) and in-cache (256 KB panel). */
    size_t sizes[2] = {mb << 19, 128 << 10}; /* elements: mb MB of bf16; 128 Ki elements = 256 KB */
    const char *label[2] = {"streaming", "in-cache (256 KB bf16 panel)"};
    for (int k = 0; k < 2; k++) {
        size_t n = sizes[k];
        int reps = k ? 63 : 7;
        uint16_t *src = malloc(n * 2);
        float *dst = malloc(n * 4 * 2);
        if (!src || !dst) return 1;
        for (size_t i = 0; i < n; i++) src[i] = (uint16_t)(i * 2654435761u >> 16);
        memset(dst, 1, n * 8);
        double tv = time_it(half_bf16_to_f32_n, dst, src, n, reps);
        double ts = time_it(half_bf16_to_f32_n_scalar, dst, src, n, reps);
        double tf = time_it(half_f16_to_f32_n, dst, src, n, reps);
        double tm = time_it(copy_fn, dst, src, n, reps);
        double to = time_it(copy_out_fn, dst, src, n, reps);
        printf("%s, %zu elements (%.1f MB bf16 -> %.1f MB f32):\n", label[k], n, n * 2 / 1e6, n * 4 / 1e6);
        printf("  bf16->f32 vector  %6.2f GB/s in, %6.2f GB/s out   (%.2f ms)\n", n * 2 / tv / 1e9, n * 4 / tv / 1e9, tv * 1e3);
        printf("  bf16->f32 scalar  %6.2f GB/s in, %6.2f GB/s out\n", n * 2 / ts / 1e9, n * 4 / ts / 1e9);
        printf("  f16->f32  vector  %6.2f GB/s in, %6.2f GB/s out\n", n * 2 / tf / 1e9, n * 4 / tf / 1e9);
        printf("  memcpy same input bytes  %6.2f GB/s; memcpy output-size bytes %6.2f GB/s\n",
               n * 2 / tm / 1e9, n * 4 / to / 1e9);
        printf("  conversion / memcpy(output size): %.2f; seconds per GB of bf16 weights: %.3f\n",
               to / tv, tv / (n * 2 / 1e9));
        free(src);
        free(dst);
    }
    return 0;
}
