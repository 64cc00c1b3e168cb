/* image_impl.h — internal: the decoders behind image_decode(): JPEG (image_jpeg.c, libjpeg-turbo)
 * and the other formats (image_stb.c, stb_image behind read and allocation guards).
 * image.c calls them only after image_probe() accepted the header; tests call them directly to
 * reach the guards that the probe normally trips first (the scan limit, the allocation cap). */
#ifndef RLV_IMAGE_IMPL_H
#define RLV_IMAGE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Hostile progressive files repeat scans to multiply decode work; libjpeg-turbo's own advice
 * (TJPARAM_SCANLIMIT) is a few hundred. image_probe() counts SOS markers against this too. */
#define IMAGE_JPEG_MAX_SCANS 500
/* Decode work of a JPEG, counted by image_probe() as the sum over scans of width x height x
 * (components in the scan / components in the frame), may reach this many full passes over the
 * largest image the limits allow (max_pixels). libjpeg's default progressive script costs 4.7
 * passes; a pass over 40 MP takes about 0.15 s, so the worst accepted decode is about 2.4 s and
 * 150 empty scans of 8192 x 4880 are refused before decoding (issue 18). */
#define IMAGE_JPEG_MAX_PASSES 16

/* Decodes a JPEG of w x h (as the probe read them) to packed RGB8 exactly as Pillow 9.4's
 * Image.open(..).convert('RGB'): libjpeg-turbo with its defaults (islow IDCT, fancy upsampling,
 * block smoothing), grey replicated, 4-component data inverted ("CMYK;I") then Pillow's cmyk2rgb.
 * More than max_scans scans is RLV_EIMAGE; a libjpeg error is RLV_EIMAGE with libjpeg's message;
 * data that ends before the last scanline is RLV_EIMAGE "truncated" (Pillow's default).
 * On RLV_OK *rgb (w*h*3 bytes) is malloc'd and owned by the caller. */
int image_jpeg_decode(const uint8_t *data, size_t len, int w, int h, int max_scans, uint8_t **rgb, rlv_err *err);

/* Decodes a non-JPEG image (format as image_probe named it) with stb_image to packed RGB8
 * (grey16 = 0: w*h*3 bytes) or 16-bit grey (grey16 = 1: w*h uint16). A read past the end of data
 * is RLV_EIMAGE "truncated" (never a decode from bytes that are not there); an allocation above
 * max_alloc bytes is RLV_EIMAGE "decompression bomb". On RLV_OK *out is malloc'd, owned by the
 * caller, and *x, *y are stb's dimensions (the caller compares them with the header). */
int image_stb_decode(const uint8_t *data, size_t len, const char *format, int grey16, size_t max_alloc,
                     void **out, int *x, int *y, rlv_err *err);

#endif
