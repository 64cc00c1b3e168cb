/* mm.h — matrix products against weights as stored (f32, f16 or bf16), via cblas_sgemm.
 * Owns: the panel conversion of half-precision weights into a caller-given scratch buffer.
 * Weights are never converted whole: panels of MM_PANEL rows are converted and multiplied. */
#ifndef RLV_MM_H
#define RLV_MM_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of W converted per panel. */
#define MM_PANEL 128

/* Floats of scratch that mm_xwt / mm_xw need for inner dimension k / output width n. */
size_t mm_scratch_floats(int k, int n);

/* y[m, n] (leading dim ldy) = x[m, k] (ld ldx) . W^T + bias, with W row-major [n, k] (the
 * nn.Linear layout) of dtype dt at w. bias may be NULL. accumulate: y += instead of y =. */
void mm_xwt(float *y, int ldy, const float *x, int ldx, int m, int k,
            const void *w, rlv_dtype dt, int n, const float *bias, int accumulate, float *scratch);

/* y[m, n] = x[m, k] . W with W row-major [k, n] (e.g. the resampler's proj). */
void mm_xw(float *y, int ldy, const float *x, int ldx, int m, int k,
           const void *w, rlv_dtype dt, int n, float *scratch);

/* Sets OpenBLAS's thread count (process-wide). */
void mm_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
