/* half.c — bf16/f16 -> f32 conversion (see half.h). The vector paths are compiled with
 * target attributes and picked once at run time, so one binary runs on any x86-64. */
#include "half.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define RLV_HALF_X86 1
#endif

static inline float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float half_bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

float half_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {                 /* Inf / NaN: keep payload, force quiet like F16C */
        bits = sign | 0x7f800000u | (man << 13);
        if (man) bits |= 0x00400000u;
    } else if (exp != 0) {             /* normal */
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {             /* +-0 */
        bits = sign;
    } else {                           /* subnormal: renormalise */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    return f32_from_bits(bits);
}

void half_bf16_to_f32_n_scalar(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_bf16_to_f32(src[i]);
}

void half_f16_to_f32_n_scalar(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = half_f16_to_f32(src[i]);
}

#ifdef RLV_HALF_X86
__attribute__((target("avx2")))
static void bf16_avx2(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i h = _mm256_loadu_si256((const __m256i *)(src + i));
        __m256i lo = _mm256_cvtepu16_epi32(_mm256_castsi256_si128(h));
        __m256i hi = _mm256_cvtepu16_epi32(_mm256_extracti128_si256(h, 1));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(lo, 16));
        _mm256_storeu_si256((__m256i *)(dst + i + 8), _mm256_slli_epi32(hi, 16));
    }
    half_bf16_to_f32_n_scalar(dst + i, src + i, n - i);
}

__attribute__((target("avx2,f16c")))
static void f16_f16c(float *dst, const uint16_t *src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    half_f16_to_f32_n_scalar(dst + i, src + i, n - i);
}

static int cpu_has(int which) {
    static int avx2 = -1, f16c = -1;
    if (avx2 < 0) {
        __builtin_cpu_init();
        avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
        unsigned a, b, c, d; /* F16C: CPUID.1:ECX bit 29 (clang 14 has no "f16c" for cpu_supports) */
        f16c = (avx2 && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29))) ? 1 : 0;
    }
    return which ? f16c : avx2;
}
#endif

void half_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
#ifdef RLV_HALF_X86
    if (cpu_has(0)) { bf16_avx2(dst, src, n); return; }
#endif
    half_bf16_to_f32_n_scalar(dst, src, n);
}

void half_f16_to_f32_n(float *dst, const uint16_t *src, size_t n) {
#ifdef RLV_HALF_X86
    if (cpu_has(1)) { f16_f16c(dst, src, n); return; }
#endif
    half_f16_to_f32_n_scalar(dst, src, n);
}

void half_to_f32_n(float *dst, const void *src, rlv_dtype dt, size_t n) {
    switch (dt) {
    case RLV_F32: memcpy(dst, src, n * 4); break;
    case RLV_F16: half_f16_to_f32_n(dst, (const uint16_t *)src, n); break;
    case RLV_BF16: half_bf16_to_f32_n(dst, (const uint16_t *)src, n); break;
    case RLV_I8: /* the raw int8 values; a q8 weight's scales are applied by q8_dequantize_rows */
        for (size_t i = 0; i < n; i++) dst[i] = (float)((const int8_t *)src)[i];
        break;
    }
}

uint16_t half_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

uint16_t half_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* quiet NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  /* >= 65520 (and inf): inf */
    if (a >= 0x38800000u) {                                     /* normal: >= 2^-14 */
        uint32_t h = (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu), rem = a & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;  /* a carry into the exponent is right */
        return (uint16_t)(sign | h);
    }
    if (a < 0x33000000u) return sign;                           /* <= 2^-25: rounds to 0 */
    uint32_t mant = (a & 0x7fffffu) | 0x800000u, s = 126u - (a >> 23);  /* s in [14, 24] */
    uint32_t h = mant >> s, rem = mant & ((1u << s) - 1u), half = 1u << (s - 1u);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}
