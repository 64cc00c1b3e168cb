/* image.h — encoded image bytes -> the normalised [3, S, S] f32 pixel tensor of the official
 * pipeline: PIL.Image.open(..).convert('RGB') -> Resize((S, S), BICUBIC) -> ToTensor -> Normalize
 * (OpenAI CLIP mean/std), docs/model.md §3.
 * Owns: the header check (format, dimensions, structure, JPEG scan count) that runs BEFORE any
 * decoding, the decode to RGB8 byte-identical to Pillow 9.4's (JPEG: libjpeg-turbo with Pillow's
 * settings, in image_jpeg.c; the other formats: stb_image, in image_stb.c), the Pillow-exact
 * fixed-point bicubic resize and the normalisation. Untrusted bytes never crash: every refusal is
 * a value (RLV_EIMAGE for empty, truncated, corrupt or malformed data and for a JPEG of more than
 * 500 scans, RLV_EUNSUPPORTED for a recognised format Pillow cannot read here such as WebP or a
 * 12-bit, lossless or hierarchical JPEG, RLV_ELIMIT for dimensions above the limits).
 * Knows nothing of models. */
#ifndef RLV_IMAGE_H
#define RLV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct image_limits {
    int max_side;        /* width and height each <= max_side (default 8192) */
    int64_t max_pixels;  /* width * height <= max_pixels (default 40 M) */
} image_limits;


typedef struct image_header {
    const char *format;  /* static string: "JPEG", "PNG", "GIF", "BMP", "PNM", "PSD", "TGA" */
    int width, height;
    int channels;        /* as stored (1 grey, 2 grey+alpha, 3, 4) */
    int bit_depth;       /* 8 or 16 (PNG); 8 otherwise */
    double passes;       /* decode work in full passes over the pixels: JPEG, the sum over its
                            scans of (components in the scan / components); 1 otherwise */
} image_header;

/* Reads only the header (and walks the JPEG/PNG segment structure, no pixel decoding):
 * identifies the format, its dimensions, and refuses what cannot or must not be decoded.
 * lim may be NULL (defaults). Returns RLV_OK and fills *hdr, or RLV_EIMAGE / RLV_EUNSUPPORTED /
 * RLV_ELIMIT with err naming the format and the reason. A JPEG must reach its end-of-image
 * marker and a PNG its IEND chunk: data cut anywhere is "truncated" (PIL's default refuses
 * truncated files too; a JPEG missing only its final EOI marker is refused here as well). */
int image_probe(const uint8_t *data, size_t len, const image_limits *lim, image_header *hdr, rlv_err *err);

/* image_probe, then decodes to packed RGB8 exactly as PIL's .convert('RGB') (alpha dropped, grey
 * replicated, palette expanded, 16-bit RGB(A) high byte, 16-bit grey clamped to 255; JPEG: every
 * byte as Pillow's libjpeg-turbo decode, CMYK/YCCK through Pillow's inverted-CMYK conversion;
 * EXIF orientation is not applied, as in Pillow's open).
 * On RLV_OK *rgb (w*h*3 bytes, owned by the caller: image_pixels_free) and *w, *h are set. */
int image_decode(const uint8_t *data, size_t len, const image_limits *lim,
                 uint8_t **rgb, int *w, int *h, rlv_err *err);
/* Frees what image_decode returned; *rgb becomes NULL. NULL-safe. */
void image_pixels_free(uint8_t **rgb);

/* Scratch for the resize (coefficients + the intermediate image), sized once for inputs up to
 * max_in_side per side and outputs up to max_out_side. */
typedef struct image_ws image_ws;
int image_ws_init(image_ws **out, int max_in_side, int max_out_side, rlv_err *err);
void image_ws_free(image_ws **ws);

/* dst[dh][dw][3] = Pillow's Image.resize((dw, dh), BICUBIC) of src[sh][sw][3], bit-exact with
 * Pillow 9.4 (a = -0.5, support scaled when downsampling, 22-bit fixed point, horizontal pass first
 * into uint8). Returns RLV_OK, or RLV_EINVAL if a size is outside what ws was sized for. */
int image_resize(image_ws *ws, const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh, rlv_err *err);

/* chw[3][h][w] = ((float)u / 255 - mean_c) / std_c in float32, as ToTensor + Normalize. */
void image_normalize(const uint8_t *rgb, int w, int h, float *chw);

/* The whole of docs/model.md §3: decode (limits from lim, NULL = defaults), resize to side x side, normalise
 * into chw[3][side][side]. rgb_out, if non-NULL, receives the resized RGB8 (side*side*3 bytes). */
int image_to_pixels(image_ws *ws, const uint8_t *data, size_t len, const image_limits *lim,
                    int side, float *chw, uint8_t *rgb_out, rlv_err *err);

#ifdef __cplusplus
}
#endif
#endif
