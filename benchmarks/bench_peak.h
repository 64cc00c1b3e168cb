/* bench_peak.h — the machine's measured floating-point peak, for benchmarks to report "GFLOP/s
 * over peak". Owns: run-time CPU detection (cpuid + xgetbv) and one FMA loop per ISA, run on N
 * threads at once. Knows nothing of the model or the engine.
 * Link the static library bench_peak (benchmarks/CMakeLists.txt); it builds without -mavx512f:
 * each loop carries its own target attribute and only runs when the CPU and the OS support it.
 *
 *   bench_isa isa = bench_widest_fp32();                   // e.g. BENCH_AVX512_FMA
 *   double peak = bench_peak_gflops(isa, 2, 0.3);          // GFLOP/s of 2 threads, 0.3 s each
 *   printf("%s %.0f GFLOP/s\n", bench_isa_name(isa), peak);
 *
 * FLOPs counted: an FMA lane is 2 flops (fp32, 8 lanes per AVX2 vector, 16 per AVX-512 one);
 * a vdpbf16ps lane is 4 flops (two bf16 products added into one fp32 accumulator). The loops
 * keep 12 independent accumulator chains in registers, enough to cover the FMA latency
 * (4 cycles) on two ports, and touch no memory. */
#ifndef RLV_BENCH_PEAK_H
#define RLV_BENCH_PEAK_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BENCH_SCALAR = 0,     /* no vector FMA: bench_peak_gflops returns 0 */
    BENCH_AVX2_FMA = 1,   /* 256-bit vfmadd231ps */
    BENCH_AVX512_FMA = 2, /* 512-bit vfmadd231ps (AVX-512F) */
    BENCH_AVX512_BF16 = 3 /* 512-bit vdpbf16ps (AVX512_BF16): bf16 inputs, fp32 accumulation */
} bench_isa;

/* 1 when this CPU and the OS (xgetbv: the register state is saved) support isa. */
int bench_isa_supported(bench_isa isa);

/* The widest fp32 FMA the machine runs: BENCH_AVX512_FMA, BENCH_AVX2_FMA or BENCH_SCALAR. */
bench_isa bench_widest_fp32(void);

/* "avx2-fma", "avx512-fma", "avx512-bf16", "scalar". Static string. */
const char *bench_isa_name(bench_isa isa);

/* Runs isa's loop on `threads` threads at once (pthreads, not pinned) for about `seconds`
 * each and returns the summed GFLOP/s. 0 when isa is unsupported or BENCH_SCALAR, -1 when a
 * thread cannot be started. On a machine shared with other work this is what the threads got,
 * not the hardware's peak: measure it in the same run as the figure it is compared with. */
double bench_peak_gflops(bench_isa isa, int threads, double seconds);

#ifdef __cplusplus
}
#endif
#endif
