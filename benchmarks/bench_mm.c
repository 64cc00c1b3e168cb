/* bench_mm.c — GFLOP/s of mm_xwt at every weight product shape of the decoder (Mistral-7B, as
 * core/llm.c forward() calls it) and the ViT (EVA-E, as core/vit.c does), against the widest
 * fp32 FMA peak measured in the same run (bench_peak.h), cblas_sgemm (whatever OpenBLAS picks
 * for OPENBLAS_CORETYPE) and optionally BLIS and oneDNN (dlopen'ed: BLIS exports cblas_sgemm too,
 * and neither is needed by anything else, so neither is linked): bli_sgemm and dnnl_sgemm on the
 * f32 weights, or with --compute bf16 dnnl_gemm_bf16bf16f32 on the bf16 weights and x rounded to
 * bf16 (oneDNN's vdpbf16ps kernel against ours). Random weights, as bf16, as q8 (quantised from the bf16 values, f16 scales, block 32
 * or each of --block's sizes: docs/quantization.md) and as f32; min over --reps timed calls after a
 * warm-up, the formats one after the other for each shape and M.
 * The machine may be shared: the peak is measured before every shape and at the end, and the
 * ratios are over the highest of those (wall) and over the highest per CPU-second (load-free:
 * CPU time, not wall time, of both the product and the peak loop). Rows are printed at the end;
 * progress goes to stderr.
 *
 *   bench_mm [--threads 2] [--reps 3] [--m 256,512,1024] [--compute fp32|bf16] [--blis] [--dnnl]
 *            [--only cblas|ours] [--shape NAME] [--repack] [--hold] [--widen 0|1] [--pack-whole 0|1]
 *            [--block 32,16] [--weight-pages 4k|2m]
 * --widen: where bf16 panels are widened (mm_ctx_set_widen): 0 in every tile, 1 once per row
 * block; without it, the context's own choice for this CPU.
 * --hold: our products of the decoder's held x (llm.q, k/v, gate/up, lm_head) run as core/llm.c
 * runs them, x packed once by mm_hold_x for the group of products that share it; the hold's own
 * time is timed apart and charged to each product by its share of the group's columns.
 * --pack-whole: 1 (the default, as the engine): room is made (mm_reserve_pack) for packing the x
 * of a product not held whole on the pool, its columns' tails then handed out to whichever thread
 * is free; 0: each thread packs x for its own fixed share of columns, as before 2026-12-07.
 * --block: the q8 block sizes, one q8 column group each (at most 3), all timed in the same run.
 * --repack: our columns multiply weights repacked into the kernel's panels (mm_repack_view), as
 * rlaifvd does when they fit in memory; run with and without it in one command to compare.
 * --weight-pages: where the weights as stored lie (all formats, cblas's too): 4k (the default,
 * as before), on the heap's 4 KB pages, like a checkpoint's mapping on a kernel that maps the page
 * cache with 4 KB pages; 2m, on 2 MB pages (hugemem), as the direct reads' slots give them where
 * the weights do not fit in memory (stream-weights).
 * --blis needs libblis.so.4 (package libblis4-pthread), --dnnl libdnnl.so.2 (libdnnl2; it runs
 * on OpenMP threads, set to --threads here). Not run by ctest. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "bench_peak.h"
#include "bench_util.h"
#include "cpu.h"
#include "half.h"
#include "hugemem.h"
#include "mm.h"
#include "pool.h"
#include "q8.h"

void openblas_set_num_threads(int);
char *openblas_get_config(void);
char *openblas_get_corename(void);

typedef struct shape {
    const char *name;
    int k, n, ldw, acc;  /* y[M, n] (+)= x[M, k] . W^T, W rows of ldw elements */
    int hold_n;          /* columns of all the products core/llm.c runs on one held x (0: x not held) */
} shape;

/* Mistral-7B: H 4096, kv 1024, F 14336 in blocks of LLM_FFN_COLS = 2048, vocab 32000 in blocks of 4096.
 * EVA-E: width 1792, mlp 15360, patch embedding k = 3 x 14 x 14. Held x: q, k and v (4096 + 2 x
 * 1024 columns), every gate and up block (2 x 14336), the lm_head's blocks (32000). */
static const shape shapes[] = {
    {"llm.q", 4096, 4096, 4096, 0, 6144},       {"llm.k/v", 4096, 1024, 4096, 0, 6144},
    {"llm.o", 4096, 4096, 4096, 1, 0},          {"llm.gate/up", 4096, 2048, 4096, 0, 28672},
    {"llm.down", 2048, 4096, 14336, 1, 0},      {"llm.lm_head", 4096, 4096, 4096, 0, 32000},
    {"vit.patch", 588, 1792, 588, 0, 0},        {"vit.qkv", 1792, 5376, 1792, 0, 0},
    {"vit.proj", 1792, 1792, 1792, 0, 0},       {"vit.fc1", 1792, 15360, 1792, 0, 0},
    {"vit.fc2", 15360, 1792, 15360, 0, 0},
};

typedef void (*bli_sgemm_fn)(int, int, int64_t, int64_t, int64_t, float *, float *, int64_t, int64_t, float *, int64_t,
                             int64_t, float *, float *, int64_t, int64_t);
typedef void (*bli_threads_fn)(int64_t);
typedef int (*bli_arch_id_fn)(void);
typedef const char *(*bli_arch_str_fn)(int);
/* oneDNN's C API (dnnl.h): row-major; dims are int64_t, status 0 is success */
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *, int64_t, const float *, int64_t,
                             float, float *, int64_t);
typedef int (*dnnl_bf16_fn)(char, char, int64_t, int64_t, int64_t, float, const uint16_t *, int64_t, const uint16_t *,
                            int64_t, float, float *, int64_t);
typedef int (*dnnl_isa_fn)(void);
typedef void (*omp_threads_fn)(int);

/* The libraries bench_mm compares with besides OpenBLAS, NULL where not asked for. */
typedef struct libs {
    bli_sgemm_fn blis;
    dnnl_sgemm_fn dnnl;
    dnnl_bf16_fn dnnl_bf16;
} libs;

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float rndf(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void die(const char *what) {
    fprintf(stderr, "bench_mm: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) die("out of memory");
    return p;
}

/* A weight buffer on 2 MB pages (huge) or the heap's; freed by wfree with the same huge. */
static void *walloc(size_t n, int huge) {
    if (!huge) return xmalloc(n);
    void *p = hugemem_alloc(n, 0);
    if (!p) die("out of memory");
    return p;
}
static void wfree(void *p, int huge) {
    if (huge) hugemem_free(p);
    else free(p);
}

/* "256,1024" -> up to cap ints; returns how many. */
static int int_list(char *p, int *out, int cap) {
    int n = 0;
    while (*p && n < cap) {
        out[n++] = (int)strtol(p, &p, 10);
        if (*p == ',') p++;
        else if (*p) break;
    }
    return n;
}

static double loadavg(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

typedef struct run {
    int which;  /* 0 ours, 1 cblas, 2 blis, 3 oneDNN f32, 4 oneDNN bf16 */
    mm_ctx *mm;
    const libs *lib;
    const shape *s;
    int m;
    float *y;
    const float *x;
    const uint16_t *xb;  /* x rounded to bf16 (oneDNN bf16) */
    mm_w w;  /* ours: the weights as bf16, q8 or f32; cblas, BLIS and oneDNN f32 read w.p as f32, oneDNN bf16 as bf16 */
    int hold;  /* ours: x held (--hold, a shape with hold_n) */
} run;

static void run_once(const run *r) {
    const shape *s = r->s;
    float one = 1.0f, beta = s->acc ? 1.0f : 0.0f;
    if (r->which == 0)
        mm_xwt(r->mm, r->y, s->n, r->x, s->k, r->m, s->k, r->w, s->n, NULL, s->acc);
    else if (r->which == 1)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r->m, s->n, s->k, 1.0f, r->x, s->k, r->w.p, s->ldw, beta,
                    r->y, s->n);
    else if (r->which == 2) /* column-major strides: x [m, k] rs k cs 1; W^T [k, n] element (p, j) at j*ldw + p */
        r->lib->blis(0, 0, r->m, s->n, s->k, &one, (float *)r->x, s->k, 1, (float *)r->w.p, 1, s->ldw, &beta, r->y, s->n, 1);
    else if (r->which == 3) {
        if (r->lib->dnnl('N', 'T', r->m, s->n, s->k, 1.0f, r->x, s->k, r->w.p, s->ldw, beta, r->y, s->n)) die("dnnl_sgemm failed");
    } else if (r->lib->dnnl_bf16('N', 'T', r->m, s->n, s->k, 1.0f, r->xb, s->k, r->w.p, s->ldw, beta, r->y, s->n))
        die("dnnl_gemm_bf16bf16f32 failed");
}

/* CPU seconds of the whole process (all threads). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct rate {
    double wall;  /* GFLOP/s: flops over the min wall time */
    double cpu;   /* GFLOP per CPU-second x threads: flops over the min process CPU time, the
                   * machine's share taken out (it is shared: wall time includes being preempted) */
} rate;

/* min over reps after one warm-up call. With r->hold, x is held for the timed products and the
 * hold's own min time is added, times n / hold_n (the engine holds once for hold_n columns). */
static rate time_gflops(const run *r, int reps, int threads) {
    double hold = 0, hold_cpu = 0;
    /* as in the engine, nothing is held where mm_hold_x packs nothing (rows within the gemv's) */
    if (r->hold && mm_hold_x(r->mm, r->x, r->s->k, r->m, r->s->k)) {
        hold = hold_cpu = 1e30;
        for (int i = 0; i < reps; i++) {
            double t0 = now_s(), c0 = cpu_s();
            mm_hold_x(r->mm, r->x, r->s->k, r->m, r->s->k);
            double t = now_s() - t0, c = cpu_s() - c0;
            if (t < hold) hold = t;
            if (c < hold_cpu) hold_cpu = c;
        }
        double share = (double)r->s->n / r->s->hold_n;
        hold *= share, hold_cpu *= share;
    }
    run_once(r);
    double best = 1e30, best_cpu = 1e30;
    for (int i = 0; i < reps; i++) {
        double t0 = now_s(), c0 = cpu_s();
        run_once(r);
        double t = now_s() - t0, c = cpu_s() - c0;
        if (t < best) best = t;
        if (c < best_cpu) best_cpu = c;
    }
    mm_release_x(r->mm);
    double gf = 2.0 * r->m * (double)r->s->n * r->s->k * 1e-9;
    return (rate){gf / (best + hold), gf / (best_cpu + hold_cpu) * threads};
}

typedef struct row {
    const char *name;
    int m, k, n;
    rate b, q[3], f, c, l, d;  /* ours with bf16, q8 (one per block size) and f32 weights, cblas, BLIS, oneDNN */
} row;

static void peak_max(rate *best, rate r) {
    if (r.wall > best->wall) best->wall = r.wall;
    if (r.cpu > best->cpu) best->cpu = r.cpu;
}

/* The same two rates for bench_peak's loop: its flops are ~ GFLOP/s x seconds (each thread runs
 * at least `seconds` and reports its own rate). */
static rate peak_rate(bench_isa isa, int threads) {
    const double sec = 0.3;
    double c0 = cpu_s(), g = bench_peak_gflops(isa, threads, sec), c = cpu_s() - c0;
    return (rate){g, g * sec / c * threads};
}

int main(int argc, char **argv) {
    int threads = 2, reps = 3, use_blis = 0, use_dnnl = 0, only = 0, repack = 0, hold = 0, widen = -1, pack_whole = 1, huge = 0; /* only: 0 all, 1 ours, 2 cblas */
    int ms[8] = {256, 512, 1024}, nm = 3, blocks[3] = {Q8_BLOCK_DEFAULT}, nb = 1;
    const char *one = NULL;
    mm_compute compute = MM_COMPUTE_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads") && v) threads = atoi(v), i++;
        else if (!strcmp(a, "--reps") && v) reps = atoi(v), i++;
        else if (!strcmp(a, "--blis")) use_blis = 1;
        else if (!strcmp(a, "--dnnl")) use_dnnl = 1;
        else if (!strcmp(a, "--repack")) repack = 1;
        else if (!strcmp(a, "--hold")) hold = 1;
        else if (!strcmp(a, "--weight-pages") && v && (!strcmp(v, "4k") || !strcmp(v, "2m"))) huge = !strcmp(v, "2m"), i++;
        else if (!strcmp(a, "--pack-whole") && v) pack_whole = atoi(argv[++i]);
        else if (!strcmp(a, "--widen") && v) widen = atoi(v), i++;
        else if (!strcmp(a, "--shape") && v) one = v, i++;
        else if (!strcmp(a, "--only") && v) only = !strcmp(v, "ours") ? 1 : 2, i++;
        else if (!strcmp(a, "--compute") && v) compute = !strcmp(v, "bf16") ? MM_COMPUTE_BF16 : MM_COMPUTE_F32, i++;
        else if (!strcmp(a, "--m") && v) nm = int_list(argv[++i], ms, 8);
        else if (!strcmp(a, "--block") && v) nb = int_list(argv[++i], blocks, 3);
        else {
            fprintf(stderr, "usage: bench_mm [--threads N] [--reps N] [--m 256,512,1024] [--compute fp32|bf16] [--blis] "
                            "[--dnnl] [--only ours|cblas] [--shape NAME] [--repack] [--hold] [--widen 0|1] [--pack-whole 0|1] [--block 32,16] "
                            "[--weight-pages 4k|2m]\n");
            return 2;
        }
    }
    if (threads < 1 || reps < 1) die("--threads and --reps must be >= 1");
    for (int i = 0; i < nb; i++)
        if (blocks[i] < 1) die("--block: sizes must be >= 1");
    rlv_pool *pool = NULL;
    mm_ctx *mm = NULL;
    rlv_err e = {0};
    if (pool_init(&pool, threads, &e) || mm_ctx_init(&mm, pool, compute, &e)) die(e.msg);
    if (widen >= 0) mm_ctx_set_widen(mm, widen);
    /* the most rows by: the deepest held shape (room for a held x), the deepest shape of all (the
     * engine's room for packing any product's x whole, mm_reserve_pack) */
    int mmax = 0, kmax = 0, kdeep = 0;
    for (int i = 0; i < nm; i++) mmax = ms[i] > mmax ? ms[i] : mmax;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        if (shapes[i].hold_n && shapes[i].k > kmax) kmax = shapes[i].k;
        if (shapes[i].k > kdeep) kdeep = shapes[i].k;
    }
    if (hold && mm_reserve_x(mm, mmax, kmax, &e)) die(e.msg);
    if (pack_whole && mm_reserve_pack(mm, mmax, kdeep, &e)) die(e.msg);
    libs lib = {0};
    char libnote[160] = "";
    if (use_blis) {
        void *h = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
        if (!h) die(dlerror());
        lib.blis = (bli_sgemm_fn)dlsym(h, "bli_sgemm");
        bli_threads_fn nt = (bli_threads_fn)dlsym(h, "bli_thread_set_num_threads");
        bli_arch_id_fn aid = (bli_arch_id_fn)dlsym(h, "bli_arch_query_id");
        bli_arch_str_fn astr = (bli_arch_str_fn)dlsym(h, "bli_arch_string");
        if (!lib.blis || !nt || !aid || !astr) die("libblis.so.4: no bli_sgemm / bli_thread_set_num_threads / bli_arch_query_id");
        nt(threads);
        snprintf(libnote, sizeof libnote, "; BLIS (dlopen) config %s", astr(aid()));
    }
    if (use_dnnl) {
        void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL), *g = dlopen("libgomp.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h || !g) die(dlerror());
        lib.dnnl = (dnnl_sgemm_fn)dlsym(h, "dnnl_sgemm");
        lib.dnnl_bf16 = (dnnl_bf16_fn)dlsym(h, "dnnl_gemm_bf16bf16f32");
        dnnl_isa_fn isa = (dnnl_isa_fn)dlsym(h, "dnnl_get_effective_cpu_isa");
        omp_threads_fn ot = (omp_threads_fn)dlsym(g, "omp_set_num_threads");
        if (!lib.dnnl || !lib.dnnl_bf16 || !isa || !ot) die("libdnnl.so.2: no dnnl_sgemm / dnnl_gemm_bf16bf16f32 / dnnl_get_effective_cpu_isa");
        ot(threads);
        size_t l = strlen(libnote);
        snprintf(libnote + l, sizeof libnote - l, "; oneDNN (dlopen) isa mask 0x%x", (unsigned)isa());
    }
    /* the peak the ratios are over: the widest fp32 FMA, or vdpbf16ps for --compute bf16 */
    bench_isa isa = compute == MM_COMPUTE_BF16 ? BENCH_AVX512_BF16 : bench_widest_fp32();
    double l0 = loadavg();
    rate pk = peak_rate(isa, threads);
    const char *cte = getenv("OPENBLAS_CORETYPE");
    printf("# bench_mm: %d threads, min of %d reps; kernel %s%s%s%s%s (cpu %s); OpenBLAS core %s (OPENBLAS_CORETYPE=%s)%s\n",
           threads, reps, mm_kernel_name(mm), mm_ctx_widen(mm) ? ", bf16 widened once per row block" : "",
           repack ? ", weights repacked" : "", hold ? ", the decoder's x held" : "",
           pack_whole ? ", other x packed whole (tails handed out)" : ", other x packed by each thread", cpu_level_name(cpu_features()), openblas_get_corename(), cte ? cte : "(unset)",
           libnote);
    printf("# peak %s at start: %.0f GFLOP/s wall, %.0f per CPU-second x %d; load average %.2f\n", bench_isa_name(isa),
           pk.wall, pk.cpu, threads, l0);
    rate best = pk;
    row rows[64];
    int nrows = 0;
    size_t xcap = 0;
    float *x = NULL, *y = NULL;
    uint16_t *xb = NULL;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape *s = &shapes[si];
        if (one && strcmp(one, s->name)) continue;
        if (si > 0) {
            rate p = peak_rate(isa, threads);
            fprintf(stderr, "peak before %s: %.0f wall, %.0f per CPU-second\n", s->name, p.wall, p.cpu);
            peak_max(&best, p);
        }
        size_t wn = (size_t)s->n * s->ldw;
        float *wf = walloc(wn * sizeof(float), huge);
        uint16_t *wb = walloc(wn * sizeof(uint16_t), huge), *ws[3];
        int8_t *wq[3];
        mm_w wq8[3];
        int has_q8[3];  /* the block divides the row (vit.patch's 588: kept bf16 by the format) */
        for (size_t i = 0; i < wn; i++) {
            wb[i] = half_f32_to_bf16(rndf() * 0.05f);
            wf[i] = half_bf16_to_f32(wb[i]);
        }
        for (int bi = 0; bi < nb; bi++) {
            int bs = blocks[bi];
            has_q8[bi] = s->ldw % bs == 0;
            wq[bi] = walloc(wn, huge), ws[bi] = xmalloc((wn / bs + 1) * sizeof(uint16_t));
            if (has_q8[bi] && q8_quantize_rows(wq[bi], ws[bi], wf, s->n, s->ldw, bs, NULL)) die("q8_quantize_rows");
            wq8[bi] = mm_w_plain(wq[bi], RLV_I8, s->ldw);
            wq8[bi].scale = ws[bi], wq8[bi].block = bs;
        }
        mm_w wbv = mm_w_plain(wb, RLV_BF16, s->ldw), wfv = mm_w_plain(wf, RLV_F32, s->ldw);
        mm_repack *rp = NULL;
        if (repack) {  /* the copies live until the shape is done */
            if (mm_repack_init(&rp, compute, &e) || mm_repack_view(rp, &wbv, s->n, s->k, &e) ||
                mm_repack_view(rp, &wfv, s->n, s->k, &e))
                die(e.msg);
            for (int bi = 0; bi < nb; bi++)
                if (has_q8[bi] && s->k % blocks[bi] == 0 && mm_repack_view(rp, &wq8[bi], s->n, s->k, &e)) die(e.msg);
        }
        int mlist[9], nml = 0;
        for (int i = 0; i < nm; i++) mlist[nml++] = ms[i];
        if (!strcmp(s->name, "llm.lm_head")) mlist[nml++] = 1;  /* one scored row */
        for (int mi = 0; mi < nml; mi++) {
            int m = mlist[mi];
            size_t need = (size_t)m * (s->k > s->n ? s->k : s->n);
            if (need > xcap) {
                hugemem_free(x), hugemem_free(y), free(xb);
                /* activations on the engine's allocator (llm_ws, vit_ws): 2 MB pages where the kernel gives them */
                x = hugemem_alloc(need * sizeof(float), 0), y = hugemem_alloc(need * sizeof(float), 0);
                if (!x || !y) die("out of memory");
                xb = xmalloc(need * sizeof(uint16_t));
                xcap = need;
            }
            for (size_t i = 0; i < (size_t)m * s->k; i++) x[i] = rndf(), xb[i] = half_f32_to_bf16(x[i]);
            for (size_t i = 0; i < (size_t)m * s->n; i++) y[i] = 0;
            run r = {0, mm, &lib, s, m, y, x, xb, wbv, hold && s->hold_n > 0};
            rate gb = {0, 0}, gq[3] = {{0, 0}, {0, 0}, {0, 0}}, gf = {0, 0}, gc = {0, 0}, gl = {0, 0}, gd = {0, 0};
            if (only != 2) {
                gb = time_gflops(&r, reps, threads);
                for (int bi = 0; bi < nb; bi++)
                    if (has_q8[bi]) r.w = wq8[bi], gq[bi] = time_gflops(&r, reps, threads);
                r.w = wfv;
                gf = time_gflops(&r, reps, threads);
            }
            r.hold = 0; /* the libraries pack x in every call */
            if (only != 1) {
                openblas_set_num_threads(threads);
                r.which = 1, r.w = mm_w_plain(wf, RLV_F32, s->ldw);
                gc = time_gflops(&r, reps, threads);
                openblas_set_num_threads(1);
                /* OpenBLAS's idle threads spin for 2^28 cycles (its default thread timeout, ~70 ms)
                 * before they sleep: on 2 cores the next short product (vit.patch at 1024 rows,
                 * 5 ms) ran beside a spinning thread at half rate in 5 of 12 runs */
                usleep(300000);
            }
            if (lib.blis) r.which = 2, r.w = mm_w_plain(wf, RLV_F32, s->ldw), gl = time_gflops(&r, reps, threads);
            if (lib.dnnl) {
                if (compute == MM_COMPUTE_BF16) r.which = 4, r.w = mm_w_plain(wb, RLV_BF16, s->ldw);
                else r.which = 3, r.w = mm_w_plain(wf, RLV_F32, s->ldw);
                gd = time_gflops(&r, reps, threads);
            }
            if (nrows < 64) rows[nrows++] = (row){s->name, m, s->k, s->n, gb, {gq[0], gq[1], gq[2]}, gf, gc, gl, gd};
            fprintf(stderr, "%s M %d: %.1f %.1f %.1f %.1f %.1f %.1f GFLOP/s\n", s->name, m, gb.wall, gq[0].wall, gf.wall,
                    gc.wall, gl.wall, gd.wall);
        }
        mm_repack_free(&rp);
        for (int bi = 0; bi < nb; bi++) wfree(wq[bi], huge), free(ws[bi]);
        wfree(wf, huge), wfree(wb, huge);
    }
    rate pk1 = peak_rate(isa, threads);
    peak_max(&best, pk1);
    printf("# peak %s at end: %.0f GFLOP/s wall, %.0f per CPU-second x %d; load average %.2f\n", bench_isa_name(isa),
           pk1.wall, pk1.cpu, threads, loadavg());
    printf("# highest peak of the run (start, before each shape, end): %.0f GFLOP/s wall, %.0f per CPU-second x %d\n",
           best.wall, best.cpu, threads);
    printf("# GF/s: wall clock (min of reps); /pk: over the highest peak, wall; /pkc: per CPU-second, over the highest\n");
    printf("# q8wB: q8 weights in blocks of B; q8/bf16: the per-CPU-second rates' ratio\n");
    printf("# f32/cb, f32/bl: ours on f32 weights over cblas, BLIS; us/dn: ours over oneDNN on the same weights (%s)\n",
           compute == MM_COMPUTE_BF16 ? "bf16w against dnnl_gemm_bf16bf16f32" : "f32w against dnnl_sgemm");
    printf("%-12s %5s %5s %5s | %7s %5s %5s |", "shape", "M", "k", "n", "bf16w", "/pk", "/pkc");
    for (int bi = 0; bi < nb; bi++) {
        char h[16];
        snprintf(h, sizeof h, "q8w%d", blocks[bi]);
        printf(" %7s %5s %5s %7s |", h, "/pk", "/pkc", "q8/bf16");
    }
    printf(" %7s %5s %5s | %7s %6s | %7s %6s | %7s %6s\n", "f32w", "/pk", "/pkc", "cblas", "f32/cb", "blis", "f32/bl", "dnnl",
           "us/dn");
    for (int i = 0; i < nrows; i++) {
        const row *r = &rows[i];
        printf("%-12s %5d %5d %5d | %7.1f %5.2f %5.2f |", r->name, r->m, r->k, r->n, r->b.wall, r->b.wall / best.wall,
               r->b.cpu / best.cpu);
        for (int bi = 0; bi < nb; bi++) {
            const rate *q = &r->q[bi];
            printf(" %7.1f %5.2f %5.2f %7.2f |", q->wall, q->wall / best.wall, q->cpu / best.cpu,
                   r->b.cpu > 0 ? q->cpu / r->b.cpu : 0);
        }
        double us = compute == MM_COMPUTE_BF16 ? r->b.wall : r->f.wall;
        printf(" %7.1f %5.2f %5.2f | %7.1f %6.2f | %7.1f %6.2f | %7.1f %6.2f\n", r->f.wall, r->f.wall / best.wall,
               r->f.cpu / best.cpu, r->c.wall, r->c.wall > 0 ? r->f.wall / r->c.wall : 0, r->l.wall,
               r->l.wall > 0 ? r->f.wall / r->l.wall : 0, r->d.wall, r->d.wall > 0 ? us / r->d.wall : 0);
    }
    hugemem_free(x), hugemem_free(y), free(xb);
    mm_ctx_free(&mm);
    pool_free(&pool);
    return 0;
}
