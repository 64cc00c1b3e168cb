/* fuzz_image.c — arbitrary bytes as an uploaded image: the header check, the decode and the
 * resize to 448 must return a value, never crash, and never decode what the limits refuse. */
#include <stdint.h>
#include <stdlib.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static image_ws *ws;
    static float *px;
    if (!ws) {
        if (image_ws_init(&ws, 2048, 448, NULL) != RLV_OK) return 0;
        px = malloc(3 * 448 * 448 * sizeof *px);
        if (!px) return 0;
    }
    /* small limits keep each run fast; the bomb check is what is being fuzzed */
    image_limits lim = {2048, 4 << 20};
    image_header hd;
    if (image_probe(data, size, &lim, &hd, NULL) == RLV_OK &&
        (hd.width > lim.max_side || hd.height > lim.max_side || (int64_t)hd.width * hd.height > lim.max_pixels))
        abort(); /* probe accepted an image above the limits */
    rlv_err err;
    image_to_pixels(ws, data, size, &lim, 448, px, NULL, &err);
    return 0;
}
