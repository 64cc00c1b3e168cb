/* q8.c — the reference q8 quantiser and dequantiser (see q8.h and docs/quantization.md).
 * Scalar on purpose: this is the definition. The division w / s (not w * (1/s), as ggml does)
 * and nearbyintf under the default rounding mode (ties to even) make it reproducible bit for bit
 * by numpy: np.rint(np.float32(w) / np.float32(s)). */
#include "q8.h"

#include <math.h>

#include "half.h"

int q8_quantize_rows(int8_t *q, uint16_t *scale, const float *w, int64_t rows, int64_t cols, int block,
                     int64_t *bad) {
    const int64_t nb = cols / block;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t b = 0; b < nb; b++) {
            const float *x = w + r * cols + b * block;
            int8_t *y = q + r * cols + b * block;
            float amax = 0.0f;
            for (int i = 0; i < block; i++) {
                if (!isfinite(x[i])) {
                    if (bad) *bad = r * cols + b * block + i;
                    return -1;
                }
                float a = fabsf(x[i]);
                if (a > amax) amax = a;
            }
            uint16_t h = half_f32_to_f16(amax / 127.0f);
            if ((h & 0x7c00u) == 0x7c00u) { /* the scale overflows f16 */
                if (bad) *bad = r * cols + b * block;
                return -1;
            }
            scale[r * nb + b] = h;
            float s = half_f16_to_f32(h);
            for (int i = 0; i < block; i++) {
                float v = s > 0.0f ? nearbyintf(x[i] / s) : 0.0f;
                y[i] = (int8_t)(v > 127.0f ? 127 : v < -127.0f ? -127 : (int)v);
            }
        }
    }
    return 0;
}

void q8_dequantize_span(float *dst, const int8_t *q, const uint16_t *scale, int64_t c0, int64_t n, int block) {
    for (int64_t i = 0; i < n;) {
        int64_t b = (c0 + i) / block, e = (b + 1) * block - c0;  /* this block ends before span index e */
        float s = half_f16_to_f32(scale[b]);
        for (; i < n && i < e; i++) dst[i] = (float)q[i] * s;
    }
}

void q8_dequantize_rows(float *w, const int8_t *q, const uint16_t *scale, int64_t rows, int64_t cols, int block) {
    for (int64_t r = 0; r < rows; r++) q8_dequantize_span(w + r * cols, q + r * cols, scale + r * (cols / block), 0, cols, block);
}
