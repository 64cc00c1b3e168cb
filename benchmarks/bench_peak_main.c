/* bench_peak_main.c — `bench_peak [threads=1,2] [seconds=0.5]`: the measured FMA peak of each
 * ISA this CPU supports (bench_peak.h), on 1 thread and on `threads` threads at once. */
#include <stdio.h>
#include <stdlib.h>

#include "bench_peak.h"

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    double seconds = argc > 2 ? atof(argv[2]) : 0.5;
    if (threads < 1 || seconds <= 0) {
        fprintf(stderr, "usage: %s [threads=2] [seconds=0.5]\n", argv[0]);
        return 2;
    }
    printf("widest fp32 FMA: %s\n", bench_isa_name(bench_widest_fp32()));
    printf("%-12s %14s %14s\n", "isa", "1 thread", "threads");
    for (int i = BENCH_AVX2_FMA; i <= BENCH_AVX512_BF16; i++) {
        bench_isa isa = (bench_isa)i;
        if (!bench_isa_supported(isa)) {
            printf("%-12s %14s %14s\n", bench_isa_name(isa), "unsupported", "unsupported");
            continue;
        }
        double one = bench_peak_gflops(isa, 1, seconds), all = bench_peak_gflops(isa, threads, seconds);
        printf("%-12s %9.1f GF/s %6.1f GF/s (%d)\n", bench_isa_name(isa), one, all, threads);
    }
    return 0;
}
