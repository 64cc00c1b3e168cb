/* mm_x86.h — internal: register transposes and widening loads shared by the per-ISA kernel
 * files. Static inline, so each includer compiles them with its own -m flags; include only from
 * core/mm_avx2.c, core/mm_avx512.c, core/mm_avx512bf16.c. Owns nothing. */
#ifndef RLV_MM_X86_H
#define RLV_MM_X86_H

#include <immintrin.h>
#include <stdint.h>

#include "half.h"
#include "mm.h"
#include "mm_kern.h"

/* One element widened (scalar: edges of panels only), flat index i of a plain array. */
static inline float mmx_flat(const void *w, rlv_dtype dt, size_t i) {
    if (dt == RLV_F32) return ((const float *)w)[i];
    if (dt == RLV_BF16) return half_bf16_to_f32(((const uint16_t *)w)[i]);
    return half_f16_to_f32(((const uint16_t *)w)[i]);
}

/* f16 -> f32 inline (vcvtph2ps, exact for every f16), for the q8 scales in the hot loops. */
static inline __attribute__((always_inline)) float mmx_f16(uint16_t h) { return _cvtsh_ss(h); }

/* The scales of row r of a q8 view: the stored row's, from its first block. */
static inline const uint16_t *mmx_q8_srow(const mm_w *w, size_t r) {
    return w->scale + r * (size_t)(w->ld / w->block);
}

/* Walks the k rows of a repacked q8 view in order (every kernel packs such a panel with it; the
 * per-element accessors below never see one): s is the current row's [panel] f16 scales, next()
 * moves to the next row — a division once, not per row. */
typedef struct mmx_q8_walk {
    const uint16_t *s;
    size_t left, block, step;
} mmx_q8_walk;
static inline mmx_q8_walk mmx_q8_walk_start(const mm_w *w) {
    size_t c = (size_t)w->c0, blk = (size_t)w->block;
    mmx_q8_walk k = {w->scale + c / blk * (size_t)w->panel, blk - c % blk, blk, (size_t)w->panel};
    return k;
}
static inline void mmx_q8_walk_next(mmx_q8_walk *k) {
    if (--k->left == 0) k->s += k->step, k->left = k->block;
}

/* Element (r, c) of the view w widened (q8: q x scale, one f32 product, as q8_dequantize_rows). */
static inline float mmx_elem(const mm_w *w, size_t r, size_t c) {
    size_t i = r * (size_t)w->ld + c;
    if (w->dt != RLV_I8) return mmx_flat(w->p, w->dt, i);
    return (float)((const int8_t *)w->p)[i] * half_f16_to_f32(mmx_q8_srow(w, r)[((size_t)w->c0 + c) / (size_t)w->block]);
}

#ifdef __AVX2__
/* 8 elements from w + i widened to f32: bf16 is a zero-extend and a 16-bit shift, f16 vcvtph2ps. */
static inline __attribute__((always_inline)) __m256 mmx_load8(const void *w, rlv_dtype dt, size_t i) {
    if (dt == RLV_F32) return _mm256_loadu_ps((const float *)w + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + i));
    if (dt == RLV_BF16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

/* 8 elements of row r of the view w from column c widened (q8: dequantised); 8 lanes of one
 * scale when they share a block, else a scale per lane. */
static inline __attribute__((always_inline)) __m256 mmx_w8(const mm_w *w, size_t r, size_t c) {
    if (w->dt != RLV_I8) return mmx_load8(w->p, w->dt, r * (size_t)w->ld + c);
    const uint16_t *s = mmx_q8_srow(w, r);
    size_t sc = (size_t)w->c0 + c, b = sc / (size_t)w->block;
    __m256 sv;
    if ((sc + 7) / (size_t)w->block == b) sv = _mm256_set1_ps(mmx_f16(s[b]));
    else {
        float v[8];
        for (int i = 0; i < 8; i++) v[i] = half_f16_to_f32(s[(sc + (size_t)i) / (size_t)w->block]);
        sv = _mm256_loadu_ps(v);
    }
    __m128i q = _mm_loadl_epi64((const __m128i *)((const int8_t *)w->p + r * (size_t)w->ld + c));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), sv);
}

/* r[0..7] (rows) become their transpose (r[j][i] = old r[i][j]). */
static inline __attribute__((always_inline)) void mmx_tr8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) {
        u[4 * g] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}
#endif

#ifdef __AVX512F__
/* 16 elements from w + i widened to f32 (lanes past n zero; n <= 16). */
static inline __attribute__((always_inline)) __m512 mmx_load16(const void *w, rlv_dtype dt, size_t i, int n) {
    __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    if (dt == RLV_F32) return _mm512_maskz_loadu_ps(m, (const float *)w + i);
    __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i);
    if (dt == RLV_BF16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* The scales of stored columns sc .. sc + n - 1 (n <= 16) of a q8 row whose scales are s: one
 * broadcast when they share a block, else one per lane (blocks under 16, or straddled). */
static inline __attribute__((always_inline)) __m512 mmx_q8_scales16(const uint16_t *s, size_t sc, int block, int n) {
    size_t b = sc / (size_t)block;
    if ((sc + (size_t)n - 1) / (size_t)block == b) return _mm512_set1_ps(mmx_f16(s[b]));
    float v[16] = {0};
    for (int i = 0; i < n; i++) v[i] = half_f16_to_f32(s[(sc + (size_t)i) / (size_t)block]);
    return _mm512_loadu_ps(v);
}

/* n (<= 16) int8 values from q times their scales sv, as f32 (lanes past n zero). */
static inline __attribute__((always_inline)) __m512 mmx_q8_16(const int8_t *q, int n, __m512 sv) {
    __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
    return _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, q))), sv);
}

/* n elements (at most 16 are read) of row r of the view w from column c widened (q8: dequantised).
 * dt is w->dt, a constant at the call site so that the inlined load is specialised. */
static inline __attribute__((always_inline)) __m512 mmx_w16(const mm_w *w, rlv_dtype dt, size_t r, size_t c, int n) {
    n = n < 16 ? n : 16;
    if (dt != RLV_I8) return mmx_load16(w->p, dt, r * (size_t)w->ld + c, n);
    return mmx_q8_16((const int8_t *)w->p + r * (size_t)w->ld + c, n,
                     mmx_q8_scales16(mmx_q8_srow(w, r), (size_t)w->c0 + c, w->block, n));
}

/* r[0..15] (rows of 16 lanes) become their transpose: 4x4 blocks inside 128-bit lanes by
 * unpack + shuffle, then the lanes moved across registers by two rounds of shuffle_f32x4. */
/* always_inline: as a call, r[] would go through memory */
static inline __attribute__((always_inline)) void mmx_tr16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {  /* u[4g + c], lane L: column 4L + c of rows 4g..4g+3 */
        u[4 * g] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 v1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), v2 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        __m512 v3 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44), v4 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        r[c] = _mm512_shuffle_f32x4(v1, v3, 0x88);
        r[4 + c] = _mm512_shuffle_f32x4(v1, v3, 0xDD);
        r[8 + c] = _mm512_shuffle_f32x4(v2, v4, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(v2, v4, 0xDD);
    }
}
/* Row r of a 14/16 x 32 tile: r[0..31] masked by (m0, m1) = alpha (x0, x1) (+ r when acc)
 * (+ (b0, b1) when bias: the tile's bias, loaded once). */
static inline __attribute__((always_inline)) void mmx_store_row32(float *r, __m512 x0, __m512 x1, __mmask16 m0,
                                                                     __mmask16 m1, __m512 va, int acc, int bias,
                                                                     __m512 b0, __m512 b1) {
    x0 = _mm512_mul_ps(x0, va), x1 = _mm512_mul_ps(x1, va);
    if (acc) x0 = _mm512_add_ps(x0, _mm512_maskz_loadu_ps(m0, r)), x1 = _mm512_add_ps(x1, _mm512_maskz_loadu_ps(m1, r + 16));
    if (bias) x0 = _mm512_add_ps(x0, b0), x1 = _mm512_add_ps(x1, b1);
    _mm512_mask_storeu_ps(r, m0, x0);
    _mm512_mask_storeu_ps(r + 16, m1, x1);
}

/* The masks of columns [0, 16) and [16, 32) below nb. */
static inline void mmx_masks32(int nb, __mmask16 *m0, __mmask16 *m1) {
    *m0 = nb >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nb) - 1);
    *m1 = nb >= 32 ? (__mmask16)0xffff : nb > 16 ? (__mmask16)((1u << (nb - 16)) - 1) : 0;
}
#endif

/* A kernel file's tile entry points over its tile_on(R, ...) instances: a short tile (the last of
 * a row block: 256 rows end on 4) runs the smallest of R1 < R2 < RMAX rows that holds its mb
 * rows; the rest of the arguments are tile_on's after R. */
#define MMX_TILE_R(R1, R2, RMAX, ...)                                                                \
    do {                                                                                           \
        if (mb <= (R1)) tile_on(R1, __VA_ARGS__);                                                  \
        else if (mb <= (R2)) tile_on(R2, __VA_ARGS__);                                             \
        else tile_on(RMAX, __VA_ARGS__);                                                           \
    } while (0)

/* Cache lines brought into L2 while a tile runs (mm_pf), one every `every` depth steps: issued
 * all at the tile's start, the ~30 misses to memory queued ahead of the tile's own loads (4-11 %
 * slower at 256-1024 rows on two threads, interleaved in one process). */
typedef struct {
    const char *p;   /* the current row */
    size_t off;      /* the next line's offset in it */
    const mm_pf *pf; /* row and stride */
    int n, every, left;
} mmx_trickle;

static inline mmx_trickle mmx_trickle_start(const mm_pf *pf, int steps) {
    int n = pf && pf->p ? pf->n : 0, every = n > 0 && steps > n ? steps / n : 1;
    size_t lpr = n > 0 ? pf->row / 64 : 1;
    mmx_trickle t = {n > 0 ? pf->p + (size_t)pf->first / lpr * pf->stride : NULL, n > 0 ? (size_t)pf->first % lpr * 64 : 0,
                     pf, n, every, every};
    return t;
}

static inline __attribute__((always_inline)) void mmx_trickle_one(mmx_trickle *t) {
    _mm_prefetch(t->p + t->off, _MM_HINT_T1);
    if ((t->off += 64) >= t->pf->row) t->off = 0, t->p += t->pf->stride;
    t->n--;
}

static inline __attribute__((always_inline)) void mmx_trickle_step(mmx_trickle *t) {
    if (--t->left) return;
    t->left = t->every;
    if (t->n > 0) mmx_trickle_one(t);
}

/* The lines the steps did not reach. */
static inline void mmx_trickle_rest(mmx_trickle *t) {
    while (t->n > 0) mmx_trickle_one(t);
}

#endif
