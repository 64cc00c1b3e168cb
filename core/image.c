/* image.c — header check, decode to RGB8, Pillow-exact bicubic resize, CLIP normalisation.
 *
 * Design notes:
 * (1) Nothing is decoded before image_probe() has accepted the header: the format is recognised
 *     from its magic bytes, JPEG and PNG are walked segment by segment (no pixel work) so a
 *     truncated file, a lossless or 12-bit JPEG, a JPEG with more than IMAGE_JPEG_MAX_SCANS scans,
 *     or a decompression bomb is refused with a named error before any decoder allocates anything.
 * (2) Conversion to RGB follows PIL's .convert('RGB') (docs/model.md §3 step 1). JPEG goes
 *     through libjpeg-turbo with Pillow's settings (image_jpeg.c): the same library Debian's Pillow
 *     links, so the bytes are Pillow's. The other formats go through stb_image, whose 8-bit output
 *     equals PIL's except for 16-bit grey PNG (PIL clamps I;16 to 255, stb takes the high byte),
 *     decoded here through stb's 16-bit path and clamped.
 * (3) The resize is Pillow 9.4's ImagingResample with the bicubic filter, transcribed rule for
 *     rule: double coefficients normalised per output pixel, rounded half away from zero to
 *     22-bit fixed point, horizontal pass first into a uint8 image holding only the rows the
 *     vertical pass reads. The expressions keep Pillow's operation order so the doubles round the
 *     same way (this file must not be compiled with FP contraction). */
#include "image.h"
#include "image_impl.h"
#include "rlaifv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image.h>

#define IMG_PREC 22 /* Pillow: PRECISION_BITS = 32 - 8 - 2 */

static void image_limits_default(image_limits *l) {
    l->max_side = RLV_DEFAULT_MAX_IMAGE_SIDE;
    l->max_pixels = RLV_DEFAULT_MAX_IMAGE_PIXELS;
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static unsigned be16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* ---- header check ---------------------------------------------------------------------- */

/* Walks JPEG markers up to EOI: frame header facts, and the scans' entropy-coded bytes are
 * skipped with memchr (only 0xFF matters). Truncation = the data ends before EOI. */
static int probe_jpeg(const uint8_t *d, size_t n, image_header *h, rlv_err *err) {
    size_t p = 2;
    int sof = 0, scans = 0;
    double passes = 0; /* sum over scans of its components / the frame's (IMAGE_JPEG_MAX_PASSES) */
    for (;;) {
        if (p >= n) return rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends at byte %zu before the end-of-image marker", n);
        if (d[p] != 0xFF) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: byte %zu is 0x%02x, expected a marker", p, d[p]);
        while (p < n && d[p] == 0xFF) p++; /* fill bytes */
        if (p >= n) return rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends at byte %zu inside a marker", n);
        unsigned m = d[p++];
        if (m == 0xD9) {
            if (!scans) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: end-of-image marker before any scan");
            break;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* TEM, RSTn: no length */
        if (m == 0xD8 || m == 0x00) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: unexpected marker 0xFF%02X at byte %zu", m, p - 2);
        if (p + 2 > n) return rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends at byte %zu inside a segment length", n);
        size_t L = be16(d + p);
        if (L < 2) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: segment 0xFF%02X at byte %zu has length %zu", m, p - 2, L);
        if (p + L > n) return rlv_errf(err, RLV_EIMAGE, "truncated JPEG: segment 0xFF%02X at byte %zu needs %zu bytes, %zu left", m, p - 2, L, n - p);
        const uint8_t *s = d + p + 2;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) { /* SOFn */
            if (sof) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: second frame header at byte %zu", p - 2);
            if (L < 8) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: frame header of %zu bytes", L);
            sof = (int)m;
            int prec = s[0], nc = s[5];
            h->height = (int)be16(s + 1);
            h->width = (int)be16(s + 3);
            h->channels = nc;
            h->bit_depth = prec;
            if (m == 0xC3 || m == 0xC7 || m == 0xCB || m == 0xCF)
                return rlv_errf(err, RLV_EUNSUPPORTED, "lossless JPEG (SOF%u) is not supported", m - 0xC0);
            if (m == 0xC5 || m == 0xC6 || m == 0xCD || m == 0xCE)
                return rlv_errf(err, RLV_EUNSUPPORTED, "hierarchical JPEG (SOF%u) is not supported", m - 0xC0);
            /* SOF9/SOF10 (arithmetic coding) are decoded: Debian's libjpeg-turbo, hence its Pillow, reads them */
            if (prec != 8) return rlv_errf(err, RLV_EUNSUPPORTED, "%d-bit JPEG is not supported (8-bit only, as Pillow)", prec);
            if (nc != 1 && nc != 3 && nc != 4) return rlv_errf(err, RLV_EUNSUPPORTED, "JPEG with %d components is not supported", nc);
            if (L < 8u + 3u * (unsigned)nc) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: frame header too short for %d components", nc);
            if (h->width == 0) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: width 0");
            if (h->height == 0) return rlv_errf(err, RLV_EUNSUPPORTED, "JPEG with its height in a DNL marker is not supported");
        }
        p += L;
        if (m == 0xDA) { /* SOS: entropy-coded data follows, up to the next real marker */
            if (!sof) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: scan before the frame header");
            if (++scans > IMAGE_JPEG_MAX_SCANS)
                return rlv_errf(err, RLV_EIMAGE, "JPEG with more than %d scans (scan %d starts at byte %zu)", IMAGE_JPEG_MAX_SCANS, scans, p - L - 2);
            if (L < 3) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: scan header of %zu bytes", L);
            passes += (double)s[0] / h->channels;
            for (;;) {
                const uint8_t *q = p < n ? memchr(d + p, 0xFF, n - p) : NULL;
                if (!q || (size_t)(q - d) + 1 >= n)
                    return rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends at byte %zu inside scan %d (no end-of-image marker)", n, scans);
                p = (size_t)(q - d);
                unsigned nx = d[p + 1];
                if (nx == 0x00 || (nx >= 0xD0 && nx <= 0xD7)) { p += 2; continue; } /* stuffed byte, RSTn */
                if (nx == 0xFF) { p += 1; continue; }
                break; /* a marker: the outer loop reads it */
            }
        }
    }
    if (!sof) return rlv_errf(err, RLV_EIMAGE, "malformed JPEG: no frame header");
    h->format = "JPEG";
    h->passes = passes;
    return RLV_OK;
}

/* Walks PNG chunks up to IEND (lengths only, no CRC or inflate). */
static int probe_png(const uint8_t *d, size_t n, image_header *h, rlv_err *err) {
    size_t p = 8;
    int idat = 0, first = 1;
    for (;;) {
        if (p + 8 > n) return rlv_errf(err, RLV_EIMAGE, "truncated PNG: data ends at byte %zu before the IEND chunk", n);
        uint32_t L = be32(d + p);
        const uint8_t *t = d + p + 4;
        if (L > 0x7fffffffu) return rlv_errf(err, RLV_EIMAGE, "malformed PNG: chunk length %u at byte %zu", L, p);
        if ((size_t)L + 12 > n - p)
            return rlv_errf(err, RLV_EIMAGE, "truncated PNG: chunk '%.4s' at byte %zu needs %u bytes, %zu left", (const char *)t, p, L + 12, n - p);
        if (first) {
            if (memcmp(t, "IHDR", 4) || L != 13) return rlv_errf(err, RLV_EIMAGE, "malformed PNG: first chunk is not a 13-byte IHDR");
            const uint8_t *s = t + 4;
            uint32_t w = be32(s), hh = be32(s + 4);
            int bd = s[8], ct = s[9];
            if (w == 0 || hh == 0 || w > 0x7fffffffu || hh > 0x7fffffffu)
                return rlv_errf(err, RLV_EIMAGE, "malformed PNG: dimensions %ux%u", w, hh);
            static const int chans[7] = {1, 0, 3, 1, 2, 0, 4};
            int ok_bd = (ct == 0 && (bd == 1 || bd == 2 || bd == 4 || bd == 8 || bd == 16)) ||
                        (ct == 3 && (bd == 1 || bd == 2 || bd == 4 || bd == 8)) ||
                        ((ct == 2 || ct == 4 || ct == 6) && (bd == 8 || bd == 16));
            if (!ok_bd) return rlv_errf(err, RLV_EIMAGE, "malformed PNG: colour type %d with bit depth %d", ct, bd);
            if (s[10] != 0 || s[11] != 0 || s[12] > 1)
                return rlv_errf(err, RLV_EIMAGE, "malformed PNG: compression %d, filter %d, interlace %d", s[10], s[11], s[12]);
            h->width = (int)(w > 0x7fffffffu ? 0x7fffffff : w);
            h->height = (int)(hh > 0x7fffffffu ? 0x7fffffff : hh);
            h->channels = ct == 3 ? 3 : chans[ct];
            h->bit_depth = bd == 16 ? 16 : 8;
            first = 0;
        } else if (!memcmp(t, "IDAT", 4)) {
            idat++;
        } else if (!memcmp(t, "IEND", 4)) {
            break;
        }
        p += (size_t)L + 12;
    }
    if (!idat) return rlv_errf(err, RLV_EIMAGE, "malformed PNG: no IDAT chunk");
    h->format = "PNG";
    return RLV_OK;
}

/* Formats recognised by their magic that stb_image (or PIL's default build) cannot read. */
static const char *unsupported_format(const uint8_t *d, size_t n) {
    if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "WebP";
    if (n >= 4 && (!memcmp(d, "II*\0", 4) || !memcmp(d, "MM\0*", 4))) return "TIFF";
    if (n >= 12 && !memcmp(d + 4, "ftyp", 4)) {
        if (!memcmp(d + 8, "avif", 4) || !memcmp(d + 8, "avis", 4)) return "AVIF";
        if (!memcmp(d + 8, "hei", 3) || !memcmp(d + 8, "hev", 3) || !memcmp(d + 8, "mif1", 4) || !memcmp(d + 8, "msf1", 4))
            return "HEIF";
        if (!memcmp(d + 8, "jp2 ", 4)) return "JPEG 2000";
        return "ISO media (ftyp)";
    }
    if (n >= 12 && !memcmp(d, "\0\0\0\x0cjP  \r\n\x87\n", 12)) return "JPEG 2000";
    if (n >= 4 && !memcmp(d, "\xff\x4f\xff\x51", 4)) return "JPEG 2000 codestream";
    if (n >= 2 && !memcmp(d, "\xff\x0a", 2)) return "JPEG XL";
    if (n >= 12 && !memcmp(d, "\0\0\0\x0cJXL \r\n\x87\n", 12)) return "JPEG XL";
    if (n >= 4 && !memcmp(d, "\0\0\1\0", 4)) return "ICO";
    if (n >= 2 && !memcmp(d, "#?", 2)) return "Radiance HDR";
    if (n >= 4 && !memcmp(d, "\x53\x80\xf6\x34", 4)) return "Softimage PIC";
    if (n >= 4 && !memcmp(d, "qoif", 4)) return "QOI";
    if (n >= 4 && !memcmp(d, "DDS ", 4)) return "DDS";
    if (n >= 4 && !memcmp(d, "%PDF", 4)) return "PDF";
    if (n >= 5 && (!memcmp(d, "<?xml", 5) || !memcmp(d, "<svg", 4))) return "SVG/XML";
    if (n >= 2 && d[0] == 'P' && (d[1] == '1' || d[1] == '2' || d[1] == '3' || d[1] == '4' || d[1] == '7'))
        return "PNM (ASCII, bitmap or PAM variant)";
    return NULL;
}

/* P5/P6 header: three decimal fields after the magic, '#' comments allowed, and the one whitespace
 * byte that ends the header (without it the maxval itself may be cut). Returns maxval or -1. */
static int pnm_maxval(const uint8_t *d, size_t n) {
    size_t p = 2;
    long v = 0;
    for (int field = 0; field < 3; field++) {
        for (;;) {
            while (p < n && (d[p] == ' ' || d[p] == '\t' || d[p] == '\r' || d[p] == '\n')) p++;
            if (p < n && d[p] == '#') { while (p < n && d[p] != '\n') p++; continue; }
            break;
        }
        if (p >= n || d[p] < '0' || d[p] > '9') return -1;
        v = 0;
        while (p < n && d[p] >= '0' && d[p] <= '9' && v < 1000000) v = v * 10 + (d[p++] - '0');
    }
    return p < n ? (int)v : -1;
}

int image_probe(const uint8_t *data, size_t len, const image_limits *lim, image_header *hdr, rlv_err *err) {
    image_limits dl;
    if (!lim) { image_limits_default(&dl); lim = &dl; }
    memset(hdr, 0, sizeof *hdr);
    hdr->bit_depth = 8;
    hdr->passes = 1;
    if (!data || len == 0) return rlv_errf(err, RLV_EIMAGE, "empty image (0 bytes)");
    int rc;
    if (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) {
        rc = probe_jpeg(data, len, hdr, err);
    } else if (len >= 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
        rc = probe_png(data, len, hdr, err);
    } else if (len >= 2 && data[0] == 0xFF && data[1] == 0xD8) {
        return rlv_errf(err, RLV_EIMAGE, "truncated JPEG: %zu bytes", len);
    } else if (len < 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", len)) {
        return rlv_errf(err, RLV_EIMAGE, "truncated PNG: %zu bytes", len);
    } else {
        const char *u = unsupported_format(data, len);
        if (u) return rlv_errf(err, RLV_EUNSUPPORTED, "%s images are not supported", u);
        if (len >= 6 && (!memcmp(data, "GIF87a", 6) || !memcmp(data, "GIF89a", 6))) {
            if (len < 13) return rlv_errf(err, RLV_EIMAGE, "truncated GIF: %zu bytes", len);
            hdr->format = "GIF";
        } else if (len >= 2 && data[0] == 'B' && data[1] == 'M') {
            hdr->format = "BMP";
        } else if (len >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6')) {
            int mv = pnm_maxval(data, len);
            if (mv < 0) return rlv_errf(err, RLV_EIMAGE, "malformed PNM header");
            if (mv != 255) return rlv_errf(err, RLV_EUNSUPPORTED, "PNM with maxval %d is not supported (255 only)", mv);
            hdr->format = "PNM";
        } else if (len >= 4 && !memcmp(data, "8BPS", 4)) {
            hdr->format = "PSD";
        } else {
            hdr->format = "TGA"; /* stb's last guess: TGA has no magic */
        }
        int w = 0, h = 0, c = 0;
        if (len > 0x7fffffff || !stbi_info_from_memory(data, (int)len, &w, &h, &c)) {
            if (!strcmp(hdr->format, "TGA"))
                return rlv_errf(err, RLV_EIMAGE, "unrecognised image format (first bytes %02x %02x %02x %02x)",
                                data[0], len > 1 ? data[1] : 0, len > 2 ? data[2] : 0, len > 3 ? data[3] : 0);
            return rlv_errf(err, RLV_EIMAGE, "malformed %s header: %s", hdr->format, stbi_failure_reason());
        }
        hdr->width = w;
        hdr->height = h;
        hdr->channels = c;
        rc = RLV_OK;
    }
    if (rc != RLV_OK) return rc;
    if (hdr->width <= 0 || hdr->height <= 0)
        return rlv_errf(err, RLV_EIMAGE, "%s image with dimensions %dx%d", hdr->format, hdr->width, hdr->height);
    if (hdr->width > lim->max_side || hdr->height > lim->max_side ||
        (int64_t)hdr->width * hdr->height > lim->max_pixels)
        return rlv_errf(err, RLV_ELIMIT, "%s image %dx%d exceeds the limits (side <= %d, pixels <= %lld)",
                        hdr->format, hdr->width, hdr->height, lim->max_side, (long long)lim->max_pixels);
    if (hdr->passes * hdr->width * hdr->height > (double)IMAGE_JPEG_MAX_PASSES * lim->max_pixels)
        return rlv_errf(err, RLV_ELIMIT, "%s image %dx%d: its scans cost %.1f passes over the image, more than %d passes over "
                        "the largest allowed (%lld pixels)", hdr->format, hdr->width, hdr->height, hdr->passes,
                        IMAGE_JPEG_MAX_PASSES, (long long)lim->max_pixels);
    return RLV_OK;
}

/* ---- decode ------------------------------------------------------------------------------ */

int image_decode(const uint8_t *data, size_t len, const image_limits *lim,
                 uint8_t **rgb, int *w, int *h, rlv_err *err) {
    *rgb = NULL;
    image_header hd;
    int rc = image_probe(data, len, lim, &hd, err);
    if (rc != RLV_OK) return rc;
    if (len > 0x7fffffff) return rlv_errf(err, RLV_ELIMIT, "image of %zu bytes", len);
    int x = 0, y = 0;
    uint8_t *out;
    if (!strcmp(hd.format, "JPEG")) {
        rc = image_jpeg_decode(data, len, hd.width, hd.height, IMAGE_JPEG_MAX_SCANS, &out, err);
        if (rc != RLV_OK) return rc;
        x = hd.width;
        y = hd.height;
    } else {
        /* PIL reads 16-bit grey PNG as I;16 and .convert('RGB') clamps it (not >> 8). */
        int grey16 = !strcmp(hd.format, "PNG") && hd.bit_depth == 16 && hd.channels == 1;
        /* stb's largest buffers: the inflated PNG rows (at most 8 bytes per pixel plus a filter
         * byte per row, doubled once when interlaced rows overflow its first guess), GIF's
         * three w*h*4 planes, the 16-bit RGBA result; and 1 MiB for its fixed tables. */
        size_t px = (size_t)hd.width * hd.height;
        size_t cap = 2 * (8 * px + (size_t)hd.height) + (1u << 20);
        void *p = NULL;
        rc = image_stb_decode(data, len, hd.format, grey16, cap, &p, &x, &y, err);
        if (rc != RLV_OK) return rc;
        if (x != hd.width || y != hd.height) {
            free(p);
            return rlv_errf(err, RLV_EIMAGE, "%s decoded to %dx%d, header says %dx%d", hd.format, x, y, hd.width, hd.height);
        }
        out = p;
        if (grey16) {
            const uint16_t *g = p;
            out = malloc(px * 3);
            if (out)
                for (size_t i = 0; i < px; i++) {
                    uint8_t v = g[i] > 255 ? 255 : (uint8_t)g[i];
                    out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = v;
                }
            free(p);
            if (!out) return rlv_errf(err, RLV_ENOMEM, "PNG %dx%d: out of memory", x, y);
        }
    }
    *rgb = out;
    *w = x;
    *h = y;
    return RLV_OK;
}

/* All allocations above (stb's, image_jpeg's and ours) come from malloc: stbi_image_free is free(). */
void image_pixels_free(uint8_t **rgb) {
    if (!rgb) return;
    free(*rgb);
    *rgb = NULL;
}

/* ---- resize ------------------------------------------------------------------------------ */

struct image_ws {
    int max_in, max_out;
    size_t cap_k;        /* int32 coefficients per axis */
    int32_t *kh, *kv;    /* [out][ksize] fixed-point taps */
    int *bh, *bv;        /* [out][2]: first tap, tap count */
    double *pre;         /* [ksize] one output pixel's double taps */
    uint8_t *mid;        /* [rows <= max_in][max_out][3] after the horizontal pass */
    uint8_t *rgb;        /* [max_out][max_out][3] for image_to_pixels */
};

void image_ws_free(image_ws **ws) {
    if (!ws || !*ws) return;
    image_ws *w = *ws;
    free(w->kh); free(w->kv); free(w->bh); free(w->bv); free(w->pre); free(w->mid); free(w->rgb);
    free(w);
    *ws = NULL;
}

int image_ws_init(image_ws **out, int max_in_side, int max_out_side, rlv_err *err) {
    *out = NULL;
    if (max_in_side < 1 || max_out_side < 1 || max_in_side > (1 << 20) || max_out_side > (1 << 16))
        return rlv_errf(err, RLV_EINVAL, "image workspace: sides %d -> %d", max_in_side, max_out_side);
    image_ws *w = calloc(1, sizeof *w);
    if (!w) return rlv_errf(err, RLV_ENOMEM, "image workspace");
    w->max_in = max_in_side;
    w->max_out = max_out_side;
    /* out * (ceil(2 * in/out) * 2 + 1) <= 4 in + 3 out; upscaling: 5 out */
    w->cap_k = 4 * (size_t)max_in_side + 5 * (size_t)max_out_side + 8;
    w->kh = malloc(w->cap_k * sizeof *w->kh);
    w->kv = malloc(w->cap_k * sizeof *w->kv);
    w->bh = malloc(2 * (size_t)max_out_side * sizeof *w->bh);
    w->bv = malloc(2 * (size_t)max_out_side * sizeof *w->bv);
    w->pre = malloc((4 * (size_t)max_in_side + 8) * sizeof *w->pre);
    w->mid = malloc((size_t)max_in_side * max_out_side * 3);
    w->rgb = malloc((size_t)max_out_side * max_out_side * 3);
    if (!w->kh || !w->kv || !w->bh || !w->bv || !w->pre || !w->mid || !w->rgb) {
        image_ws_free(&w);
        return rlv_errf(err, RLV_ENOMEM, "image workspace for %d -> %d px", max_in_side, max_out_side);
    }
    *out = w;
    return RLV_OK;
}

/* Pillow's bicubic_filter (a = -0.5), same operation order. */
static double bicubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for box (0, in): returns ksize. */
static int coeffs(double *pre, int in, int out, int32_t *kk, int *bounds) {
    double scale = (double)in / out, filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    double support = 2.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    double ss = 1.0 / filterscale;
    for (int xx = 0; xx < out; xx++) {
        double center = 0.0 + (xx + 0.5) * scale, ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in) xmax = in;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            double w = bicubic((x + xmin - center + 0.5) * ss);
            pre[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) pre[x] /= ww;
        int32_t *k = kk + (size_t)xx * ksize;
        for (x = 0; x < xmax; x++)
            k[x] = pre[x] < 0 ? (int32_t)(-0.5 + pre[x] * (1 << IMG_PREC)) : (int32_t)(0.5 + pre[x] * (1 << IMG_PREC));
        for (; x < ksize; x++) k[x] = 0;
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    return ksize;
}

static inline uint8_t clip8(int32_t v) {
    v >>= IMG_PREC; /* arithmetic shift, as Pillow's clip8 lookup index */
    return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)v;
}

int image_resize(image_ws *ws, const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh, rlv_err *err) {
    if (sw < 1 || sh < 1 || dw < 1 || dh < 1 || sw > ws->max_in || sh > ws->max_in || dw > ws->max_out || dh > ws->max_out)
        return rlv_errf(err, RLV_EINVAL, "resize %dx%d -> %dx%d outside the workspace (in <= %d, out <= %d)",
                        sw, sh, dw, dh, ws->max_in, ws->max_out);
    int need_h = dw != sw, need_v = dh != sh;
    if (!need_h && !need_v) {
        memcpy(dst, src, (size_t)sw * sh * 3);
        return RLV_OK;
    }
    int kh = coeffs(ws->pre, sw, dw, ws->kh, ws->bh);
    int kv = coeffs(ws->pre, sh, dh, ws->kv, ws->bv);
    RLV_ASSERT((size_t)kh * dw <= ws->cap_k && (size_t)kv * dh <= ws->cap_k);
    const uint8_t *in = src;
    int in_w = sw;
    int ybox_first = ws->bv[0], ybox_last = ws->bv[2 * dh - 2] + ws->bv[2 * dh - 1];
    if (need_h) {
        uint8_t *out = need_v ? ws->mid : dst;
        int rows = need_v ? ybox_last - ybox_first : dh;
        int off = need_v ? ybox_first : 0;
        if (need_v)
            for (int i = 0; i < dh; i++) ws->bv[2 * i] -= ybox_first;
        for (int yy = 0; yy < rows; yy++) {
            const uint8_t *row = src + (size_t)(yy + off) * sw * 3;
            uint8_t *o = out + (size_t)yy * dw * 3;
            for (int xx = 0; xx < dw; xx++) {
                int xmin = ws->bh[2 * xx], xmax = ws->bh[2 * xx + 1];
                const int32_t *k = ws->kh + (size_t)xx * kh;
                int32_t s0 = 1 << (IMG_PREC - 1), s1 = s0, s2 = s0;
                const uint8_t *p = row + (size_t)xmin * 3;
                for (int x = 0; x < xmax; x++) {
                    s0 += p[3 * x] * k[x];
                    s1 += p[3 * x + 1] * k[x];
                    s2 += p[3 * x + 2] * k[x];
                }
                o[3 * xx] = clip8(s0);
                o[3 * xx + 1] = clip8(s1);
                o[3 * xx + 2] = clip8(s2);
            }
        }
        if (!need_v) return RLV_OK;
        in = ws->mid;
        in_w = dw;
    }
    size_t stride = (size_t)in_w * 3;
    for (int yy = 0; yy < dh; yy++) {
        int ymin = ws->bv[2 * yy], ymax = ws->bv[2 * yy + 1];
        const int32_t *k = ws->kv + (size_t)yy * kv;
        uint8_t *o = dst + (size_t)yy * in_w * 3;
        for (size_t xx = 0; xx < stride; xx++) {
            int32_t s = 1 << (IMG_PREC - 1);
            const uint8_t *p = in + (size_t)ymin * stride + xx;
            for (int y = 0; y < ymax; y++) s += p[(size_t)y * stride] * k[y];
            o[xx] = clip8(s);
        }
    }
    return RLV_OK;
}

/* ---- normalise ---------------------------------------------------------------------------- */

void image_normalize(const uint8_t *rgb, int w, int h, float *chw) {
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float stdv[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    size_t hw = (size_t)w * h;
    for (int c = 0; c < 3; c++) {
        float *o = chw + c * hw;
        for (size_t i = 0; i < hw; i++) {
            float v = (float)rgb[3 * i + c] / 255.0f; /* ToTensor: float32 division */
            o[i] = (v - mean[c]) / stdv[c];
        }
    }
}

int image_to_pixels(image_ws *ws, const uint8_t *data, size_t len, const image_limits *lim,
                    int side, float *chw, uint8_t *rgb_out, rlv_err *err) {
    if (side < 1 || side > ws->max_out) return rlv_errf(err, RLV_EINVAL, "image side %d > workspace %d", side, ws->max_out);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    int rc = image_decode(data, len, lim, &rgb, &w, &h, err);
    if (rc != RLV_OK) return rc;
    rc = image_resize(ws, rgb, w, h, ws->rgb, side, side, err);
    image_pixels_free(&rgb);
    if (rc != RLV_OK) return rc;
    image_normalize(ws->rgb, side, side, chw);
    if (rgb_out) memcpy(rgb_out, ws->rgb, (size_t)side * side * 3);
    return RLV_OK;
}
