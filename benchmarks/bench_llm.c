/* bench_llm.c — the decoder's throughput next to cblas_sgemm, batching gain, memory.
 * usage: bench_llm MODEL_DIR [THREADS=2] [CAND_LEN_SCALING=64] [stages]
 *   MODEL_DIR: a real-width checkpoint with 2 decoder layers, e.g.
 *     /usr/bin/python3 tests/reference/make_ckpt.py --real-widths --layers 2 --vit-blocks 1 --out /tmp/llm_rw
 * Prefix: 300 tokens of which 256 are embedding rows (the image slots), as RLAIF-V-12B's.
 *   1. 8 candidates x 128 tokens in one llm_score, best of 3 interleaved rounds: GFLOP/s (BLAS FLOPs issued) with
 *      the weights as stored, next to cblas_sgemm f32 at the same shapes (m = the batch rows;
 *      every weight shape of the layers and lm_head). For the decoder on f32 weights, run it on
 *      an f32 checkpoint (make_ckpt.py --dtype f32): the model reads those in place.
 *   2. N = 1, 2, 4, 8, 16, 32 candidates of CAND_LEN tokens: time per candidate in one batch
 *      (one prefix + one llm_score) vs one at a time (its own prefix + llm_score of one).
 *   3. Memory: VmRSS / VmHWM over the weight bytes; KV + scratch of one workspace.
 *   "stages" (4th argument): only the time of every stage (timing.h) of one prefix and one
 *   llm_score of 8 x 128 tokens, best of 3 per stage, and the same scaled to 32 layers (per-layer
 *   stages x 32 / layers; embedding, lm_head and log-softmax once). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "ckpt.h"
#include "model_config.h"
#include "llm.h"
#include "mm.h"
#include "pool.h"

#define PREFIX 300
#define SLOT0 39
#define SLOTS 256

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, n)) v = atol(line + n + 1);
    if (f) fclose(f);
    return v;
}

static uint32_t rng = 12345;
static uint32_t rnd(void) { return rng = rng * 1664525u + 1013904223u; }

static int32_t prefix_ids[PREFIX], emb_pos[SLOTS];
static float *emb_rows;

static void die(int rc, rlv_err *e) {
    if (rc) {
        fprintf(stderr, "bench_llm: %s\n", e->msg);
        exit(1);
    }
}

/* BLAS FLOPs of one llm_score over n candidates of len tokens (len - 1 rows each). */
static double score_flops(const rlv_model_config *c, int n, int len) {
    double H = c->hidden_size, F = c->intermediate_size, V = c->vocab_size, hd = H / c->num_attention_heads;
    double qd = H, kvd = c->num_key_value_heads * hd, R = (double)n * (len - 1), r1 = len - 1;
    double proj = 2 * R * (H * qd + 2 * H * kvd + qd * H + 3 * H * F);
    double att = c->num_attention_heads * 2.0 * (2 * R * PREFIX * hd + n * 2 * r1 * r1 * hd);
    return c->num_hidden_layers * (proj + att) + 2 * R * H * V;
}

/* Stage tables of one prefix + one llm_score of 8 x 128, best of `reps` stage by stage. */
static void stages(llm_ws *ws, int32_t **cand, int *lens, double *lp, int layers, int reps) {
    rlv_timing bp, bs, t;
    rlv_err e = {0};
    for (int r = 0; r < reps; r++) {
        memset(&t, 0, sizeof t);
        llm_ws_set_timing(ws, &t);
        die(llm_prefix(ws, prefix_ids, PREFIX, emb_rows, emb_pos, SLOTS, &e), &e);
        bench_timing_min(&bp, &t, r == 0);
        memset(&t, 0, sizeof t);
        die(llm_score(ws, (const int32_t *const *)cand, lens, 8, lp, NULL, &e), &e);
        bench_timing_min(&bs, &t, r == 0);
        llm_ws_set_timing(ws, NULL);
    }
    printf("\n[0] stages, best of %d per stage, %d layers\n", reps, layers);
    bench_print_stages("prefix, 300 rows", &bp);
    bench_print_stages("llm_score, 8 x 128 tokens (1016 rows)", &bs);
    /* 32 layers: every stage but the once-per-forward ones grows with the depth */
    rlv_timing job, per_layer, once;
    bench_timing_axpy(&per_layer, &bp, 1, &bs, 1);
    memset(&once, 0, sizeof once);
    int fwd[] = {RLV_STAGE_EMBED, RLV_STAGE_LM_HEAD, RLV_STAGE_LOGSOFTMAX};
    for (int i = 0; i < 3; i++) {
        once.s[fwd[i]] = per_layer.s[fwd[i]], once.n[fwd[i]] = per_layer.n[fwd[i]];
        per_layer.s[fwd[i]] = 0, per_layer.n[fwd[i]] = 0;
    }
    bench_timing_axpy(&job, &per_layer, 32.0 / layers, &once, 1);
    bench_print_stages("prefix + llm_score scaled to 32 layers", &job);
}

static double prefix_time(llm_ws *ws) {
    rlv_err e = {0};
    double t0 = now_s();
    die(llm_prefix(ws, prefix_ids, PREFIX, emb_rows, emb_pos, SLOTS, &e), &e);
    return now_s() - t0;
}

static double score_time(llm_ws *ws, int32_t **cand, int *lens, int n, double *lp) {
    rlv_err e = {0};
    double t0 = now_s();
    die(llm_score(ws, (const int32_t *const *)cand, lens, n, lp, NULL, &e), &e);
    return now_s() - t0;
}

/* cblas_sgemm f32 seconds for y[m, n] = x[m, k] . W^T over the decoder's weight shapes. */
void openblas_set_num_threads(int);

/* cblas_sgemm on `threads` OpenBLAS threads; mm's pool wants OpenBLAS on one thread again after. */
static double sgemm_time(const rlv_model_config *c, int m, int threads, double *flops) {
    openblas_set_num_threads(threads);
    int H = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
    int kvd = c->num_key_value_heads * (H / c->num_attention_heads);
    int shp[8][2] = {{H, H}, {kvd, H}, {kvd, H}, {H, H}, {F, H}, {F, H}, {H, F}, {V, H}};
    size_t wmax = (size_t)V * H > (size_t)F * H ? (size_t)V * H : (size_t)F * H;
    size_t xmax = (size_t)m * (F > H ? F : H), ymax = (size_t)m * (V > F ? V : F);
    float *w = malloc(wmax * 4), *x = malloc(xmax * 4), *y = malloc(ymax * 4);
    for (size_t i = 0; i < wmax; i++) w[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-5f;
    for (size_t i = 0; i < xmax; i++) x[i] = (float)((int)(rnd() % 2001) - 1000) * 1e-3f;
    double t = 0;
    *flops = 0;
    for (int s = 0; s < 8; s++) {
        int n = shp[s][0], k = shp[s][1], times = s < 7 ? c->num_hidden_layers : 1;
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
        t += (now_s() - t0) * times;
        *flops += 2.0 * m * n * k * times;
    }
    free(w), free(x), free(y);
    openblas_set_num_threads(1);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_llm MODEL_DIR [THREADS=2] [CAND_LEN_SCALING=64]\n");
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2, clen = argc > 3 ? atoi(argv[3]) : 64;
    int stages_only = argc > 4 && !strcmp(argv[4], "stages");
    rlv_err e = {0};
    rlv_pool *pool = NULL;
    mm_ctx *mm = NULL;
    die(pool_init(&pool, threads, &e), &e);
    die(mm_ctx_init(&mm, pool, MM_COMPUTE_F32, &e), &e);
    rlv_model_config cfg;
    char p[1024];
    snprintf(p, sizeof p, "%s/config.json", argv[1]);
    die(model_config_load(&cfg, p, &e), &e);
    ckpt *ck = NULL;
    die(ckpt_open(&ck, argv[1], &e), &e);
    llm_model *m = NULL;
    die(llm_model_init(&m, ck, &cfg, &e), &e);
    int H = cfg.hidden_size, V = cfg.vocab_size;
    printf("checkpoint %s: hidden %d, layers %d, heads %d/%d, ffn %d, vocab %d; %d BLAS threads\n", argv[1], H,
           cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.intermediate_size, V,
           threads);

    prefix_ids[0] = 1;
    for (int i = 1; i < PREFIX; i++) prefix_ids[i] = 3 + (int32_t)(rnd() % 31990);
    for (int i = 0; i < SLOTS; i++) emb_pos[i] = SLOT0 + i, prefix_ids[SLOT0 + i] = 32000;
    emb_rows = malloc((size_t)SLOTS * H * sizeof(float));
    for (size_t i = 0; i < (size_t)SLOTS * H; i++) emb_rows[i] = (float)((int)(rnd() % 2001) - 1000) * 5e-4f;

    enum { NMAX = 32, L1 = 128 };
    int max_tok = NMAX * clen > 8 * L1 ? NMAX * clen : 8 * L1;
    int32_t *cand[NMAX];
    int lens[NMAX];
    for (int i = 0; i < NMAX; i++) {
        cand[i] = malloc((size_t)(clen > L1 ? clen : L1) * sizeof(int32_t));
        for (int j = 0; j < (clen > L1 ? clen : L1); j++) cand[i][j] = 3 + (int32_t)(rnd() % 31990);
    }
    double *lp = malloc((size_t)max_tok * sizeof(double));
    llm_limits lim = {PREFIX, max_tok, NMAX};
    llm_ws *ws = NULL;
    die(llm_ws_init(&ws, m, &lim, mm, &e), &e);

    for (int i = 0; i < 8; i++) lens[i] = L1;
    if (stages_only) {
        prefix_time(ws);  /* warm: pages of the mmap-ed weights */
        stages(ws, cand, lens, lp, cfg.num_hidden_layers, 3);
        llm_ws_free(&ws);
        llm_model_free(&m);
        ckpt_free(&ck);
        return 0;
    }
    /* 4. memory with the bf16 model alone (measured after one batch has touched everything) */
    double tp = prefix_time(ws);
    score_time(ws, cand, lens, 8, lp);
    long rss_bf16 = status_kb("VmRSS:"), hwm_bf16 = status_kb("VmHWM:");
    printf("\n[4] memory, bf16 weights as stored: weights read %.0f MB; VmRSS %.0f MB (%.2f x weights), VmHWM %.0f MB\n",
           llm_model_weight_bytes(m) / 1e6, rss_bf16 / 1e3, rss_bf16 * 1e3 / llm_model_weight_bytes(m),
           hwm_bf16 / 1e3);
    printf("  one workspace (prefix %d, %d candidate tokens, %d candidates): KV %.1f MB + scratch %.1f MB\n", PREFIX,
           max_tok, NMAX, llm_ws_kv_bytes(ws) / 1e6, llm_ws_scratch_bytes(ws) / 1e6);
    printf("  KV per token of the limits: %.1f KB\n", llm_ws_kv_bytes(ws) / 1e3 / (PREFIX + max_tok));

    /* 1. throughput, 8 x 128: the weights as stored, sgemm; interleaved rounds, best of each
     * (the machine is shared: the minimum is the least disturbed run) */
    double fl = score_flops(&cfg, 8, L1), sg_fl = 0;
    double t_dec = 1e30, t_sg = 1e30;
    for (int r = 0; r < 3; r++) {
        t_sg = fmin(t_sg, sgemm_time(&cfg, 8 * (L1 - 1), threads, &sg_fl));
        t_dec = fmin(t_dec, score_time(ws, cand, lens, 8, lp));
    }
    double sg = sg_fl / t_sg;
    printf("\n[1] 8 candidates x %d tokens (%d rows), prefix %d (%d embedding rows, forward %.2f s); best of 3\n", L1,
           8 * (L1 - 1), PREFIX, SLOTS, tp);
    printf("  cblas_sgemm f32, same weight shapes, m = %d:   %.2f s, %.1f GFLOP/s (%.0f GFLOP)\n", 8 * (L1 - 1), t_sg,
           sg * 1e-9, sg_fl * 1e-9);
    printf("  decoder, weights as stored:   %.2f s, %.1f GFLOP/s (%.0f GFLOP), %.2f of sgemm\n", t_dec, fl / t_dec * 1e-9, fl * 1e-9, fl / t_dec / sg);

    /* 2. batching */
    printf("\n[2] candidates of %d tokens, bf16 panels: time per candidate, one batch vs one at a time (own prefix each)\n",
           clen);
    for (int i = 0; i < NMAX; i++) lens[i] = clen;
    double one = 1e30;
    for (int i = 0; i < 2; i++) {
        double t = prefix_time(ws);
        t += score_time(ws, cand + i, lens, 1, lp);
        one = fmin(one, t);
    }
    printf("  one at a time: %.2f s per candidate (best of 2; it does not depend on N)\n", one);
    printf("  %4s %12s %14s %10s %14s\n", "N", "batch s", "s/candidate", "speed-up", "score-only s");
    double prev_score = 0;
    int prev_n = 0;
    for (int n = 1; n <= NMAX; n *= 2) {
        double tpre = 1e30, ts = 1e30;
        for (int r = 0; r < 2; r++) {
            tpre = fmin(tpre, prefix_time(ws));
            ts = fmin(ts, score_time(ws, cand, lens, n, lp));
        }
        double per = (tpre + ts) / n;
        printf("  %4d %12.2f %14.3f %9.1fx %14.2f\n", n, tpre + ts, per, one / per, ts);
        if (n == NMAX) {
            double marg = (ts - prev_score) / (n - prev_n);
            printf("  marginal candidate (N %d -> %d): %.3f s; its own FLOPs at the sgemm rate: %.3f s\n", prev_n, n,
                   marg, score_flops(&cfg, 1, clen) / sg);
        }
        prev_score = ts, prev_n = n;
    }
    printf("  VmHWM %.0f MB\n", status_kb("VmHWM:") / 1e3);

    llm_ws_free(&ws);
    llm_model_free(&m);
    ckpt_free(&ck);
    for (int i = 0; i < NMAX; i++) free(cand[i]);
    free(lp), free(emb_rows);
    return 0;
}
