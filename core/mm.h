/* mm.h — matrix products against weights as stored (f32, f16 or bf16), via cblas_sgemm.
 * Owns: the panel conversion of half-precision weights into a caller-given scratch buffer.
 * Weights are never converted whole: panels of MM_PANEL rows are converted and multiplied.
 * Thread-safe: no state besides the caller's scratch (one scratch per worker). */
#ifndef RLV_MM_H
#define RLV_MM_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of W converted per panel: MM_PANEL, or fewer for long rows so that a panel stays
 * within MM_PANEL_FLOATS (16 MB), but at least MM_PANEL_MIN. Measured (docs/performance.md,
 * Decoder): OpenBLAS packs the whole x again for every call, so 128-row panels reached 0.70
 * of f32 sgemm at the decoder's shapes (m 1016, k 4096) and 1024-row panels 0.88-0.91. */
#define MM_PANEL 1024
#define MM_PANEL_MIN 128
#define MM_PANEL_FLOATS ((size_t)1 << 22)

/* Floats of scratch that mm_xwt / mm_xw need: enough for mm_xwt with inner dimension <= k
 * and any n, and for mm_xw with output width <= n and any k (<= 16 MB unless k or n > 32768). */
size_t mm_scratch_floats(int k, int n);
/* Enough for mm_xwt / mm_xwt_ld with inner dimension <= k and output width <= n (callers
 * that never call mm_xw: size with the largest k and the largest n of their products). */
size_t mm_xwt_scratch_floats(int k, int n);

/* y[m, n] (leading dim ldy) = x[m, k] (ld ldx) . W^T + bias, with W row-major [n, k] (the
 * nn.Linear layout) of dtype dt at w. bias may be NULL. accumulate: y += instead of y =. */
void mm_xwt(float *y, int ldy, const float *x, int ldx, int m, int k,
            const void *w, rlv_dtype dt, int n, const float *bias, int accumulate, float *scratch);

/* mm_xwt for a column block of a wider weight: row i of W starts at w + i * ldw elements
 * (ldw >= k), e.g. the columns f0.. of down_proj as w = base + f0, ldw = intermediate size. */
void mm_xwt_ld(float *y, int ldy, const float *x, int ldx, int m, int k, const void *w, int ldw,
               rlv_dtype dt, int n, const float *bias, int accumulate, float *scratch);

/* y[m, n] = x[m, k] . W with W row-major [k, n] (e.g. the resampler's proj). */
void mm_xw(float *y, int ldy, const float *x, int ldx, int m, int k,
           const void *w, rlv_dtype dt, int n, float *scratch);

/* Sets OpenBLAS's thread count and the threads that widen a large panel (process-wide). */
void mm_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
