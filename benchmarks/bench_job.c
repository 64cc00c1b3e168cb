/* bench_job.c — whole scoring jobs through the public engine API (rlaifv.h: rlv_engine_open,
 * rlv_worker_open, rlv_score) on a policy (+ reference) checkpoint, e.g. the full-size pair of
 * benchmarks/make_fullsize.py. Prints, per stage and model and for the job: wall time, FLOPs
 * counted from the config's shapes, GFLOP/s, that rate over the widest fp32 FMA peak measured
 * in the same run (bench_peak.h), CPU busy %, bytes read from disk and peak RSS.
 *
 *   bench_job --model DIR [--ref-model DIR] --image FILE [--prompt TEXT] [--candidates 8]
 *             [--cand-tokens 64] [--repeat 1] [--blas-threads 1] [--no-cache] [--peak-seconds 0.3]
 *             [--one-at-a-time] [--compute fp32|bf16] [--prefix-cache-mb 1024] [--repack-weights off|auto|on]
 *             [--stream-weights off|auto|on]
 *             [--separate-prefix]
 *
 * Candidates are generated English-like texts of about --cand-tokens tokens each (their
 * exact token counts, from the engine's own prompt assembly, are printed). --no-cache opens
 * the engine without an image cache, so every repeat runs the vision side again; otherwise
 * repeats after the first find the image embedding in the cache. The policy's image time
 * includes the decode + resize of the image (the engine does it once, for the first model).
 * --one-at-a-time (implies --no-cache) then scores the same candidates the way the official
 * pipeline does, one forward per candidate: N jobs of one candidate each, every one running the
 * vision side and the prefix again, and prints the batched job's speed-up over them.
 * --compute bf16 runs the weight products on bf16 dot products (rlv_engine_opts.compute); %peak
 * stays over the widest fp32 FMA peak (the yardstick) and the bf16 peak is printed too.
 * --prefix-cache-mb sets the prefix cache (rlv_engine_opts.prefix_cache_bytes; --no-cache turns it
 * off too): repeats after the first then attach each model's cached prefix state, running neither
 * vision nor the prefix; each repeat says so, and the last line compares the last repeat with
 * its candidates step alone.
 * A prefix the prefix cache does not hold runs in the candidates' pass over the decoder (one row
 * "prefix + candidates" per model); --separate-prefix runs it in a pass of its own first
 * (rlv_engine_opts.separate_prefix), as the engine did before, for comparison.
 * Exit 1 when a log-prob is not finite. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_peak.h"
#include "bench_util.h"
#include "model_config.h"
#include "prefix.h"
#include "prompt.h"
#include "rlaifv.h"
#include "tok.h"

#define MAX_CANDS 64

/* ------------------------------------------------------------------ FLOPs from the shapes
 * 2 flops per multiply-add of the matrix products; norms, softmax, activations, RoPE and the
 * image decode are not counted. Per model, from its config.json:
 *   ViT (g = image_size / patch, T = g² + 1 tokens, width D, MLP M, B stored blocks):
 *     patch embed 2·g²·D·3p²;  per block 2·T·D·(3D + D + 2M) (qkv, proj, fc1, fc2)
 *                                         + 4·T²·D (Q·Kᵀ and A·V over all heads)
 *   resampler (N = g² image rows, Q queries, hidden E; the query side is image-independent
 *     and computed at load, so not counted per image):
 *     2·N·D·E (kv_proj) + 4·N·E² (K, V) + 4·Q·N·E (attention) + 4·Q·E² (out_proj, proj)
 *   decoder (hidden H, FFN F, kv width K = kv_heads · head_dim, L layers, vocab V), per row and
 *     layer 2·H·(2H + 2K) + 6·H·F (q, o, k, v; gate, up, down), plus 4·H per (row, key) of
 *     causal attention (Q·Kᵀ and A·V over all heads):
 *     prefix of P rows: L·(P·row + 4·H·P(P+1)/2) + lm_head 2·V·H on its last row
 *     candidates: candidate i runs r_i = len_i − 1 rows (its last token predicts nothing),
 *       row j sees P + j + 1 keys: L·(r_i·row + 4·H·(r_i·P + r_i(r_i+1)/2)) + 2·V·H·r_i */
typedef struct job_flops {
    double vit, resampler, prefix, cands;
} job_flops;

static job_flops count_flops(const rlv_model_config *c, int n_prefix, const int *lens, int n) {
    job_flops f;
    double g = c->vit_grid, T = g * g + 1, D = c->vision.embed_dim, M = c->vision.mlp_dim;
    double p = c->vision.patch_size, B = c->vision.depth - 1;
    f.vit = 2 * g * g * D * 3 * p * p + B * (2 * T * D * (4 * D + 2 * M) + 4 * T * T * D);
    double N = g * g, Q = c->num_query, E = c->hidden_size;
    f.resampler = 2 * N * D * E + 4 * N * E * E + 4 * Q * N * E + 4 * Q * E * E;
    double H = c->hidden_size, F = c->intermediate_size, K = c->kv_dim, L = c->num_hidden_layers;
    double V = c->vocab_size, P = n_prefix, row = 2 * H * (2 * H + 2 * K) + 6 * H * F;
    f.prefix = L * (P * row + 4 * H * P * (P + 1) / 2) + 2 * V * H;
    f.cands = 0;
    for (int i = 0; i < n; i++) {
        double r = lens[i] - 1;
        f.cands += L * (r * row + 4 * H * (r * P + r * (r + 1) / 2)) + 2 * V * H * r;
    }
    return f;
}

/* ------------------------------------------------------------------ process counters */

static double read_bytes(void) { /* /proc/self/io read_bytes: bytes this process made the disk read */
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    const char *p;
    double v = -1;
    while (f && fgets(line, sizeof line, f))
        if ((p = prefix_skip(line, "read_bytes:"))) v = atof(p);
    if (f) fclose(f);
    return v;
}

static double cpu_s(void) { /* user + sys of all threads */
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

static double peak_rss_mb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024.0;
}

/* ------------------------------------------------------------------ inputs */

static const char *const WORDS[] = {
    "the", "image", "shows", "a", "red", "car", "and", "two", "white", "sheep", "on", "green", "grass",
    "near", "the", "road", "with", "tall", "trees", "in", "the", "background", "under", "a", "blue", "sky",
    "there", "is", "small", "house", "behind", "them", "left", "side", "of", "picture", "one", "looks",
    "at", "camera", "while", "other", "eats", "parked", "next", "to", "fence", "it", "seems", "sunny"};
#define N_WORDS (int)(sizeof WORDS / sizeof *WORDS)

/* n_words words from a per-candidate sequence, capitalised, ending with ".". Caller frees. */
static char *make_candidate(int idx, int n_words) {
    char *s = malloc((size_t)n_words * 12 + 4), *p = s;
    uint32_t x = 2654435761u * (uint32_t)(idx + 1);
    for (int w = 0; w < n_words && s; w++) {
        x = x * 1664525u + 1013904223u;
        p += sprintf(p, "%s%s", w ? " " : "", WORDS[(x >> 8) % N_WORDS]);
    }
    if (s) {
        s[0] = (char)(s[0] - 'a' + 'A');
        strcpy(p, ".");
    }
    return s;
}

static uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

typedef struct bench_opts {
    const char *model, *ref_model, *image, *prompt;
    int candidates, cand_tokens, repeat, threads, no_cache, one_at_a_time, separate_prefix;
    long prefix_cache_mb;  /* -1: the engine's default */
    double peak_seconds;
    rlv_compute compute;
    rlv_repack repack;
    rlv_stream stream;
} bench_opts;

static int parse_args(bench_opts *o, int argc, char **argv) {
    *o = (bench_opts){.prompt = "What is in the image? Describe it in detail.", .candidates = 8, .cand_tokens = 64,
                      .repeat = 1, .threads = 1, .peak_seconds = 0.3, .prefix_cache_mb = -1,
                      .stream = RLV_STREAM_AUTO};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-cache")) { o->no_cache = 1; continue; }
        if (!strcmp(a, "--one-at-a-time")) { o->one_at_a_time = o->no_cache = 1; continue; }
        if (!strcmp(a, "--separate-prefix")) { o->separate_prefix = 1; continue; }
        if (!v) return -1;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--ref-model")) o->ref_model = v;
        else if (!strcmp(a, "--image")) o->image = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--candidates")) o->candidates = atoi(v);
        else if (!strcmp(a, "--cand-tokens")) o->cand_tokens = atoi(v);
        else if (!strcmp(a, "--repeat")) o->repeat = atoi(v);
        else if (!strcmp(a, "--blas-threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--peak-seconds")) o->peak_seconds = atof(v);
        else if (!strcmp(a, "--prefix-cache-mb")) o->prefix_cache_mb = atol(v);
        else if (!strcmp(a, "--compute")) { if (rlv_compute_parse(v, &o->compute)) return -1; }
        else if (!strcmp(a, "--repack-weights")) { if (rlv_repack_parse(v, &o->repack)) return -1; }
        else if (!strcmp(a, "--stream-weights")) { if (rlv_stream_parse(v, &o->stream)) return -1; }
        else return -1;
        i++;
    }
    if (!o->model || !o->image || o->candidates < 1 || o->candidates > MAX_CANDS || o->cand_tokens < 1 ||
        o->repeat < 1 || o->threads < 1 || o->peak_seconds <= 0)
        return -1;
    return 0;
}

/* Candidate texts of about `tokens` response tokens each, with their token counts (ids after
 * the prefix, `lens`) from the engine's own prompt assembly; *n_prefix the shared prefix. */
static int make_candidates(const bench_opts *o, const rlv_model_config *c, char **cands, int *lens, int *scored,
                           int *n_prefix, rlv_err *err) {
    tok *t = NULL;
    int rc = tok_load(&t, o->model, err), n = o->candidates;
    int words[MAX_CANDS];
    for (int i = 0; i < n; i++) words[i] = o->cand_tokens;
    for (int pass = 0; pass < 2 && !rc; pass++) { /* pass 2: rescale the word count to the tokens seen */
        for (int i = 0; i < n; i++) {
            free(cands[i]);
            if (!(cands[i] = make_candidate(i, words[i]))) rc = rlv_errf(err, RLV_ENOMEM, "out of memory");
        }
        prompt_req req = {.question = o->prompt, .cands = (const char *const *)cands, .n_cands = n,
                          .num_query = c->num_query, .max_tokens = 2048};
        prompt_ids *p = NULL;
        if (!rc) rc = prompt_build(&p, t, &req, err);
        for (int i = 0; !rc && i < n; i++) {
            lens[i] = p->cands[i].n;
            scored[i] = p->cands[i].n - p->cands[i].score_from;
            int resp = scored[i] - 1; /* without the closing </s> */
            words[i] = (int)lrint((double)words[i] * o->cand_tokens / (resp > 0 ? resp : 1));
            if (words[i] < 1) words[i] = 1;
        }
        if (!rc) *n_prefix = p->n_prefix;
        prompt_free(&p);
    }
    tok_free(&t);
    return rc;
}

/* ------------------------------------------------------------------ report */

static double peak_now(const bench_opts *o, bench_isa isa) {
    return bench_peak_gflops(isa, o->threads, o->peak_seconds);
}

static void row(const char *stage, const char *model, double ms, double flops, double peak) {
    double gfs = ms > 0 ? flops / (ms * 1e-3) * 1e-9 : 0;
    printf("  %-26s %-9s %10.1f %10.1f %9.1f %6.1f%%\n", stage, model, ms, flops * 1e-9, gfs,
           peak > 0 ? 100 * gfs / peak : 0);
}

int main(int argc, char **argv) {
    bench_opts o;
    if (parse_args(&o, argc, argv)) {
        fprintf(stderr, "usage: %s --model DIR [--ref-model DIR] --image FILE [--prompt TEXT] [--candidates 8]\n"
                        "       [--cand-tokens 64] [--repeat 1] [--blas-threads 1] [--no-cache] [--peak-seconds 0.3]\n"
                        "       [--one-at-a-time] [--compute fp32|bf16] [--prefix-cache-mb MB] [--repack-weights off|auto|on]\n"
                        "       [--stream-weights off|auto|on]\n"
                        "       [--separate-prefix]\n",
                argv[0]);
        return 2;
    }
    rlv_err err = {0};
    bench_isa isa = bench_widest_fp32();
    double peak0 = peak_now(&o, isa);

    const char *dirs[2] = {o.model, o.ref_model};
    int nm = o.ref_model ? 2 : 1;
    rlv_model_config cfg[2];
    for (int k = 0; k < nm; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/config.json", dirs[k]);
        if (model_config_load(&cfg[k], path, &err)) {
            fprintf(stderr, "bench_job: %s\n", err.msg);
            return 1;
        }
    }
    size_t img_len = 0;
    uint8_t *img = slurp(o.image, &img_len);
    if (!img) {
        perror(o.image);
        return 1;
    }
    char *cands[MAX_CANDS] = {0};
    int lens[MAX_CANDS], scored[MAX_CANDS], n_prefix = 0, n = o.candidates;
    size_t cand_lens[MAX_CANDS];
    if (make_candidates(&o, &cfg[0], cands, lens, scored, &n_prefix, &err)) {
        fprintf(stderr, "bench_job: candidates: %s\n", err.msg);
        return 1;
    }
    int tot_ids = 0;
    for (int i = 0; i < n; i++) {
        cand_lens[i] = strlen(cands[i]);
        tot_ids += lens[i];
    }

    rlv_engine_opts eo;
    rlv_engine_opts_default(&eo);
    eo.model_dir = o.model;
    eo.ref_model_dir = o.ref_model;
    eo.blas_threads = o.threads;
    eo.compute = o.compute;
    eo.repack = o.repack;
    eo.stream = o.stream;
    eo.separate_prefix = o.separate_prefix;
    eo.max_candidates = n;
    eo.max_total_tokens = tot_ids > 4096 ? tot_ids : 4096;
    if (o.prefix_cache_mb >= 0) eo.prefix_cache_bytes = (size_t)o.prefix_cache_mb << 20;
    if (o.no_cache) eo.cache_bytes = eo.prefix_cache_bytes = 0;
    double rb0 = read_bytes(), t0 = now_s();
    rlv_engine *e = NULL;
    rlv_worker *w = NULL;
    if (rlv_engine_open(&e, &eo, &err) || rlv_worker_open(&w, e, &err)) {
        fprintf(stderr, "bench_job: %s\n", err.msg);
        return 1;
    }
    double t_open = now_s() - t0, rb_open = read_bytes() - rb0;
    rlv_engine_info info;
    rlv_engine_get_info(e, &info);

    printf("bench_job: policy %s (%d layers, %d ViT blocks)", o.model, cfg[0].num_hidden_layers,
           cfg[0].vision.depth - 1);
    if (nm == 2)
        printf(", reference %s (%d layers, %d ViT blocks)", o.ref_model, cfg[1].num_hidden_layers,
               cfg[1].vision.depth - 1);
    printf("\n  weights %.2f GB (%.2f GB of the reference served from the policy's bytes; %.2f GB repacked; %.2f GB "
           "read directly per job); %d BLAS threads%s\n",
           info.weight_bytes / 1e9, info.shared_bytes / 1e9, info.repacked_bytes / 1e9, info.streamed_bytes / 1e9, o.threads,
           o.no_cache ? "; image cache off" : "");
    printf("  job: prefix %d tokens (%d image rows), %d candidates, response tokens per candidate:", n_prefix,
           cfg[0].num_query, n);
    for (int i = 0; i < n; i++) printf(" %d", scored[i] - 1);
    printf(" (+ </s> scored)\n");
    printf("  open: %.2f s, %.1f MB read from disk\n", t_open, rb_open / 1e6);

    job_flops fl[2];
    for (int k = 0; k < nm; k++) fl[k] = count_flops(&cfg[k], n_prefix, lens, n);
    const char *mname[2] = {"policy", "reference"};
    int bad = 0;
    double best_ms = 0, best_fl = 0, peak_hi = peak0;
    for (int r = 0; r < o.repeat; r++) {
        rlv_job job = {.image = img, .image_len = img_len, .prompt = o.prompt, .prompt_len = strlen(o.prompt),
                       .n_candidates = n, .candidates = (const char *const *)cands, .candidate_lens = cand_lens,
                       .reward = RLV_REWARD_DEFAULT};
        const rlv_result *res = NULL;
        double c0 = cpu_s(), b0 = read_bytes(), w0 = now_s();
        if (rlv_score(w, &job, &res, &err)) {
            fprintf(stderr, "bench_job: score: %s\n", err.msg);
            return 1;
        }
        double wall = now_s() - w0, cpu = cpu_s() - c0, rb = read_bytes() - b0;
        /* the peak moves 10-20 % between measurements on a shared machine: rate the job against
         * the highest measured so far (start, after each job), never a low one */
        double pk = peak_now(&o, isa);
        peak_hi = pk > peak_hi ? pk : peak_hi;
        double peak = peak_hi;
        printf("\nrepeat %d/%d: image cache %s, prefix cache %s\n", r + 1, o.repeat, res->image_cache_hit ? "hit" : "miss",
               res->prefix_cache_hit ? "hit" : "miss");
        printf("  %-26s %-9s %10s %10s %9s %7s\n", "stage", "model", "ms", "GFLOP", "GFLOP/s", "%peak");
        double total_fl = 0;
        for (int k = 0; k < nm; k++) {
            double img_fl = res->image_ran_model[k] ? fl[k].vit + fl[k].resampler : 0;
            row("image: ViT + resampler", mname[k], res->image_ms_model[k], img_fl, peak);
            total_fl += img_fl + (res->prefix_cache_hit_model[k] ? 0 : fl[k].prefix) + fl[k].cands;
        }
        for (int k = 0; k < nm; k++)
            if (!res->one_pass_model[k])
                row("prefix", mname[k], res->prefix_ms_model[k], res->prefix_cache_hit_model[k] ? 0 : fl[k].prefix, peak);
        for (int k = 0; k < nm; k++)
            if (res->one_pass_model[k]) row("prefix + candidates", mname[k], res->candidates_ms_model[k], fl[k].prefix + fl[k].cands, peak);
            else row("candidates", mname[k], res->candidates_ms_model[k], fl[k].cands, peak);
        row("job (rlv_score)", nm == 2 ? "both" : "policy", wall * 1e3, total_fl, peak);
        printf("  job: wall %.2f s, CPU busy %.0f%% of %d threads, %.1f MB read from disk, peak RSS %.0f MB\n", wall,
               100 * cpu / wall / o.threads, o.threads, rb / 1e6, peak_rss_mb());
        if (info.streamed_bytes)
            printf("  direct reads: the decoders waited %.0f ms (policy) and %.0f ms (reference) for their layers\n",
                   res->stream_wait_ms_model[0], res->stream_wait_ms_model[1]);
        double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
        for (int i = 0; i < res->n; i++) {
            const rlv_ranked *x = &res->ranking[i];
            double m[2] = {x->policy.logp_mean, x->reference.logp_mean};
            for (int k = 0; k < nm; k++) {
                if (!isfinite(m[k])) bad = 1;
                lo[k] = m[k] < lo[k] ? m[k] : lo[k];
                hi[k] = m[k] > hi[k] ? m[k] : hi[k];
            }
            if (!isfinite(x->reward)) bad = 1;
        }
        printf("  mean log-prob per token: policy [%.3f, %.3f]", lo[0], hi[0]);
        if (nm == 2) printf(", reference [%.3f, %.3f]", lo[1], hi[1]);
        printf("; best candidate %d, reward %.4g (%s)\n", res->ranking[0].index, res->ranking[0].reward,
               rlv_reward_name(res->reward));
        if (!r || wall * 1e3 < best_ms) best_ms = wall * 1e3, best_fl = total_fl;
        if (r == o.repeat - 1 && r > 0)
            printf("  this job / its candidates step: %.3f (job %.1f ms, candidates %.1f ms)\n",
                   wall * 1e3 / res->candidates_ms, wall * 1e3, res->candidates_ms);
    }
    if (o.one_at_a_time) { /* the official method: one forward (vision, prefix, candidate) per candidate */
        double c0 = cpu_s(), b0 = read_bytes(), w0 = now_s();
        for (int i = 0; i < n; i++) {
            rlv_job job = {.image = img, .image_len = img_len, .prompt = o.prompt, .prompt_len = strlen(o.prompt),
                           .n_candidates = 1, .candidates = (const char *const *)&cands[i],
                           .candidate_lens = &cand_lens[i], .reward = RLV_REWARD_DEFAULT};
            const rlv_result *res = NULL;
            if (rlv_score(w, &job, &res, &err)) {
                fprintf(stderr, "bench_job: one-at-a-time candidate %d: %s\n", i, err.msg);
                return 1;
            }
            if (!isfinite(res->ranking[0].reward)) bad = 1;
        }
        double wall = now_s() - w0, cpu = cpu_s() - c0, rb = read_bytes() - b0;
        printf("\none at a time (%d jobs of 1 candidate, image cache off): wall %.2f s, CPU busy %.0f%% of %d threads, "
               "%.1f MB read from disk; the batched job (best %.2f s) is %.2fx faster\n", n, wall,
               100 * cpu / wall / o.threads, o.threads, rb / 1e6, best_ms * 1e-3, wall / (best_ms * 1e-3));
    }
    double peak1 = peak_now(&o, isa);
    peak_hi = peak1 > peak_hi ? peak1 : peak_hi;
    printf("\npeak (%s, %d threads, measured in this run): %.1f GFLOP/s at the start, %.1f at the end, %.1f the highest "
           "(start, after each job, end); each %%peak above is over the highest measured until then.\n"
           "best job: wall %.1f ms, %.1f GFLOP/s, %.3f of the run's highest peak\n", bench_isa_name(isa), o.threads, peak0,
           peak1, peak_hi, best_ms, best_fl / (best_ms * 1e-3) * 1e-9, best_fl / (best_ms * 1e-3) * 1e-9 / peak_hi);
    if (o.compute == RLV_COMPUTE_BF16)
        printf("compute bf16: the %s peak (the unit its products run on) is %.1f GFLOP/s now\n",
               bench_isa_name(BENCH_AVX512_BF16), peak_now(&o, BENCH_AVX512_BF16));
    printf("peak RSS %.0f MB; %s\n", peak_rss_mb(), bad ? "NON-FINITE log-probs or rewards" : "all log-probs finite");
    rlv_worker_free(&w);
    rlv_engine_free(&e);
    for (int i = 0; i < n; i++) free(cands[i]);
    free(img);
    return bad;
}
