/* image_impl.h — internal: the JPEG decoder behind image_decode() (image_jpeg.c, libjpeg-turbo).
 * image.c calls it only after image_probe() accepted the header; tests call it directly to reach
 * the guards that the probe normally trips first (the scan limit). */
#ifndef RLV_IMAGE_IMPL_H
#define RLV_IMAGE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Hostile progressive files repeat scans to multiply decode work; libjpeg-turbo's own advice
 * (TJPARAM_SCANLIMIT) is a few hundred. image_probe() counts SOS markers against this too. */
#define IMAGE_JPEG_MAX_SCANS 500

/* Decodes a JPEG of w x h (as the probe read them) to packed RGB8 exactly as Pillow 9.4's
 * Image.open(..).convert('RGB'): libjpeg-turbo with its defaults (islow IDCT, fancy upsampling,
 * block smoothing), grey replicated, 4-component data inverted ("CMYK;I") then Pillow's cmyk2rgb.
 * More than max_scans scans is RLV_EIMAGE; a libjpeg error is RLV_EIMAGE with libjpeg's message;
 * data that ends before the last scanline is RLV_EIMAGE "truncated" (Pillow's default).
 * On RLV_OK *rgb (w*h*3 bytes) is malloc'd and owned by the caller. */
int image_jpeg_decode(const uint8_t *data, size_t len, int w, int h, int max_scans, uint8_t **rgb, rlv_err *err);

#endif
