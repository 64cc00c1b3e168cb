/* mm_avx512bf16.c — the optional bf16 compute kernel behind mm.h (MM_COMPUTE_BF16; see
 * mm_kern.h): vdpbf16ps, two bf16 products added into each fp32 accumulator lane.
 * Activations are rounded to bf16 (round to nearest even, vcvtne2ps2bf16) as A is packed;
 * bf16 weights go in as stored, f32/f16 ones are rounded the same way as B is packed. k goes
 * in pairs: one packed 32-bit element holds k = 2p (low half) and 2p + 1 (high half), zero
 * past the end of k. 14 x 32 micro-tile as the fp32 kernel (28 zmm accumulators).
 * Compiled with -mavx512f/bw/dq/vl -mavx512bf16; mm.c calls it only with CPU_AVX512BF16. */
#include "mm_kern.h"
#include "mm_x86.h"

#define MR 14
#define NR 32

static inline uint32_t pair_of(uint16_t lo, uint16_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }

/* bf16 bits of element (r, c) of the view w (as stored for bf16, rounded otherwise). */
static inline uint16_t bf16_elem(const mm_w *w, size_t r, size_t c) {
    if (w->dt == RLV_BF16) return ((const uint16_t *)w->p)[r * (size_t)w->ld + c];
    return half_f32_to_bf16(mmx_elem(w, r, c));
}

/* 32 consecutive f32 of x as 16 bf16 pairs (each 32-bit lane: k even low, odd high). */
static inline __m512 pairs32_f32(const float *x) {
    return (__m512)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + 16), _mm512_loadu_ps(x));
}

/* The same from row r, column c of the view w. */
static inline __m512 pairs32(const mm_w *w, size_t r, size_t c) {
    if (w->dt == RLV_BF16) return _mm512_loadu_ps((const uint16_t *)w->p + r * (size_t)w->ld + c);
    return (__m512)_mm512_cvtne2ps_pbh(mmx_w16(w, w->dt, r, c + 16, 16), mmx_w16(w, w->dt, r, c, 16));
}

/* 16 elements (n <= 16) of row r of the view w from column c as bf16 in the low halves of 32-bit lanes. */
static inline __m512i low16(const mm_w *w, size_t r, size_t c, int n) {
    __m256i h;
    if (w->dt == RLV_BF16)
        h = _mm256_maskz_loadu_epi16(n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1),
                                     (const uint16_t *)w->p + r * (size_t)w->ld + c);
    else h = (__m256i)_mm512_cvtneps_pbh(mmx_w16(w, w->dt, r, c, n));
    return _mm512_cvtepu16_epi32(h);
}

static void pack_a(void *dst, const float *x, size_t ldx, int mb, int kb) {
    uint32_t *d = dst;
    int kp = (kb + 1) / 2;
    for (int i0 = 0; i0 < mb; i0 += MR, d += (size_t)MR * kp) {
        int rows = mb - i0 < MR ? mb - i0 : MR;
        const float *xr = x + (size_t)i0 * ldx;
        int k0 = 0;
        for (; k0 + 32 <= kb; k0 += 32) {  /* 16 rows x 16 pairs, transposed */
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = i < rows ? pairs32_f32(xr + (size_t)i * ldx + k0) : _mm512_setzero_ps();
            mmx_tr16(r);
            for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(d + (size_t)(k0 / 2 + q) * MR, (__mmask16)0x3fff, r[q]);
        }
        for (int p = k0 / 2; p < kp; p++)
            for (int i = 0; i < MR; i++) {
                const float *row = xr + (size_t)i * ldx;
                d[(size_t)p * MR + i] = i >= rows ? 0 : pair_of(half_f32_to_bf16(row[2 * p]),
                                                                  2 * p + 1 < kb ? half_f32_to_bf16(row[2 * p + 1]) : 0);
            }
    }
}

static void pack_b(void *dst, const mm_w *w, int trans, int nb, int kb) {
    uint32_t *d = dst;
    int kp = (kb + 1) / 2;
    for (int j0 = 0; j0 < nb; j0 += NR, d += (size_t)NR * kp) {
        int cols = nb - j0 < NR ? nb - j0 : NR;
        if (!trans && w->dt == RLV_I8 && w->panel) { /* a repacked q8 panel: rows 2p, 2p + 1 dequantised, rounded, paired */
            mmx_q8_walk sk = mmx_q8_walk_start(w);
            const int8_t *q8 = w->p;
            for (int p = 0; p < kp; p++)
                for (int h = 0; h < 2; h++) {
                    __m512 lo, hi = _mm512_setzero_ps();
                    mmx_q8_walk k2 = sk;
                    lo = mmx_q8_16(q8 + (size_t)(2 * p) * NR + 16 * h, 16, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k2.s + 16 * h))));
                    if (2 * p + 1 < kb) {
                        mmx_q8_walk_next(&k2);
                        hi = mmx_q8_16(q8 + (size_t)(2 * p + 1) * NR + 16 * h, 16,
                                       _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(k2.s + 16 * h))));
                    }
                    __m512i a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo)),
                            b = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
                    _mm512_storeu_si512(d + (size_t)p * NR + 16 * h, _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
                    if (h == 1) { /* two k rows consumed */
                        mmx_q8_walk_next(&sk);
                        if (2 * p + 1 < kb) mmx_q8_walk_next(&sk);
                    }
                }
            continue;
        }
        if (!trans) {  /* W [k, n]: the pair is rows 2p and 2p + 1 of w, interleaved by 16-bit halves */
            for (int p = 0; p < kp; p++) {
                int odd = 2 * p + 1 < kb;
                for (int h = 0; h < 2; h++) {
                    int n = cols - 16 * h;
                    size_t c = (size_t)j0 + 16 * (size_t)h;
                    __m512i v = _mm512_setzero_si512();
                    if (n > 0) {
                        v = low16(w, (size_t)(2 * p), c, n);
                        if (odd) v = _mm512_or_si512(v, _mm512_slli_epi32(low16(w, (size_t)(2 * p + 1), c, n), 16));
                    }
                    _mm512_storeu_si512(d + (size_t)p * NR + 16 * h, v);
                }
            }
            continue;
        }
        int k0 = 0;
        for (; k0 + 32 <= kb; k0 += 32)  /* W [n, k]: a row's 32 k are already 16 pairs */
            for (int h = 0; h < 2; h++) {
                __m512 r[16];
                for (int i = 0; i < 16; i++) {
                    int c = 16 * h + i;
                    r[i] = c < cols ? pairs32(w, (size_t)(j0 + c), (size_t)k0) : _mm512_setzero_ps();
                }
                mmx_tr16(r);
                for (int q = 0; q < 16; q++) _mm512_storeu_ps(d + (size_t)(k0 / 2 + q) * NR + 16 * h, r[q]);
            }
        for (int p = k0 / 2; p < kp; p++)
            for (int c = 0; c < NR; c++) {
                size_t r = (size_t)(j0 + c);
                d[(size_t)p * NR + c] = c >= cols ? 0 : pair_of(bf16_elem(w, r, (size_t)(2 * p)),
                                                                2 * p + 1 < kb ? bf16_elem(w, r, (size_t)(2 * p + 1)) : 0);
            }
    }
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define DOT(i) if (i < R) {                                        \
        __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[i]);      \
        c##i##a = _mm512_dpbf16_ps(c##i##a, av, b0);               \
        c##i##b = _mm512_dpbf16_ps(c##i##b, av, b1);               \
    }
#define STORE(i) if (i < R && i < mb) mmx_store_row32(c + (size_t)i * ldc, c##i##a, c##i##b, m0, m1, va, acc, bias != NULL, bv0, bv1);

/* R rows (a constant in each instance, <= MR; see mm_avx512.c's tile_on: a short last tile runs a
 * smaller instance, same chains, same bits). pf: see mm_kern.tile. */
static inline __attribute__((always_inline)) void tile_on(const int R, int kb, const void *ap, const void *bp, float *c,
                                                          size_t ldc, int mb, int nb, float alpha, int acc, const float *bias,
                                                          const mm_pf *pf) {
    const uint32_t *a = ap, *b = bp;
    ROWS(DECL)
    int kp = (kb + 1) / 2;
    mmx_trickle tr = mmx_trickle_start(pf, kp);
    for (int p = 0; p < kp; p++, a += MR, b += NR) {
        mmx_trickle_step(&tr);
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
        ROWS(DOT)
    }
    mmx_trickle_rest(&tr);
    __mmask16 m0, m1;
    mmx_masks32(nb, &m0, &m1);
    __m512 va = _mm512_set1_ps(alpha), bv0 = _mm512_setzero_ps(), bv1 = bv0;
    if (bias) bv0 = _mm512_maskz_loadu_ps(m0, bias), bv1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    ROWS(STORE)
}

static void tile(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                 const float *bias, const mm_pf *pf) {
    MMX_TILE_R(4, 7, MR, kb, ap, bp, c, ldc, mb, nb, alpha, acc, bias, pf);
}

/* a repacked bf16 panel (MM_BF16P_PAIRS) is already this kernel's packed B */
static void tile_bf16p(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                       const float *bias, const mm_pf *pf) {
    MMX_TILE_R(4, 7, MR, kb, ap, bp, c, ldc, mb, nb, alpha, acc, bias, pf);
}

/* A panel of 32 rows of bf16 W (k even) into MM_BF16P_PAIRS: pair-row p is 32 words, word j =
 * W[j][2p] (low half) | W[j][2p + 1] (high) — the 32-bit word p of row j as stored, so the panel
 * is a transpose of 32-bit words, 16 x 16 at a time. */
static void bf16p_pack(void *dst, const uint16_t *w, size_t ldw, int rows, int k, int stream) {
    uint32_t *d = dst;
    int p0 = 0, np = k / 2;
    if (rows == NR)
        for (; p0 + 16 <= np; p0 += 16)
            for (int h = 0; h < 2; h++) {
                __m512 r[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(w + (size_t)(16 * h + i) * ldw + 2 * (size_t)p0);
                mmx_tr16(r);
                if (stream) /* read later, from memory */
#pragma GCC unroll 16
                    for (int q = 0; q < 16; q++) _mm512_stream_ps((float *)(d + (size_t)(p0 + q) * NR + 16 * h), r[q]);
                else
#pragma GCC unroll 16
                    for (int q = 0; q < 16; q++) _mm512_storeu_ps((float *)(d + (size_t)(p0 + q) * NR + 16 * h), r[q]);
            }
    for (int p = p0; p < np; p++)
        for (int j = 0; j < NR; j++)
            d[(size_t)p * NR + j] = j < rows ? pair_of(w[(size_t)j * ldw + 2 * p], w[(size_t)j * ldw + 2 * p + 1]) : 0;
    if (stream) _mm_sfence(); /* the streamed stores are seen before the panel is handed over */
}

const mm_kern mm_kern_avx512bf16 = {
    .name = "avx512bf16", .mr = MR, .nr = NR, .kc = 512, .mc = 14 * 24, .nc = 32 * 64, .kstep = 2,
    .pack_a = pack_a, .pack_b = pack_b, .tile = tile, .bf16p = MM_BF16P_PAIRS,
    .bf16p_pack = bf16p_pack, .tile_bf16p = tile_bf16p,
};
