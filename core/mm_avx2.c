/* mm_avx2.c — the AVX2+FMA fp32 kernel behind mm.h (see mm_kern.h): 6 x 16 micro-tile (12 ymm
 * accumulators, 2 for the B row, 1 broadcast: 15 of 16 registers), packing with 8 x 8 register
 * transposes; repacked bf16 panels (MM_BF16P_SPLIT, 16 wide) multiplied in place. Compiled with
 * -mavx2 -mfma -mf16c (core/CMakeLists.txt); mm.c calls it only when cpu_features() has CPU_AVX2. */
#include "mm_kern.h"
#include "mm_x86.h"

#define MR 6
#define NR 16
/* Rows of an A block: 43 tiles, so that 256 rows (the candidates' pass, the ViT's row blocks) are
 * one block and every B micro-panel is read once; 258 x 256 floats = 264 KB stay in L2. */
#define MC (MR * 43)

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
            /* 8 lanes stored for 6: lanes 6 and 7 (zero rows) land on the next k-row, stored
             * next; only a panel's last k-row is masked (vmaskmovps stores are slow on AMD:
             * with one a k-row, pack_a took 11 % of a 256 x 4096 x 1024 product on a Zen 4) */
            for (int q = 0; q < 8; q++)
                if (k0 + q + 1 < kb) _mm256_storeu_ps(d + (size_t)(k0 + q) * MR, r[q]);
                else _mm256_maskstore_ps(d + (size_t)(k0 + q) * MR, m6, r[q]);
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
#define FMA(i) if (i < R) {                                        \
        __m256 av = _mm256_broadcast_ss(a + i);                    \
        c##i##a = _mm256_fmadd_ps(av, b0, c##i##a);                \
        c##i##b = _mm256_fmadd_ps(av, b1, c##i##b);                \
    }
#define STORE(i) if (i < R && i < mb) store_row(c + (size_t)i * ldc, c##i##a, c##i##b, nb, m0, m1, va, acc, bias != NULL, bv0, bv1);

/* r[0..nb) = alpha (x0, x1) (+ r when acc) (+ (b0, b1), the tile's bias, when bias) */
static inline void store_row(float *r, __m256 x0, __m256 x1, int nb, __m256i m0, __m256i m1, __m256 va, int acc,
                             int bias, __m256 b0, __m256 b1) {
    x0 = _mm256_mul_ps(x0, va), x1 = _mm256_mul_ps(x1, va);
    if (nb == NR) {
        if (acc) x0 = _mm256_add_ps(x0, _mm256_loadu_ps(r)), x1 = _mm256_add_ps(x1, _mm256_loadu_ps(r + 8));
        if (bias) x0 = _mm256_add_ps(x0, b0), x1 = _mm256_add_ps(x1, b1);
        _mm256_storeu_ps(r, x0);
        _mm256_storeu_ps(r + 8, x1);
        return;
    }
    if (acc) x0 = _mm256_add_ps(x0, _mm256_maskload_ps(r, m0)), x1 = _mm256_add_ps(x1, _mm256_maskload_ps(r + 8, m1));
    if (bias) x0 = _mm256_add_ps(x0, b0), x1 = _mm256_add_ps(x1, b1);
    _mm256_maskstore_ps(r, m0, x0);
    _mm256_maskstore_ps(r + 8, m1, x1);
}

/* R (a constant in each instance, <= MR) rows are computed, so that a row block's short last
 * tile (256 rows end on 4) does not run all six; each output's sum is the same chain whatever R.
 * bf16p: b is a repacked bf16 panel (MM_BF16P_SPLIT), widened as it is loaded — vpslld gives
 * columns 0-7, vpsrld + vpslld 8-15 — and the next panel's share (pf) is brought into L2
 * meanwhile; else a packed f32 micro-panel. */
static inline __attribute__((always_inline)) void tile_on(const int R, int kb, const float *a, const void *bp, int bf16p,
                                                          float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                                                          const float *bias, const mm_pf *pf) {
    /* y is re-read once per depth block and is too big for the caches (1024 x 4096 floats):
     * start fetching this tile's rows now, so that they have arrived by the store */
    if (acc)
        for (int i = 0; i < mb; i++) _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
    ROWS(DECL)
    mmx_trickle tr = mmx_trickle_start(pf, kb);
    if (bf16p) {
        const uint16_t *b = bp;
        for (int p = 0; p < kb; p++, a += MR, b += NR) {
            mmx_trickle_step(&tr);
            /* the high halves by two shifts, not a mask: 12 accumulators, b0, b1 and the broadcast
             * leave one ymm register, and a mask held in it made gcc spill an accumulator (half rate) */
            __m256i v = _mm256_loadu_si256((const __m256i *)b);
            __m256 b0 = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)),
                   b1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(v, 16), 16));
            ROWS(FMA)
        }
    } else {
        const float *b = bp;
        for (int p = 0; p < kb; p++, a += MR, b += NR) {
            mmx_trickle_step(&tr);
            __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
            ROWS(FMA)
        }
    }
    mmx_trickle_rest(&tr);
    __m256i m0 = lanes(nb), m1 = lanes(nb - 8);
    __m256 va = _mm256_set1_ps(alpha), bv0 = _mm256_setzero_ps(), bv1 = bv0;
    if (bias) bv0 = _mm256_maskload_ps(bias, m0), bv1 = _mm256_maskload_ps(bias + 8, m1);
    ROWS(STORE)
}

/* Instances of 2, 4 and 6 rows. */
static void tile(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                 const float *bias, const mm_pf *pf) {
    MMX_TILE_R(2, 4, MR, kb, ap, bp, 0, c, ldc, mb, nb, alpha, acc, bias, pf);
}

static void tile_bf16p(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                       const float *bias, const mm_pf *pf) {
    MMX_TILE_R(2, 4, MR, kb, ap, bp, 1, c, ldc, mb, nb, alpha, acc, bias, pf);
}

/* Repacking's transpose into MM_BF16P_SPLIT at 16 wide: word i of k-row q = W[i][q] (low half) |
 * W[i + 8][q] (high). 8 k at a time: rows i and i + 8 zero-extended and merged into 8 words each,
 * then an 8 x 8 transpose of the words gives 8 k-rows, stored past the caches. */
static void bf16p_pack(void *dst, const uint16_t *w, size_t ldw, int rows, int k, int stream) {
    uint32_t *d = dst;
    int q0 = 0;
    if (rows == NR)
        for (; q0 + 8 <= k; q0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) {
                __m256i lo = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + (size_t)i * ldw + q0)));
                __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + (size_t)(i + 8) * ldw + q0)));
                r[i] = _mm256_castsi256_ps(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 16)));
            }
            mmx_tr8(r);
            if (stream) /* read later, from memory */
                for (int q = 0; q < 8; q++) _mm256_stream_ps((float *)(d + (size_t)(q0 + q) * 8), r[q]);
            else
                for (int q = 0; q < 8; q++) _mm256_storeu_ps((float *)(d + (size_t)(q0 + q) * 8), r[q]);
        }
    for (int q = q0; q < k; q++)
        for (int i = 0; i < 8; i++) {
            uint32_t lo = i < rows ? w[(size_t)i * ldw + q] : 0, hi = i + 8 < rows ? w[(size_t)(i + 8) * ldw + q] : 0;
            d[(size_t)q * 8 + i] = lo | hi << 16;
        }
    if (stream) _mm_sfence(); /* the streamed stores are seen before the panel is handed over */
}

/* An in-place panel widened into a packed f32 one (mm_kern.h: bf16p_widen): columns 0-7 from
 * the low halves, 8-15 from the high. */
static void bf16p_widen(float *dst, const void *b, int kb) {
    const uint32_t *s = b;
    for (int q = 0; q < kb; q++, s += NR / 2, dst += NR) {
        __m256i v = _mm256_loadu_si256((const __m256i *)s);
        _mm256_storeu_ps(dst, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        _mm256_storeu_ps(dst + 8, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_srli_epi32(v, 16), 16)));
    }
}

const mm_kern mm_kern_avx2 = {
    .name = "avx2", .mr = MR, .nr = NR, .kc = 256, .mc = MC, .nc = 16 * 128, .kstep = 1,
    .pack_a = pack_a, .pack_b = pack_b, .tile = tile, .bf16p = MM_BF16P_SPLIT, .bf16p_pack = bf16p_pack,
    .tile_bf16p = tile_bf16p, .bf16p_widen = bf16p_widen,
};
