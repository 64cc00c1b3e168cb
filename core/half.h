/* half.h — bf16/f16 -> f32 conversion, exact for every bit pattern.
 * Owns: the scalar and vectorised (AVX2 / F16C, chosen at run time) converters.
 * bf16 -> f32 is a 16-bit shift; f16 -> f32 handles subnormals, +-Inf and NaN
 * (sign and payload kept, as numpy and F16C do for quiet NaNs). */
#ifndef RLV_HALF_H
#define RLV_HALF_H

#include <stddef.h>
#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

float half_bf16_to_f32(uint16_t h);
float half_f16_to_f32(uint16_t h);
/* dst[i] = convert(src[i]) for i < n; vectorised where the CPU allows. */
void half_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void half_f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
/* Scalar-only versions (the portable fallback), exposed for tests and benchmarks. */
void half_bf16_to_f32_n_scalar(float *dst, const uint16_t *src, size_t n);
void half_f16_to_f32_n_scalar(float *dst, const uint16_t *src, size_t n);
/* Converts n elements of any rlv_dtype into f32 (F32 is a memcpy; I8 gives the raw integers). */
void half_to_f32_n(float *dst, const void *src, rlv_dtype dt, size_t n);
/* Round-to-nearest-even f32 -> bf16 (for writers and tests). */
uint16_t half_f32_to_bf16(float f);
/* Round-to-nearest-even f32 -> f16 (as numpy's astype(float16)): subnormals, +-inf past 65504, NaN. */
uint16_t half_f32_to_f16(float f);

#ifdef __cplusplus
}
#endif
#endif
