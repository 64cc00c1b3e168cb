/* cpu.h — what the CPU can run, detected once at run time (cpuid + xgetbv).
 * Owns: the feature bits the matrix kernels dispatch on. RLV_CPU=generic|avx2|avx512|avx512bf16
 * in the environment caps them (to test and measure every kernel on one machine); it never
 * adds a feature the CPU lacks. Thread-safe. Knows nothing of models. */
#ifndef RLV_CPU_H
#define RLV_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
    CPU_AVX2 = 1,        /* AVX2 + FMA + F16C, with the OS saving ymm state */
    CPU_AVX512 = 2,      /* AVX-512 F/BW/DQ/VL, with the OS saving zmm state */
    CPU_AVX512BF16 = 4,  /* AVX512_BF16 (vdpbf16ps) */
};

/* The CPU_* bits of this CPU (after the RLV_CPU cap and cpu_set_cap). */
unsigned cpu_features(void);
/* Caps cpu_features() to the bits in mask from now on (on top of RLV_CPU; ~0u lifts this cap),
 * for tests and benchmarks that run every kernel in one process. Contexts already made keep
 * their kernel. Never adds a feature the CPU lacks. */
void cpu_set_cap(unsigned mask);
/* Whether this CPU's vector integer ops (shifts, logic) issue on the ports of its FMAs, so that
 * an op taken out of an FMA loop gives back an FMA slot: Intel's cores (AVX-512: ports 0 and 5
 * for both; AVX2: 0 and 1), not AMD's, whose FMAs have pipes of their own. mm.c widens bf16
 * panels once per row block instead of in every tile where it is so. */
int cpu_alu_on_fma_ports(void);
/* "avx512bf16", "avx512", "avx2" or "generic": the widest level in f. */
const char *cpu_level_name(unsigned f);

#ifdef __cplusplus
}
#endif
#endif
