/* mm.h — matrix products against weights as stored (f32, f16 or bf16), on a worker's thread pool.
 * Owns: mm_ctx, one per worker: its pool, its kernel (chosen at init from cpu_features() and the
 * compute mode: packed AVX-512 or AVX2 FMA kernels, OpenBLAS for `generic`) and one packing
 * buffer per pool thread (allocated once, a fixed size whatever the shapes). Half-precision
 * weights are never converted whole: each thread widens the panel of weights it is about to
 * multiply as it packs it. Products split the output columns (weight rows) over the pool's
 * threads, so every weight byte is read by one thread once per call (narrow, tall products
 * split rows instead; x.W^T of at most 4 rows reads the weights in place, without packing). Compute is fp32 with fp32 accumulation, or optionally bf16 products
 * with fp32 accumulation (MM_COMPUTE_BF16).
 * Thread-safety: an mm_ctx is driven by one thread at a time (its worker); models are shared. */
#ifndef RLV_MM_H
#define RLV_MM_H

#include "err.h"
#include "pool.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mm_ctx mm_ctx;

typedef enum {
    MM_COMPUTE_F32 = 0,  /* fp32 products and accumulation (the default) */
    MM_COMPUTE_BF16 = 1, /* activations and weights rounded to bf16 (nearest even; bf16 weights as
                          * stored), products summed in fp32 by vdpbf16ps; needs AVX512_BF16 */
} mm_compute;

/* pool may be NULL (products run on the caller alone); it must outlive the context.
 * RLV_ENOMEM; RLV_EUNSUPPORTED: MM_COMPUTE_BF16 on a CPU (or RLV_CPU cap) without AVX512_BF16;
 * RLV_EINVAL: unknown compute. */
int mm_ctx_init(mm_ctx **out, rlv_pool *pool, mm_compute compute, rlv_err *err);
/* *c becomes NULL; NULL is a no-op. */
void mm_ctx_free(mm_ctx **c);
rlv_pool *mm_ctx_pool(const mm_ctx *c);
/* Bytes of the packing buffers. */
size_t mm_ctx_bytes(const mm_ctx *c);
/* The kernel every product of c runs on: "avx512bf16", "avx512", "avx2" or "generic" (OpenBLAS).
 * Static string. */
const char *mm_kernel_name(const mm_ctx *c);

/* y[m, n] (leading dim ldy) = x[m, k] (ld ldx) . W^T (+ bias[n]), with W [n, k] of dtype dt,
 * row i at w + i * ldw elements (ldw >= k; the nn.Linear layout, or a column block of a wider
 * weight). bias may be NULL. accumulate: y += instead of y =. Runs on the whole pool. */
void mm_xwt(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
            rlv_dtype dt, int n, const float *bias, int accumulate);

/* y[m, n] = x[m, k] . W (+ y if accumulate), with W [k, n] of dtype dt, row i at w + i * ldw
 * elements (ldw >= n; e.g. the resampler's proj, or attention's V). Runs on the whole pool. */
void mm_xw(mm_ctx *c, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
           rlv_dtype dt, int n, int accumulate);

/* The same two products scaled by alpha (y = alpha x.W^T [+ y]), serially on the calling thread,
 * which must be thread tid of c's pool inside a pool_run task (tid 0 outside one): for many small
 * independent products run side by side, such as attention heads. */
void mm_xwt_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w,
               int ldw, rlv_dtype dt, int n, float alpha, int accumulate);
void mm_xw_on(mm_ctx *c, int tid, float *y, int ldy, const float *x, int ldx, int m, int k, const void *w,
              int ldw, rlv_dtype dt, int n, float alpha, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
