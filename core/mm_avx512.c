/* mm_avx512.c — the AVX-512F fp32 kernel behind mm.h (see mm_kern.h): 14 x 32 micro-tile
 * (28 zmm accumulators, 2 for the B row, A broadcast from memory: 31 of 32 registers), packing
 * with 16 x 16 register transposes. Compiled with -mavx512f/bw/dq/vl (core/CMakeLists.txt);
 * mm.c calls it only when cpu_features() has CPU_AVX512. */
#include "mm_kern.h"
#include "mm_x86.h"

#define MR 14
#define NR 32
#define KC 512 /* depth block: the tiles' and the gemv's (which must round alike) */
/* Rows of an A block: 19 tiles, so that 256 rows (the candidates' pass, the ViT's row blocks) are
 * one block and every B micro-panel is read once (252 split them in two: 4-9 % slower at 256,
 * interleaved in one process); 266 x 512 floats = 545 KB stay in the 1 MB L2 of AVX-512 cores. */
#define MC (MR * 19)
/* The tile fetches its B micro-panel's row PF_STEPS depth steps ahead into L1: the panel (64 KB
 * f32, 32 KB bf16 at KC 512) and the A micro-panel do not fit a 48 KB L1 together, so every tile
 * re-reads B from L2, and the hardware's L1 prefetch did not keep up: products 2.4 % faster on
 * average, up to 8 %, on an Intel Xeon (docs/performance.md, alternated in one process). Near the
 * panel's end it fetches a few rows past it, harmless (a prefetch never faults). */
#define PF_STEPS 8

/* A block: rows of x, 16 at a time along k, transposed into [k][14] micro-panels. The packed
 * A is read ~nc/nr times per packing, so this is a small share of the work (nc >= 256). */
static void pack_a(void *dst, const float *x, size_t ldx, int mb, int kb) {
    float *d = dst;
    for (int i0 = 0; i0 < mb; i0 += MR, d += (size_t)MR * kb) {
        int rows = mb - i0 < MR ? mb - i0 : MR;
        const float *xr = x + (size_t)i0 * ldx;
        int k0 = 0;
        if (rows == MR)
            for (; k0 + 16 <= kb; k0 += 16) {
                __m512 r[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) {
                    /* 14 rows ldx apart share few L1 sets: fetch ahead rather than count on the prefetcher */
                    if (i < MR) _mm_prefetch((const char *)(xr + (size_t)i * ldx + k0 + 64), _MM_HINT_T0);
                    r[i] = i < MR ? _mm512_loadu_ps(xr + (size_t)i * ldx + k0) : _mm512_setzero_ps();
                }
                mmx_tr16(r);
#pragma GCC unroll 16
                for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(d + (size_t)(k0 + q) * MR, (__mmask16)0x3fff, r[q]);
            }
        for (; k0 + 16 <= kb; k0 += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_loadu_ps(xr + (size_t)i * ldx + k0) : _mm512_setzero_ps();
            mmx_tr16(r);
            for (int q = 0; q < 16; q++) _mm512_mask_storeu_ps(d + (size_t)(k0 + q) * MR, (__mmask16)0x3fff, r[q]);
        }
        for (; k0 < kb; k0++)
            for (int i = 0; i < MR; i++) d[(size_t)k0 * MR + i] = i < rows ? xr[(size_t)i * ldx + k0] : 0.0f;
    }
}

/* One W [n, k] panel (cols <= 32 rows of the view w) into [kb][32]: 16 rows x 16 k widened, then
 * transposed in registers, twice per 16 k. dt is w->dt as a constant at each call site (see
 * pack_b), so the widening is specialised and r[] stays in registers. */
static inline __attribute__((always_inline)) void pack_b_rows(float *d, const mm_w *w, rlv_dtype dt, int cols, int kb) {
    int k0 = 0;
    if (cols == NR && dt == RLV_I8) {  /* the 32 rows of a 16-k step share its block index */
        const int8_t *q = w->p;
        size_t ld = (size_t)w->ld, lds = ld / (size_t)w->block, blk = (size_t)w->block;
        for (int h = 0; h < 2; h++)
            for (k0 = 0; k0 + 16 <= kb; k0 += 16) {
                __m512 r[16];
                size_t sc = (size_t)w->c0 + (size_t)k0, b = sc / blk;
                int one = (sc + 15) / blk == b;
                for (int i = 0; i < 16; i++) {
                    size_t row = (size_t)(16 * h + i);
                    const uint16_t *s = w->scale + row * lds;
                    __m512 sv = one ? _mm512_set1_ps(mmx_f16(s[b])) : mmx_q8_scales16(s, sc, w->block, 16);
                    r[i] = mmx_q8_16(q + row * ld + (size_t)k0, 16, sv);
                }
                mmx_tr16(r);
#pragma GCC unroll 16
                for (int qq = 0; qq < 16; qq++) _mm512_storeu_ps(d + (size_t)(k0 + qq) * NR + 16 * h, r[qq]);
            }
    } else if (cols == NR) {  /* one row pointer stepped by ldw: 16 row addresses would not fit the registers */
        size_t rb = (size_t)w->ld * rlv_dtype_size(dt);
        for (int h = 0; h < 2; h++)
            for (k0 = 0; k0 + 16 <= kb; k0 += 16) {
                __m512 r[16];
                const char *p = (const char *)w->p + ((size_t)(16 * h) * (size_t)w->ld + (size_t)k0) * rlv_dtype_size(dt);
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++, p += rb) r[i] = mmx_load16(p, dt, 0, 16);
                mmx_tr16(r);
#pragma GCC unroll 16
                for (int q = 0; q < 16; q++) _mm512_storeu_ps(d + (size_t)(k0 + q) * NR + 16 * h, r[q]);
            }
    } else
        for (; k0 + 16 <= kb; k0 += 16)
            for (int h = 0; h < 2; h++) {
                __m512 r[16];
                for (int i = 0; i < 16; i++) {
                    int c = 16 * h + i;
                    r[i] = c < cols ? mmx_w16(w, dt, (size_t)c, (size_t)k0, 16) : _mm512_setzero_ps();
                }
                mmx_tr16(r);
                for (int q = 0; q < 16; q++) _mm512_storeu_ps(d + (size_t)(k0 + q) * NR + 16 * h, r[q]);
            }
    for (; k0 < kb; k0++)
        for (int c = 0; c < NR; c++) d[(size_t)k0 * NR + c] = c < cols ? mmx_elem(w, (size_t)c, (size_t)k0) : 0.0f;
}

/* One W [k, n] panel: row q of the panel is 32 consecutive elements of w's row q. */
static inline __attribute__((always_inline)) void pack_b_cols(float *d, const mm_w *w, rlv_dtype dt, int cols, int kb) {
    if (dt == RLV_I8 && w->panel) { /* a repacked q8 panel: all 32 columns (zero past n), scales per column */
        mmx_q8_walk sk = mmx_q8_walk_start(w);
        const int8_t *q8 = w->p;
        for (int q = 0; q < kb; q++, mmx_q8_walk_next(&sk)) {
            const int8_t *row = q8 + (size_t)q * NR;
            _mm512_storeu_ps(d + (size_t)q * NR, mmx_q8_16(row, 16, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sk.s))));
            _mm512_storeu_ps(d + (size_t)q * NR + 16,
                             mmx_q8_16(row + 16, 16, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sk.s + 16)))));
        }
        return;
    }
    for (int q = 0; q < kb; q++) {
        _mm512_storeu_ps(d + (size_t)q * NR, mmx_w16(w, dt, (size_t)q, 0, cols));
        _mm512_storeu_ps(d + (size_t)q * NR + 16, cols > 16 ? mmx_w16(w, dt, (size_t)q, 16, cols - 16) : _mm512_setzero_ps());
    }
}

/* B block, widened as it is packed: each weight element is read once per product. */
static void pack_b(void *dst, const mm_w *w, int trans, int nb, int kb) {
    float *d = dst;
    for (int j0 = 0; j0 < nb; j0 += NR, d += (size_t)NR * kb) {
        int cols = nb - j0 < NR ? nb - j0 : NR;
        mm_w v = mm_w_at(*w, trans ? (size_t)j0 : 0, trans ? 0 : (size_t)j0);
#define PACK_DT(DT) (trans ? pack_b_rows(d, &v, DT, cols, kb) : pack_b_cols(d, &v, DT, cols, kb))
        switch (w->dt) {
        case RLV_F32: PACK_DT(RLV_F32); break;
        case RLV_BF16: PACK_DT(RLV_BF16); break;
        case RLV_F16: PACK_DT(RLV_F16); break;
        case RLV_I8: PACK_DT(RLV_I8); break;
        }
#undef PACK_DT
    }
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13)
#define DECL(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define FMA(i) if (i < R) {                                        \
        __m512 av = _mm512_set1_ps(a[i]);                          \
        c##i##a = _mm512_fmadd_ps(av, b0, c##i##a);                \
        c##i##b = _mm512_fmadd_ps(av, b1, c##i##b);                \
    }
#define STORE(i) if (i < R && i < mb) mmx_store_row32(c + (size_t)i * ldc, c##i##a, c##i##b, m0, m1, va, acc, bias != NULL, bv0, bv1);

/* Accumulators are named variables, not an array, so that they stay in registers at -O2.
 * R (a constant in each instance, <= MR) rows are computed: the last tile of a row block is often
 * short (256 rows are 18 tiles and 4 rows), and a full 14-row tile for it made a 256-row product
 * 3-7 % slower (bench_mm llm.q and vit.fc1, alternated three times, Zen 4).
 * Each output's sum is the same chain whatever R, so the bits do not depend on it.
 * bf16p: b is a repacked bf16 panel (MM_BF16P_SPLIT, mm_kern.h), widened as it is loaded —
 * vpslld gives columns 0-15, vpandd 16-31 — else a packed f32 micro-panel. */
static inline __attribute__((always_inline)) void tile_on(const int R, int kb, const float *a, const void *bp, int bf16p,
                                                          float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                                                          const float *bias, const mm_pf *pf) {
    /* y is re-read once per depth block and is too big for the caches (1024 x 4096 floats):
     * start fetching this tile's rows now, so that they have arrived by the store */
    if (acc)
        for (int i = 0; i < mb; i++) {
            _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + (size_t)i * ldc + 16), _MM_HINT_T0);
        }
    ROWS(DECL)
    mmx_trickle tr = mmx_trickle_start(pf, kb);
    if (bf16p) {
        const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
        const uint16_t *b = bp;
        for (int p = 0; p < kb; p++, a += MR, b += NR) {
            mmx_trickle_step(&tr);
            _mm_prefetch((const char *)(b + PF_STEPS * NR), _MM_HINT_T0);
            __m512i v = _mm512_loadu_si512(b);
            __m512 b0 = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), b1 = _mm512_castsi512_ps(_mm512_and_si512(v, hi));
            ROWS(FMA)
        }
    } else {
        const float *b = bp;
        for (int p = 0; p < kb; p++, a += MR, b += NR) {
            mmx_trickle_step(&tr);
            _mm_prefetch((const char *)(b + PF_STEPS * NR), _MM_HINT_T0);
            _mm_prefetch((const char *)(b + PF_STEPS * NR + 16), _MM_HINT_T0);
            __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            ROWS(FMA)
        }
    }
    mmx_trickle_rest(&tr);
    __mmask16 m0, m1;
    mmx_masks32(nb, &m0, &m1);
    __m512 va = _mm512_set1_ps(alpha), bv0 = _mm512_setzero_ps(), bv1 = bv0;
    if (bias) bv0 = _mm512_maskz_loadu_ps(m0, bias), bv1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    ROWS(STORE)
}

/* Instances of 4, 7 and 14 rows. */
static void tile(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                 const float *bias, const mm_pf *pf) {
    MMX_TILE_R(4, 7, MR, kb, ap, bp, 0, c, ldc, mb, nb, alpha, acc, bias, pf);
}

static void tile_bf16p(int kb, const void *ap, const void *bp, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                       const float *bias, const mm_pf *pf) {
    MMX_TILE_R(4, 7, MR, kb, ap, bp, 1, c, ldc, mb, nb, alpha, acc, bias, pf);
}

/* gemv: M (<= 4) rows of x against 16 weight rows at a time, W [n, k] read in place. It computes
 * every output exactly as the tiles do — lanes are output columns, each a chain of FMAs in k
 * order restarted every KC, y = alpha x chain (+ y) per depth block — so that a row's result does
 * not depend on how many rows share the product (a prefix run with its candidates, or on its own,
 * gives the same bits). The 16 x 16 blocks are widened and transposed in registers: ~70 shuffles
 * per 256 weights, hidden under reading the weights from memory, which bounds a product this
 * small. M is a constant in each instance (see gemv) so the accumulators are registers. */
static inline __attribute__((always_inline)) void gemv_m(float *y, size_t ldy, const float *x, size_t ldx, const int M,
                                                            int k, const mm_w *w, rlv_dtype dt, int n, float alpha,
                                                            int acc) {
    __m512 va = _mm512_set1_ps(alpha);
    for (int j0 = 0; j0 < n; j0 += 16) {
        int cols = n - j0 < 16 ? n - j0 : 16;
        __mmask16 cm = cols >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cols) - 1);
        for (int pc = 0; pc < k; pc += KC) {
            int kb = k - pc < KC ? k - pc : KC;
            __m512 c[4];
#pragma GCC unroll 4
            for (int i = 0; i < M; i++) c[i] = _mm512_setzero_ps();
            for (int k0 = 0; k0 < kb; k0 += 16) {
                int kn = kb - k0 < 16 ? kb - k0 : 16;
                __m512 r[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++)
                    r[i] = i < cols ? mmx_w16(w, dt, (size_t)(j0 + i), (size_t)(pc + k0), kn) : _mm512_setzero_ps();
                mmx_tr16(r); /* r[q], lane i: W[j0 + i][pc + k0 + q] */
                const float *xk = x + pc + k0;
                if (kn == 16) {
#pragma GCC unroll 16
                    for (int q = 0; q < 16; q++)
#pragma GCC unroll 4
                        for (int i = 0; i < M; i++) c[i] = _mm512_fmadd_ps(_mm512_set1_ps(xk[(size_t)i * ldx + q]), r[q], c[i]);
                } else
                    for (int q = 0; q < kn; q++)
                        for (int i = 0; i < M; i++) c[i] = _mm512_fmadd_ps(_mm512_set1_ps(xk[(size_t)i * ldx + q]), r[q], c[i]);
            }
            int a2 = acc || pc > 0;
#pragma GCC unroll 4
            for (int i = 0; i < M; i++) {
                float *o = y + (size_t)i * ldy + j0;
                __m512 v = _mm512_mul_ps(c[i], va);
                if (a2) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(cm, o));
                _mm512_mask_storeu_ps(o, cm, v);
            }
        }
    }
}

static void gemv(float *y, size_t ldy, const float *x, size_t ldx, int m, int k, const mm_w *w, int n, float alpha,
                 int acc) {
#define GEMV_DT(M)                                                                              \
    switch (w->dt) {                                                                            \
    case RLV_F32: gemv_m(y, ldy, x, ldx, M, k, w, RLV_F32, n, alpha, acc); break;               \
    case RLV_BF16: gemv_m(y, ldy, x, ldx, M, k, w, RLV_BF16, n, alpha, acc); break;             \
    case RLV_F16: gemv_m(y, ldy, x, ldx, M, k, w, RLV_F16, n, alpha, acc); break;               \
    case RLV_I8: gemv_m(y, ldy, x, ldx, M, k, w, RLV_I8, n, alpha, acc); break;                 \
    }
    switch (m) {
    case 1: GEMV_DT(1) break;
    case 2: GEMV_DT(2) break;
    case 3: GEMV_DT(3) break;
    default: GEMV_DT(4) break;
    }
#undef GEMV_DT
}

/* A panel of 32 rows of bf16 W into MM_BF16P_SPLIT: k-row q is 16 words, word i = W[i][q] (low
 * half) | W[i + 16][q] (high). BF16P_CHUNK k at a time, in two passes: rows i and i + 16 are read
 * along k, zero-extended and merged into 16 staging rows of words; then 16 x 16 transposes of the
 * staging give the k-rows, stored past the caches when stream. Why the staging: the decoder's
 * weight rows are 8 or 28 KB apart (k 4096, 14336), so a panel's 32 rows fall in one 12-way L1 set,
 * and reading all 32 rows 16 k at a time evicted each line between its two halves: every line came
 * from L2 twice (rows in L2: 0.16-0.20 ns an element, staged 0.09-0.12; a 256-row product as
 * stored spent 9 % of its tile time packing, now 6 %: docs/performance.md). Same words. */
#define BF16P_CHUNK 256
static void bf16p_pack(void *dst, const uint16_t *w, size_t ldw, int rows, int k, int stream) {
    uint32_t *d = dst;
    int q0 = 0;
    if (rows == NR) {
        uint32_t s[16 * BF16P_CHUNK] __attribute__((aligned(64))); /* 16 KB: stays in L1 between the passes */
        while (q0 + 16 <= k) {
            int len = (k - q0) / 16 * 16; /* whole 16-k steps of this chunk; the tail goes below */
            if (len > BF16P_CHUNK) len = BF16P_CHUNK;
            for (int i = 0; i < 16; i++) {
                const uint16_t *lo = w + (size_t)i * ldw + q0, *hi = lo + 16 * ldw;
                for (int q = 0; q < len; q += 16) {
                    __m512i l = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(lo + q)));
                    __m512i h = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(hi + q)));
                    _mm512_store_si512(s + i * BF16P_CHUNK + q, _mm512_or_si512(l, _mm512_slli_epi32(h, 16)));
                }
            }
            for (int q = 0; q < len; q += 16) {
                __m512 r[16];
#pragma GCC unroll 16
                for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps((const float *)(s + i * BF16P_CHUNK + q));
                mmx_tr16(r);
                uint32_t *o = d + (size_t)(q0 + q) * 16;
                if (stream) /* read later, from memory */
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++) _mm512_stream_ps((float *)(o + j * 16), r[j]);
                else
#pragma GCC unroll 16
                    for (int j = 0; j < 16; j++) _mm512_storeu_ps((float *)(o + j * 16), r[j]);
            }
            q0 += len;
        }
    }
    for (int q = q0; q < k; q++)
        for (int i = 0; i < 16; i++) {
            uint32_t lo = i < rows ? w[(size_t)i * ldw + q] : 0, hi = i + 16 < rows ? w[(size_t)(i + 16) * ldw + q] : 0;
            d[(size_t)q * 16 + i] = lo | hi << 16;
        }
    if (stream) _mm_sfence(); /* the streamed stores are seen before the panel is handed over */
}

/* An in-place panel widened into a packed f32 one (mm_kern.h: bf16p_widen), as tile_on widens it. */
static void bf16p_widen(float *dst, const void *b, int kb) {
    const __m512i hi = _mm512_set1_epi32((int)0xffff0000u);
    const uint32_t *s = b;
    for (int q = 0; q < kb; q++, s += NR / 2, dst += NR) {
        __m512i v = _mm512_loadu_si512(s);
        _mm512_storeu_ps(dst, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        _mm512_storeu_ps(dst + 16, _mm512_castsi512_ps(_mm512_and_si512(v, hi)));
    }
}

const mm_kern mm_kern_avx512 = {
    .name = "avx512", .mr = MR, .nr = NR, .kc = KC, .mc = MC, .nc = 32 * 64, .kstep = 1,
    .pack_a = pack_a, .pack_b = pack_b, .tile = tile, .gemv_rows = 4, .gemv = gemv, .bf16p = MM_BF16P_SPLIT, .bf16p_pack = bf16p_pack,
    .tile_bf16p = tile_bf16p, .bf16p_widen = bf16p_widen,
};
