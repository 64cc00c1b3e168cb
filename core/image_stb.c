/* image_stb.c — the one translation unit that compiles stb_image (Debian libstb-dev), and the
 * two guards stb lacks for bytes from outside:
 * (1) Reads: stb reads through our callbacks, never straight from memory, so a decoder that asks
 *     for a byte past the end (stb would hand it a 0, or leave a TGA row uninitialised) marks the
 *     decode "truncated" and it is refused, as Pillow refuses it ("image file is truncated").
 *     stb refills its 128-byte buffer speculatively: a refill that comes back short is not a
 *     truncation, one that finds nothing left is; an exact read (stbi__getn) must be whole.
 * (2) Memory: every stb allocation goes through a per-thread cap that image.c derives from the
 *     header, so a PNG whose IDAT data inflates far beyond its declared size (a deflate bomb)
 *     fails at the cap instead of doubling its buffer up to 4 GiB.
 * Kept apart so stb's own warnings and its integer idioms do not mix with our flags
 * (core/CMakeLists.txt relaxes warnings for this file only). Only image.c calls into it,
 * always after image_probe() has accepted the header. */
#include <stdlib.h>

#include "image_impl.h"

static _Thread_local size_t stb_cap;     /* bytes per allocation during this thread's decode */
static _Thread_local int stb_over_cap;   /* an allocation was refused */

/* stb_cap 0: no decode in progress (image_probe's stbi_info calls allocate a few KiB) */
static void *stb_malloc(size_t n) {
    if (stb_cap && n > stb_cap) { stb_over_cap = 1; return NULL; }
    return malloc(n);
}

static void *stb_realloc(void *p, size_t n) {
    if (stb_cap && n > stb_cap) { stb_over_cap = 1; return NULL; }
    return realloc(p, n);
}

#define STBI_MALLOC(sz) stb_malloc(sz)
#define STBI_REALLOC(p, sz) stb_realloc(p, sz)
#define STBI_FREE(p) free(p)
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO    /* bytes come from memory only */
#define STBI_NO_HDR      /* PIL cannot open Radiance HDR: image_probe refuses it */
#define STBI_NO_LINEAR
#define STBI_NO_PIC      /* nor Softimage PIC */
#define STBI_NO_JPEG     /* JPEG is libjpeg-turbo's (image_jpeg.c): stb must never take bytes that reach
                          * it as another format for a JPEG (a fuzzed 0xFF run hit its asserts) */
#define STBI_MAX_DIMENSIONS (1 << 20)
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb/stb_image.h>

typedef struct stb_src {
    const uint8_t *data;
    size_t len, pos;
    const void *refill_buf;  /* stb's own buffer: the first read is always a refill into it */
    int truncated;
} stb_src;

static int src_read(void *user, char *buf, int size) {
    stb_src *s = user;
    size_t left = s->len - s->pos, n = (size_t)size < left ? (size_t)size : left;
    if (!s->refill_buf) s->refill_buf = buf;
    if (buf == s->refill_buf ? n == 0 : n < (size_t)size) s->truncated = 1;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    return (int)n;
}

static void src_skip(void *user, int n) {
    stb_src *s = user;
    if (n < 0) return; /* stb never skips backwards through the callbacks */
    if ((size_t)n > s->len - s->pos) {
        s->truncated = 1;
        s->pos = s->len;
    } else {
        s->pos += (size_t)n;
    }
}

static int src_eof(void *user) {
    stb_src *s = user;
    return s->pos >= s->len;
}

int image_stb_decode(const uint8_t *data, size_t len, const char *format, int grey16, size_t max_alloc,
                     void **out, int *x, int *y, rlv_err *err) {
    *out = NULL;
    stb_src s = {.data = data, .len = len};
    stbi_io_callbacks io = {src_read, src_skip, src_eof};
    int c = 0;
    stb_cap = max_alloc;
    stb_over_cap = 0;
    void *p = grey16 ? (void *)stbi_load_16_from_callbacks(&io, &s, x, y, &c, 1)
                     : (void *)stbi_load_from_callbacks(&io, &s, x, y, &c, 3);
    stb_cap = 0;
    if (p && s.truncated) {
        free(p);
        p = NULL;
    }
    if (s.truncated)
        return rlv_errf(err, RLV_EIMAGE, "truncated %s: the pixel data ends before the %dx%d image does", format, *x, *y);
    if (stb_over_cap)
        return rlv_errf(err, RLV_EIMAGE, "%s data expands beyond the %zu bytes its header allows (decompression bomb)",
                        format, max_alloc);
    if (!p) return rlv_errf(err, RLV_EIMAGE, "%s decode failed: %s", format, stbi_failure_reason());
    *out = p;
    return RLV_OK;
}
