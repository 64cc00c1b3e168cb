/* mm_kern.h — internal: the packed GEMM kernels behind mm.h, one table per instruction set.
 * Owns: the contract between mm.c's blocked driver (BLIS-style loops, threads, buffers) and the
 * per-ISA files (core/mm_avx2.c, core/mm_avx512.c, core/mm_avx512bf16.c), which are the only
 * files compiled with -mavx2 / -mavx512*; mm.c calls into them only after cpu_features() says the
 * CPU runs them. Knows nothing of models.
 *
 * Packed layouts (elements of `esize` bytes: 4 = f32, or 4 = one bf16 pair for the bf16 kernel):
 *   A block (rows of x): micro-panels of mr rows, each [kp][mr] (kp = k rounded up to kstep),
 *     rows past the block's end zero.
 *   B block (output columns = weight rows of W^T, or columns of W): micro-panels of nr columns,
 *     each [kp][nr], columns past the block's end zero. Half-precision weights are widened here,
 *     q8 weights dequantised (q x scale, the f32 product q8_dequantize_rows makes).
 * kstep is 2 for the bf16 kernel: element p of a panel holds k = 2p (low half) and 2p + 1. */
#ifndef RLV_MM_KERN_H
#define RLV_MM_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "mm.h"

/* Cache lines a tile brings into L2 while it runs, spread over its depth loop: n lines from line
 * `first` of rows of `row` bytes (whole lines) `stride` bytes apart from p — the next panel's share:
 * a repacked panel (one row), the next packed panel, or the weight rows that the next panel will
 * be packed from. Issued one every few depth steps, not at once: in a burst between tiles the
 * rows of bf16 weights as stored were not in cache when packed (measured: performance.md). */
typedef struct mm_pf {
    const char *p;
    size_t row, stride;
    int first, n;
} mm_pf;

typedef struct mm_kern {
    const char *name;
    int mr, nr;      /* micro-tile: mr rows x nr columns of y in registers */
    int kc, mc, nc;  /* cache blocking: depth, rows of an A block (multiple of mr), columns of a B block (of nr) */
    int kstep;       /* 1, or 2 when k goes in pairs (vdpbf16ps) */
    /* dst = A block of mb rows x kb depth, from x (row stride ldx floats). */
    void (*pack_a)(void *dst, const float *x, size_t ldx, int mb, int kb);
    /* dst = B block of nb columns x kb depth from the view w (at the block's first element).
     * trans = 1: w is W [n, k] (columns are rows of w); trans = 0: w is W [k, n] (rows of w are k). */
    void (*pack_b)(void *dst, const mm_w *w, int trans, int nb, int kb);
    /* c[mb, nb] (row stride ldc) = alpha a.b (+ c when acc) (+ bias[nb] on every row, when not
     * NULL: the product's last depth block), a and b single packed micro-panels of depth kb
     * (mb <= mr, nb <= nr); c outside [mb, nb] untouched, and not read when !acc. The bias is added
     * after the rest, as a pass over y afterwards would add it: the same bits (given with alpha 1
     * only), without reading y from memory again. pf: the lines to bring in meanwhile, or NULL. */
    void (*tile)(int kb, const void *a, const void *b, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                 const float *bias, const mm_pf *pf);
    /* Optional (NULL: the tiles do it): y[m, n] = alpha x.W^T (+ y when acc) for m <= gemv_rows,
     * W [n, k] read in place, widened as loaded: a few rows cannot repay packing the weights
     * (lm_head of one scored row), and the product is bound by reading them. */
    int gemv_rows;
    void (*gemv)(float *y, size_t ldy, const float *x, size_t ldx, int m, int k, const mm_w *w, int n, float alpha,
                 int acc);
    /* Optional: the tile on a repacked bf16 panel read in place (no B packing at all), b at its
     * depth block's first k-row, and the layout repacking gives such panels (bf16p):
     *   MM_BF16P_SPLIT: k-row q holds its nr columns as nr/2 32-bit words, word i = column i (low
     *     half) and column i + nr/2 (high half), so that a shift and a mask widen one load into
     *     the two column halves (the fp32 kernel);
     *   MM_BF16P_PAIRS: the packed B of a kstep-2 kernel, [k/2][nr] 32-bit words of k = 2p (low
     *     half) and 2p + 1 (high), for even k (the vdpbf16ps kernel).
     * Meanwhile it brings pf's lines into L2 as tile does. */
    int bf16p;
    /* With bf16p: one panel of a bf16 W (`rows` <= nr rows, ldw elements apart, k of each) into
     * that layout at dst, rows past `rows` zero. stream 1: repacking's transpose (mm_repack_weight),
     * a copy read later from memory: dst 64-byte aligned, its stores bypass the caches; stream 0:
     * a panel the tiles multiply at once (bf16 weights as stored, packed): stores kept in cache. */
    void (*bf16p_pack)(void *dst, const uint16_t *w, size_t ldw, int rows, int k, int stream);
    void (*tile_bf16p)(int kb, const void *a, const void *b, float *c, size_t ldc, int mb, int nb, float alpha, int acc,
                       const float *bias, const mm_pf *pf);
    /* Optional, with MM_BF16P_SPLIT: kb k-rows of such a panel (b, read in place) widened into a
     * packed f32 micro-panel [kb][nr] at dst, for `tile`: where the tile's own widening (two
     * vector integer ops a depth step) takes the FMAs' issue ports, it is done once per row block
     * instead of once per tile (mm.c, where mm_ctx_set_widen says so). */
    void (*bf16p_widen)(float *dst, const void *b, int kb);
} mm_kern;

extern const mm_kern mm_kern_avx2;        /* fp32 FMA, 6 x 16 */
extern const mm_kern mm_kern_avx512;      /* fp32 FMA, 14 x 32 */
extern const mm_kern mm_kern_avx512bf16;  /* vdpbf16ps: bf16 products, fp32 accumulation, 14 x 32 */

#endif
