/* cpu.c — run-time CPU feature detection (see cpu.h). */
#include "cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static unsigned detect(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return 0;  /* xmm + ymm state saved by the OS */
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    if (avx2 && fma && f16c) f |= CPU_AVX2;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F DQ BW VL */
    if ((f & CPU_AVX2) && avx512 && (xcr0 & 0xe0) == 0xe0) f |= CPU_AVX512;  /* opmask + zmm state */
    if (f & CPU_AVX512) {
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 5) & 1) f |= CPU_AVX512BF16;
    }
    return f;
}

int cpu_alu_on_fma_ports(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    return b == 0x756e6547u && d == 0x49656e69u && c == 0x6c65746eu; /* "GenuineIntel" */
}
#else
static unsigned detect(void) { return 0; }
int cpu_alu_on_fma_ports(void) { return 0; }
#endif

static unsigned cap_from_env(void) {
    const char *s = getenv("RLV_CPU");
    if (!s || !*s) return ~0u;
    if (!strcmp(s, "generic")) return 0;
    if (!strcmp(s, "avx2")) return CPU_AVX2;
    if (!strcmp(s, "avx512")) return CPU_AVX2 | CPU_AVX512;
    return ~0u;  /* "avx512bf16" or anything else: no cap */
}

static atomic_uint set_cap = ~0u;

unsigned cpu_features(void) {
    static atomic_uint cached = ~0u;  /* ~0: not detected yet (detect() never sets bit 31) */
    unsigned f = atomic_load(&cached);
    if (f == ~0u) {
        f = detect() & cap_from_env();
        atomic_store(&cached, f);
    }
    return f & atomic_load(&set_cap);
}

void cpu_set_cap(unsigned mask) { atomic_store(&set_cap, mask); }

const char *cpu_level_name(unsigned f) {
    if (f & CPU_AVX512BF16) return "avx512bf16";
    if (f & CPU_AVX512) return "avx512";
    if (f & CPU_AVX2) return "avx2";
    return "generic";
}
