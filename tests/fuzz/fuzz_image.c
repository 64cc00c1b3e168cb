/* fuzz_image.c — arbitrary bytes as an uploaded image: the header check and the decode must return
 * a value, never crash, never decode what the limits refuse, and a decode must report the
 * header's size. The resize has its own target (fuzz_resize.c): resizing every input to 448 px
 * held this one to ~25 runs/s (issue 18). */
#include <stdint.h>
#include <stdlib.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* small limits keep each run fast; the bomb checks are what is being fuzzed */
    image_limits lim = {1024, 1 << 20};
    image_header hd;
    int probed = image_probe(data, size, &lim, &hd, NULL);
    if (probed == RLV_OK &&
        (hd.width > lim.max_side || hd.height > lim.max_side || (int64_t)hd.width * hd.height > lim.max_pixels))
        abort(); /* probe accepted an image above the limits */
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    rlv_err err;
    if (image_decode(data, size, &lim, &rgb, &w, &h, &err) == RLV_OK) {
        if (probed != RLV_OK || w != hd.width || h != hd.height) abort(); /* decoded what the probe refused, or another size */
        image_pixels_free(&rgb);
    } else if (rgb) {
        abort(); /* a refusal that still hands out pixels */
    }
    return 0;
}
