/* bench_peak.c — measured FMA peak per ISA (bench_peak.h). Built without -mavx*: each loop has
 * a target attribute and runs only after cpuid + xgetbv said yes. */
#include "bench_peak.h"

#include <cpuid.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include "bench_util.h"

#define NACC 12          /* independent accumulator chains per loop */
#define ITERS 4096       /* inner iterations between clock reads */

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int bench_isa_supported(bench_isa isa) {
    unsigned a, b, c, d;
    if (isa == BENCH_SCALAR) return 1;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx || !fma) return 0;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;                 /* XMM and YMM state saved by the OS */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    unsigned max_sub = a;
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (isa == BENCH_AVX2_FMA) return avx2;
    if (!avx512f || (xcr0 & 0xE6) != 0xE6) return 0;  /* + opmask, ZMM0-15 upper halves, ZMM16-31 */
    if (isa == BENCH_AVX512_FMA) return 1;
    if (isa != BENCH_AVX512_BF16 || max_sub < 1) return 0;
    __cpuid_count(7, 1, a, b, c, d);
    return (a >> 5) & 1;                               /* CPUID.(7,1):EAX[5] AVX512_BF16 */
}

bench_isa bench_widest_fp32(void) {
    if (bench_isa_supported(BENCH_AVX512_FMA)) return BENCH_AVX512_FMA;
    if (bench_isa_supported(BENCH_AVX2_FMA)) return BENCH_AVX2_FMA;
    return BENCH_SCALAR;
}

const char *bench_isa_name(bench_isa isa) {
    switch (isa) {
    case BENCH_AVX2_FMA: return "avx2-fma";
    case BENCH_AVX512_FMA: return "avx512-fma";
    case BENCH_AVX512_BF16: return "avx512-bf16";
    default: return "scalar";
    }
}

/* Each loop runs n * ITERS iterations of NACC independent vector FMAs and returns a value
 * that depends on every chain (so none is dropped). Flops per iteration: see flops_per_iter.
 * The chains are 12 named variables (REP12), not an array: GCC -O2 does not unroll a loop over
 * an array of vectors and would keep it in memory, adding a store-load to every FMA. */
#define REP12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECL(T, SET, i) T a##i = SET((float)i);
#define SUM12(ADD) ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), \
                       ADD(ADD(a8, a9), ADD(a10, a11)))

__attribute__((target("avx2,fma"))) static float loop_avx2(long n) {
#define D(i) DECL(__m256, _mm256_set1_ps, i)
    REP12(D)
#undef D
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-6f);
    for (long r = 0; r < n * ITERS; r++) {
#define F(i) a##i = _mm256_fmadd_ps(a##i, x, y);
        REP12(F)
#undef F
    }
    float out[8];
    _mm256_storeu_ps(out, SUM12(_mm256_add_ps));
    return out[0] + out[7];
}

__attribute__((target("avx512f"))) static float loop_avx512(long n) {
#define D(i) DECL(__m512, _mm512_set1_ps, i)
    REP12(D)
#undef D
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-6f);
    for (long r = 0; r < n * ITERS; r++) {
#define F(i) a##i = _mm512_fmadd_ps(a##i, x, y);
        REP12(F)
#undef F
    }
    return _mm512_reduce_add_ps(SUM12(_mm512_add_ps));
}

__attribute__((target("avx512f,avx512bf16"))) static float loop_bf16(long n) {
#define D(i) DECL(__m512, _mm512_set1_ps, i)
    REP12(D)
#undef D
    /* tiny products (1e-3 x 1e-3) so the accumulators grow slowly and stay finite */
    const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(-1e-3f));
    const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
    for (long r = 0; r < n * ITERS; r++) {
#define F(i) a##i = _mm512_dpbf16_ps(a##i, x, y);
        REP12(F)
#undef F
    }
    return _mm512_reduce_add_ps(SUM12(_mm512_add_ps));
}

static double flops_per_iter(bench_isa isa) {
    switch (isa) {
    case BENCH_AVX2_FMA: return NACC * 8 * 2.0;
    case BENCH_AVX512_FMA: return NACC * 16 * 2.0;
    case BENCH_AVX512_BF16: return NACC * 16 * 4.0;
    default: return 0;
    }
}

typedef struct peak_job {
    bench_isa isa;
    double seconds;
    int *go;        /* 0 wait, 1 run, -1 give up (a sibling thread could not start) */
    double gflops;  /* out */
} peak_job;

static volatile float peak_sink; /* the loops' results end here, so no loop is optimised away */

static float run_loop(bench_isa isa, long n) {
    if (isa == BENCH_AVX2_FMA) return loop_avx2(n);
    if (isa == BENCH_AVX512_FMA) return loop_avx512(n);
    return loop_bf16(n);
}

static void *peak_thread(void *arg) {
    peak_job *j = arg;
    float sink = run_loop(j->isa, 16); /* warm-up: wakes the wide units (frequency licence) */
    int go;
    while (!(go = __atomic_load_n(j->go, __ATOMIC_ACQUIRE))) sched_yield();
    if (go < 0) return NULL;
    long batches = 0, n = 64;
    double t0 = now_s(), t;
    do {
        sink += run_loop(j->isa, n);
        batches += n;
    } while ((t = now_s() - t0) < j->seconds);
    j->gflops = (double)batches * ITERS * flops_per_iter(j->isa) / t * 1e-9;
    peak_sink = sink;
    return NULL;
}

double bench_peak_gflops(bench_isa isa, int threads, double seconds) {
    if (isa == BENCH_SCALAR || !bench_isa_supported(isa) || threads < 1) return 0;
    if (threads > 256) threads = 256;
    pthread_t tid[256];
    peak_job job[256];
    int go = 0, started = 0;
    for (; started < threads; started++) {
        job[started] = (peak_job){.isa = isa, .seconds = seconds, .go = &go};
        if (pthread_create(&tid[started], NULL, peak_thread, &job[started])) break;
    }
    __atomic_store_n(&go, started == threads ? 1 : -1, __ATOMIC_RELEASE);
    double sum = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(tid[i], NULL);
        sum += job[i].gflops;
    }
    return started == threads ? sum : -1;
}
