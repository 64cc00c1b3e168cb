/* fuzz_resize.c — the Pillow-exact bicubic resize on small images: the first 4 bytes pick the
 * source and destination sizes (1..64 each), the rest are the pixels (repeated to fill). The
 * resize must stay inside its workspace and buffers (ASan) and keep a flat image flat. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define SIDE 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static image_ws *ws;
    static uint8_t src[SIDE * SIDE * 3], dst[SIDE * SIDE * 3];
    if (!ws && image_ws_init(&ws, SIDE, SIDE, NULL) != RLV_OK) return 0;
    if (size < 5) return 0;
    int sw = 1 + data[0] % SIDE, sh = 1 + data[1] % SIDE, dw = 1 + data[2] % SIDE, dh = 1 + data[3] % SIDE;
    size_t n = (size_t)sw * sh * 3, k = size - 4;
    for (size_t i = 0; i < n; i++) src[i] = data[4 + i % k];
    rlv_err err;
    if (image_resize(ws, src, sw, sh, dst, dw, dh, &err) != RLV_OK) abort(); /* sizes are inside the workspace */
    /* a flat image stays flat, but for one step of fixed-point rounding */
    int flat = 1;
    for (size_t i = 3; i < n && flat; i++) flat = src[i] == src[i % 3];
    if (flat)
        for (size_t i = 0; i < (size_t)dw * dh * 3; i++)
            if (abs((int)dst[i] - (int)src[i % 3]) > 1) abort();
    return 0;
}
