/* q8.h — the q8 weight format's arithmetic: blockwise symmetric int8 with one f16 scale per block.
 * Owns: the reference (scalar) quantiser and dequantiser, the definition the matrix kernels and
 * other tools are tested against (docs/quantization.md). A weight W [rows, cols] is stored as
 * q [rows, cols] int8 plus scale [rows, cols / block] f16; W[r][c] = q[r][c] * scale[r][c / block].
 * Knows nothing of files: the checkpoint side (companion tensors, validation) is ckpt_q8 in ckpt.h. */
#ifndef RLV_Q8_H
#define RLV_Q8_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define Q8_BLOCK_DEFAULT 32        /* chosen by benchmarks/q8_drift.py, see docs/quantization.md */
#define Q8_BLOCK_MAX     (1 << 20) /* a reader refuses larger blocks */
#define Q8_SCALE_SUFFIX  "_scale"  /* companion of tensor N is N "_scale" */

/* Quantises rows x cols f32 weights (row-major, row r at w + r * cols) into q [rows][cols] and
 * scale [rows][cols / block] (f16 bits). Per block: s = f16(max|w| / 127) (f32 division, then
 * round-to-nearest-even to f16), q = clamp(rne(w / s), -127, 127) with the division in f32 by
 * the f16 value s; a block of zeros gets s = 0, q = 0. block must divide cols (caller checks).
 * Returns 0, or -1 when a weight is NaN/inf or a block's scale overflows f16 (max|w| >= 65520 *
 * 127); then *bad (if non-NULL) = the flat index of the first such weight and q, scale are partial. */
int q8_quantize_rows(int8_t *q, uint16_t *scale, const float *w, int64_t rows, int64_t cols, int block,
                     int64_t *bad);

/* dst[0, n) = q[0, n) * the scale of stored column c0 + i of one row (scale = that row's scales,
 * from its first block): a span of a row, for readers that need only part of it (mm's panels). */
void q8_dequantize_span(float *dst, const int8_t *q, const uint16_t *scale, int64_t c0, int64_t n, int block);

/* w [rows][cols] = q * scale, the reference dequantiser (scalar, exact: one f32 product each). */
void q8_dequantize_rows(float *w, const int8_t *q, const uint16_t *scale, int64_t rows, int64_t cols, int block);

#ifdef __cplusplus
}
#endif
#endif
