/* mm_avx2.c — the AVX2+FMA fp32 kernel behind mm.h (see mm_kern.h): 6 x 16 micro-tile (12 ymm
 * accumulators, 2 for the B row, 1 broadcast: 15 of 16 registers), packing with 8 x 8 register
 * transposes. Compiled with -mavx2 -mfma -mf16c (core/CMakeLists.txt); mm.c calls it only when
 * cpu_features() has CPU_AVX2. */
#include "mm_kern.h"
#include "mm_x86.h"

#define MR 6
#define NR 16

/* lanes < n set (n <= 8), for maskload/maskstore */
static inline __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void pack_a(void *dst, const float *x, size_t ldx, int mb, int kb) {
    float *d = dst;
    __m256i m6 = lanes(MR);
    for (int i0 = 0; i0 < mb; i0 += MR, d += (size_t)MR * kb) {
        int rows = mb - i0 < MR ? mb - i0 : MR;
        const float *xr = x + (size_t)i0 * ldx;
        int k0 = 0;
        for (; k0 + 8 <= kb; k0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = i < rows ? _mm256_loadu_ps(xr + (size_t)i * ldx + k0) : _mm256_setzero_ps();
            mmx_tr8(r);
            for (int q = 0; q < 8; q++) _mm256_maskstore_ps(d + (size_t)(k0 + q) * MR, m6, r[q]);
        }
        for (; k0 < kb; k0++)
            for (int i = 0; i < MR; i++) d[(size_t)k0 * MR + i] = i < rows ? xr[(size_t)i * ldx + k0] : 0.0f;
    }
}

static void pack_b(void *dst, const mm_w *w, int trans, int nb, int kb) {
    float *d = dst;
    for (int j0 = 0; j0 < nb; j0 += NR, d += (size_t)NR * kb) {
        int cols = nb - j0 < NR ? nb - j0 : NR;
        if (!trans && w->dt == RLV_I8 && w->panel) { /* a repacked q8 panel: all 16 columns, scales per column */
            mmx_q8_walk sk = mmx_q8_walk_start(w);
            for (int q = 0; q < kb; q++, mmx_q8_walk_next(&sk))
                for (int h = 0; h < 2; h++) {
                    __m128i v = _mm_loadl_epi64((const __m128i *)((const int8_t *)w->p + (size_t)q * NR + 8 * h));
                    __m256 sv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(sk.s + 8 * h)));
                    _mm256_storeu_ps(d + (size_t)q * NR + 8 * h, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)), sv));
                }
            continue;
        }
        if (!trans) {  /* W [k, n]: rows of w copied (widened); a short panel goes element by element */
            for (int q = 0; q < kb; q++) {
                if (cols == NR) {
                    _mm256_storeu_ps(d + (size_t)q * NR, mmx_w8(w, (size_t)q, (size_t)j0));
                    _mm256_storeu_ps(d + (size_t)q * NR + 8, mmx_w8(w, (size_t)q, (size_t)j0 + 8));
                } else
                    for (int c = 0; c < NR; c++) d[(size_t)q * NR + c] = c < cols ? mmx_elem(w, (size_t)q, (size_t)(j0 + c)) : 0.0f;
            }
            continue;
        }
        int k0 = 0;
        for (; k0 + 8 <= kb; k0 += 8)
            for (int h = 0; h < 2; h++) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) {
                    int c = 8 * h + i;
                    r[i] = c < cols ? mmx_w8(w, (size_t)(j0 + c), (size_t)k0) : _mm256_setzero_ps();
                }
                mmx_tr8(r);
                for (int q = 0; q < 8; q++) _mm256_storeu_ps(d + (size_t)(k0 + q) * NR + 8 * h, r[q]);
            }
        for (; k0 < kb; k0++)
            for (int c = 0; c < NR; c++) d[(size_t)k0 * NR + c] = c < cols ? mmx_elem(w, (size_t)(j0 + c), (size_t)k0) : 0.0f;
    }
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DECL(i) __m256 c##i##a = _mm256_setzero_ps(), c##i##b = _mm256_setzero_ps();
#define FMA(i) {                                                   \
        __m256 av = _mm256_broadcast_ss(a + i);                    \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                \
    }
#define STORE(i) if (i < mb) store_row(c + (size_t)i * ldc, c##i##a, c##i##b, nb, m0, m1, va, acc);

static inline void store_row(float *r, __m256 x0, __m256 x1, int nb, __m256i m0, __m256i m1, __m256 va, int acc) {
    x0 = _mm256_mul_ps(x0, va), x1 = _mm256_mul_ps(x1, va);
    if (nb == NR) {
        if (acc) x0 = _mm256_add_ps(x0, _mm256_loadu_ps(r)), x1 = _mm256_add_ps(x1, _mm256_loadu_ps(r + 8));
        _mm256_storeu_ps(r, x0);
        _mm256_storeu_ps(r + 8, x1);
        return;
    }
    if (acc) x0 = _mm256_add_ps(x0, _mm256_maskload_ps(r, m0)), x1 = _mm256_add_ps(x1, _mm256_maskload_ps(r + 8, m1));
    _mm256_maskstore_ps(r, m0, x0);
    _mm256_maskstore_ps(r + 8, m1, x1);
}

static void tile(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc) {
    const float *a = ap, *b = bp;
    ROWS(DECL)
    for (int p = 0; p < kb; p++, a += MR, b += NR) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        ROWS(FMA)
    }
    __m256i m0 = lanes(nb), m1 = lanes(nb - 8);
    __m256 va = _mm256_set1_ps(alpha);
    ROWS(STORE)
}

const mm_kern mm_kern_avx2 = {
    .name = "avx2", .mr = MR, .nr = NR, .kc = 256, .mc = 6 * 40, .nc = 16 * 128, .kstep = 1,
    .pack_a = pack_a, .pack_b = pack_b, .tile = tile,
};
