/* fuzz_jpeg.c — arbitrary bytes as a JPEG: the header check, then the libjpeg-turbo decoder
 * (image_jpeg.c) with a low scan limit so the progress monitor is reached too. Every outcome is a
 * value: libjpeg's errors must come back through the longjmp, never exit() or abort. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "image_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* small limits keep each run fast; seeds are JPEGs, anything else stops at the probe */
    image_limits lim = {1024, 1 << 20};
    image_header hd;
    rlv_err err;
    if (image_probe(data, size, &lim, &hd, &err) != RLV_OK || strcmp(hd.format, "JPEG")) return 0;
    uint8_t *rgb = NULL;
    int rc = image_jpeg_decode(data, size, hd.width, hd.height, 40, &rgb, &err);
    if ((rc == RLV_OK) != (rgb != NULL)) abort(); /* pixels exactly when RLV_OK */
    if (rgb) {
        volatile uint8_t sink = rgb[0] ^ rgb[(size_t)hd.width * hd.height * 3 - 1]; /* ASan: the whole frame */
        (void)sink;
    }
    image_pixels_free(&rgb);
    int w, h; /* and the public path, with the probe's scan limit */
    rc = image_decode(data, size, &lim, &rgb, &w, &h, &err);
    if (rc == RLV_OK && (w != hd.width || h != hd.height)) abort();
    image_pixels_free(&rgb);
    return 0;
}
