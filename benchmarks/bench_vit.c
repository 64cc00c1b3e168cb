/* bench_vit.c — the vision path at real widths: one EVA ViT block and the resampler next to bare
 * cblas_sgemm at the same shapes (same run, same thread count), decode + resize of a JPEG, and the
 * whole vision step on a cache miss vs a cache hit.
 *
 *   bench_vit CKPT_DIR JPEG [threads=2] [reps=3] [stages [stream]]
 *   (CKPT_DIR from: make_ckpt.py --real-widths --layers 1 --vit-blocks 2 --out DIR)
 * "stages": only the time of every stage (timing.h) of the embedding, the blocks and the resampler,
 * best of reps per stage, and the vision step scaled to 63 blocks. "stream": the blocks' matrices
 * read by direct reads into the workspace's slots (vit_model_stream) instead of from the mapping;
 * the "stream wait" stage is the time the blocks waited for them.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "ckpt.h"
#include "model_config.h"
#include "image.h"
#include "imcache.h"
#include "mm.h"
#include "pool.h"
#include "resampler.h"
#include "vit.h"

static double vmin(const double *v, int n) { double m = v[0]; for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m; return m; }

static float *rnd(size_t n) {
    float *p = malloc(n * sizeof *p);
    unsigned s = 1;
    for (size_t i = 0; i < n && p; i++) { s = s * 1664525u + 1013904223u; p[i] = (float)((s >> 9) & 0xffff) / 65536.0f - 0.5f; }
    return p;
}

/* C[m, n] = A[m, k] . B^T (B [n, k]: the x.W^T shape of the model) or A . B (B [k, n]: P.V),
 * f32, timed. */
static double t_sgemm(int trans_b, int m, int n, int k, int reps_inner) {
    float *a = rnd((size_t)m * k), *b = rnd((size_t)n * k), *c = malloc((size_t)m * n * sizeof(float));
    double t0 = now_s();
    for (int r = 0; r < reps_inner; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, k, b,
                    trans_b ? k : n, 0.0f, c, n);
    double t = (now_s() - t0) / reps_inner;
    free(a); free(b); free(c);
    return t;
}
#define t_sgemm_nt(m, n, k, reps) t_sgemm(1, m, n, k, reps)
#define t_sgemm_nn(m, n, k, reps) t_sgemm(0, m, n, k, reps)

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s CKPT_DIR JPEG [threads=2] [reps=3]\n", argv[0]);
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2, reps = argc > 4 ? atoi(argv[4]) : 3;
    if (reps < 1) reps = 1;
    rlv_err e = {0};
    rlv_pool *pool = NULL;
    mm_ctx *mm = NULL;
    if (pool_init(&pool, threads, &e) || mm_ctx_init(&mm, pool, MM_COMPUTE_F32, &e)) {
        fprintf(stderr, "bench_vit: %s\n", e.msg);
        return 1;
    }
    rlv_model_config cfg;
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", argv[1]);
    ckpt *c = NULL;
    vit_model *vm = NULL;
    resampler_model *rm = NULL;
    vit_ws *vw = NULL;
    resampler_ws *rw = NULL;
    image_ws *iw = NULL;
    int stages = argc > 5 && !strcmp(argv[5], "stages"), stream = stages && argc > 6 && !strcmp(argv[6], "stream");
    if (model_config_load(&cfg, path, &e) || ckpt_open(&c, argv[1], &e) || vit_model_init(&vm, c, &cfg, &e) ||
        (stream && vit_model_stream(vm, c, &e)) ||
        resampler_model_init(&rm, c, &cfg, &e) || vit_ws_init(&vw, vm, mm, &e) || resampler_ws_init(&rw, rm, mm, &e) ||
        image_ws_init(&iw, 8192, cfg.image_size, &e)) {
        fprintf(stderr, "bench_vit: %s\n", e.msg);
        return 1;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { perror(argv[2]); return 1; }
    fseek(f, 0, SEEK_END);
    size_t jlen = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *jpg = malloc(jlen);
    if (fread(jpg, 1, jlen, f) != jlen) { fclose(f); return 1; }
    fclose(f);
    image_header hd;
    if (image_probe(jpg, jlen, NULL, &hd, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }

    int S = cfg.image_size, T = vit_tokens(vm), D = vit_width(vm), M = cfg.vision.mlp_dim, nh = cfg.vision.num_heads;
    int hdim = D / nh, E = cfg.hidden_size, Q = cfg.num_query, N = T - 1;
    float *px = malloc((size_t)3 * S * S * sizeof(float));
    float *feat = malloc((size_t)N * D * sizeof(float)), *emb = malloc((size_t)Q * E * sizeof(float));
    double tv[64];

    if (stages) {
        if (image_to_pixels(iw, jpg, jlen, NULL, S, px, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        vit_forward(vm, vw, px, feat);  /* warm: pages of the mmap-ed weights */
        resampler_forward(rm, rw, feat, emb);
        rlv_timing be, bb, br, t;
        for (int r = 0; r < reps; r++) {
            memset(&t, 0, sizeof t);
            vit_ws_set_timing(vw, &t);
            vit_embed(vm, vw, px);
            bench_timing_min(&be, &t, r == 0);
            memset(&t, 0, sizeof t);
            for (int j = 0; j < vit_blocks(vm); j++) vit_block(vm, vw, j);
            bench_timing_min(&bb, &t, r == 0);
            vit_ws_set_timing(vw, NULL);
            memset(&t, 0, sizeof t);
            resampler_ws_set_timing(rw, &t);
            resampler_forward(rm, rw, feat, emb);
            resampler_ws_set_timing(rw, NULL);
            bench_timing_min(&br, &t, r == 0);
        }
        printf("bench_vit stages: %s, %d threads, best of %d per stage; blocks %s\n", argv[1], threads, reps,
               stream ? "read directly (stream)" : "read from the mapping");
        bench_print_stages("ViT embedding (im2col, patch product, position add)", &be);
        char title[96];
        snprintf(title, sizeof title, "ViT, %d blocks", vit_blocks(vm));
        bench_print_stages(title, &bb);
        bench_print_stages("resampler", &br);
        rlv_timing v63;
        bench_timing_axpy(&v63, &bb, 63.0 / vit_blocks(vm), &be, 1);
        bench_timing_axpy(&v63, &v63, 1, &br, 1);
        bench_print_stages("vision step scaled to 63 blocks (embedding + 63 blocks + resampler)", &v63);
        return 0;
    }

    /* decode + resize + normalise */
    int nr = reps * 3 > 64 ? 64 : reps * 3;
    for (int r = 0; r < nr; r++) {
        double t0 = now_s();
        if (image_to_pixels(iw, jpg, jlen, NULL, S, px, NULL, &e)) { fprintf(stderr, "%s\n", e.msg); return 1; }
        tv[r] = now_s() - t0;
    }
    double t_img = sort_median(tv, nr);

    /* one ViT block (embedding once, then the block repeatedly on its own output) */
    vit_embed(vm, vw, px);
    vit_block(vm, vw, 0); /* warm: pages of the mmap-ed weights */
    double tr[64];
    /* block and bare sgemm alternate, so both see the same machine load */
    for (int r = 0; r < reps; r++) {
        vit_embed(vm, vw, px);
        double t0 = now_s();
        vit_block(vm, vw, 0);
        tv[r] = now_s() - t0;
        double s = t_sgemm_nt(T, 3 * D, D, 1) + t_sgemm_nt(T, D, D, 1) + t_sgemm_nt(T, M, D, 1) + t_sgemm_nt(T, D, M, 1);
        s += nh * (t_sgemm_nt(T, T, hdim, 2) + t_sgemm_nn(T, hdim, T, 2));
        tr[r] = s;
    }
    double b_blk = vmin(tv, reps), b_ref_blk = vmin(tr, reps);
    double t_blk = sort_median(tv, reps), t_ref_blk = sort_median(tr, reps);
    double fl_lin = 2.0 * T * D * (3.0 * D + D + 2.0 * M), fl_att = 4.0 * T * T * D;

    /* resampler */
    vit_forward(vm, vw, px, feat);
    resampler_forward(rm, rw, feat, emb);
    int rh = cfg.resampler_heads, rhd = E / rh;
    double fl_rs = 2.0 * N * D * E + 2.0 * 2.0 * N * E * E + 4.0 * Q * N * E + 2.0 * 2.0 * Q * E * E;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        resampler_forward(rm, rw, feat, emb);
        tv[r] = now_s() - t0;
        double s = t_sgemm_nt(N, E, D, 1) + 2 * t_sgemm_nt(N, E, E, 1) + t_sgemm_nt(Q, E, E, 1) + t_sgemm_nn(Q, E, E, 1);
        s += rh * (t_sgemm_nt(Q, N, rhd, 2) + t_sgemm_nn(Q, rhd, N, 2));
        tr[r] = s;
    }
    double b_rs = vmin(tv, reps), b_ref_rs = vmin(tr, reps);
    double t_rs = sort_median(tv, reps), t_ref_rs = sort_median(tr, reps);

    /* whole vision step (this checkpoint's blocks), cache miss vs hit */
    imcache *cache = NULL;
    imcache_open(&cache, (size_t)64 << 20, (size_t)Q * E, &e);
    imcache_key key = imcache_key_of(jpg, jlen, imcache_model_id(argv[1], strlen(argv[1])));
    double t0 = now_s();
    if (!imcache_get(cache, &key, emb, (size_t)Q * E)) {
        image_to_pixels(iw, jpg, jlen, NULL, S, px, NULL, &e);
        vit_forward(vm, vw, px, feat);
        resampler_forward(rm, rw, feat, emb);
        imcache_put(cache, &key, emb, (size_t)Q * E, &e);
    }
    double t_miss = now_s() - t0;
    for (int r = 0; r < nr; r++) {
        t0 = now_s();
        imcache_key k2 = imcache_key_of(jpg, jlen, key.model);
        if (!imcache_get(cache, &k2, emb, (size_t)Q * E)) { fprintf(stderr, "unexpected miss\n"); return 1; }
        tv[r] = now_s() - t0;
    }
    double t_hit = sort_median(tv, nr);

    printf("bench_vit: %s, %d threads, ViT %d tokens x %d (MLP %d, %d heads), %d stored blocks; resampler %d x %d over %d keys\n",
           argv[1], threads, T, D, M, nh, vit_blocks(vm), Q, E, N);
    printf("decode+resize+normalise  %s %dx%d, %zu bytes: %8.2f ms (median of %d)\n", hd.format, hd.width, hd.height, jlen, t_img * 1e3, nr);
    printf("ViT block (median)        %8.1f ms  %7.1f GFLOP/s | sgemm same shapes %8.1f ms %7.1f GFLOP/s | ratio %.2f\n",
           t_blk * 1e3, (fl_lin + fl_att) / t_blk * 1e-9, t_ref_blk * 1e3, (fl_lin + fl_att) / t_ref_blk * 1e-9, t_ref_blk / t_blk);
    printf("resampler (median)        %8.1f ms  %7.1f GFLOP/s | sgemm same shapes %8.1f ms %7.1f GFLOP/s | ratio %.2f\n",
           t_rs * 1e3, fl_rs / t_rs * 1e-9, t_ref_rs * 1e3, fl_rs / t_ref_rs * 1e-9, t_ref_rs / t_rs);
    printf("best of %d: ViT block %.1f ms vs sgemm %.1f ms, ratio %.2f; resampler %.1f ms vs sgemm %.1f ms, ratio %.2f\n",
           reps, b_blk * 1e3, b_ref_blk * 1e3, b_ref_blk / b_blk, b_rs * 1e3, b_ref_rs * 1e3, b_ref_rs / b_rs);
    printf("decode+resize / ViT block: %.4f\n", t_img / t_blk);
    printf("vision step (%d blocks)   miss %8.1f ms | cache hit (hash %zu B + copy %d x %d) %8.3f ms | ratio %.0fx\n",
           vit_blocks(vm), t_miss * 1e3, jlen, Q, E, t_hit * 1e3, t_miss / t_hit);
    printf("estimated 63-block vision step: %.1f s per image (miss)\n", t_img + 63 * t_blk + t_rs);

    imcache_free(&cache);
    free(px); free(feat); free(emb); free(jpg);
    image_ws_free(&iw);
    vit_ws_free(&vw);
    resampler_ws_free(&rw);
    vit_model_free(&vm);
    resampler_model_free(&rm);
    ckpt_free(&c);
    return 0;
}
