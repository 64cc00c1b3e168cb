/* test_image.c — the image path against Pillow (tests/reference/ref_image.py writes the cases):
 * resize bytes identical to Pillow's on real photos and generated shapes, every decode (PNG, BMP,
 * GIF, PNM, and JPEG of every kind: counted) identical to PIL's .convert('RGB'), the normalised
 * tensor identical to torchvision's, and one named error per bad image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <malloc.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#include <cmocka.h>

#include "test_util.h"
#include "clock.h"
#include "image.h"
#include "prefix.h"
#include "image_impl.h"

#define DATA RLV_TEST_DATA "/image"
#define CORPUS RLV_SOURCE_DIR "/tests/fuzz/corpus/image"

static int32_t rd32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

static void test_resize_matches_pillow(void **s) {
    (void)s;
    FILE *lst = fopen(DATA "/resize.txt", "r");
    assert_non_null(lst);
    image_ws *ws = NULL;
    rlv_err e = {0};
    assert_int_equal(image_ws_init(&ws, 4000, 1001, &e), RLV_OK);
    char name[256];
    int cases = 0, photos = 0;
    while (fscanf(lst, "%255s", name) == 1) {
        char path[512];
        snprintf(path, sizeof path, DATA "/resize_%s.bin", name);
        size_t n;
        uint8_t *b = slurp(path, &n);
        assert_non_null(b);
        int sw = rd32(b), sh = rd32(b + 4), dw = rd32(b + 8), dh = rd32(b + 12);
        size_t in = (size_t)sw * sh * 3, out = (size_t)dw * dh * 3;
        assert_int_equal(n, 16 + in + out);
        uint8_t *got = malloc(out);
        assert_int_equal(image_resize(ws, b + 16, sw, sh, got, dw, dh, &e), RLV_OK);
        size_t diff = 0;
        for (size_t i = 0; i < out; i++) diff += got[i] != b[16 + in + i];
        if (diff) print_message("resize %s (%dx%d -> %dx%d): %zu bytes differ\n", name, sw, sh, dw, dh, diff);
        assert_int_equal(diff, 0);
        photos += prefix_skip(name, "photo_") != NULL;
        cases++;
        free(got);
        free(b);
    }
    fclose(lst);
    print_message("resize: %d cases (%d from real photos) byte-identical to Pillow\n", cases, photos);
    /* tests/data/images holds 7 photos: each at 448 x 448, two of them in 3 more sizes */
    assert_true(photos >= 13);
    assert_true(cases >= 175 + 13);
    /* outside the workspace: a value, not an overflow */
    uint8_t px[3] = {1, 2, 3}, o[3];
    assert_int_equal(image_resize(ws, px, 4001, 1, o, 1, 1, &e), RLV_EINVAL);
    assert_int_equal(image_resize(ws, px, 1, 1, o, 1002, 1, &e), RLV_EINVAL);
    image_ws_free(&ws);
    assert_null(ws);
}

/* JPEG decode cases by kind (ref_image.py write_jpeg_cases): a case that goes missing fails. */
static const struct { const char *prefix; int want; } jpeg_kinds[] = {
    {"jpeg_odd_", 50},         /* 10 odd sizes x 4:2:0, 4:2:2, 4:4:4, progressive 4:2:0, grey */
    {"jpeg_cjpeg_", 15},       /* 4:4:0, 4:1:1, mixed sampling, restart markers, arithmetic, Adobe RGB */
    {"jpeg_corrupt", 12},      /* corrupt entropy data: libjpeg warns, Pillow decodes */
    {"jpeg_ycck", 2},          /* Adobe transform 2, baseline + progressive */
    {"jpeg_cmyk_noadobe", 2},  /* 4 components without an Adobe marker */
    {"jpeg_", 16},             /* Pillow-written: 2 x (3 subsamplings, grey, CMYK, noise q100), q5,
                                  optimize, EXIF, 500 scans */
    {"photo_", 7},             /* tests/data/images */
};
enum { N_JPEG_KINDS = sizeof jpeg_kinds / sizeof *jpeg_kinds };

static void test_decode_matches_pil(void **s) {
    (void)s;
    FILE *lst = fopen(DATA "/decode.txt", "r");
    assert_non_null(lst);
    rlv_err e = {0};
    char name[200], ext[16];
    int cases = 0, jpeg_cases = 0, kinds[N_JPEG_KINDS] = {0};
    while (fscanf(lst, "%199s %15s", name, ext) == 2) {
        int exact;
        assert_int_equal(fscanf(lst, "%d", &exact), 1);
        assert_int_equal(exact, 1); /* every format, JPEG included, is decoded as PIL does */
        char path[512];
        size_t n, m;
        snprintf(path, sizeof path, DATA "/dec_%s.%s", name, ext);
        uint8_t *enc = slurp(path, &n);
        snprintf(path, sizeof path, DATA "/dec_%s.rgb", name);
        uint8_t *exp = slurp(path, &m);
        assert_non_null(enc);
        assert_non_null(exp);
        uint8_t *rgb = NULL;
        int w = 0, h = 0;
        int rc = image_decode(enc, n, NULL, &rgb, &w, &h, &e);
        if (rc != RLV_OK) print_message("%s: %s\n", name, e.msg);
        assert_int_equal(rc, RLV_OK);
        assert_int_equal(w, rd32(exp));
        assert_int_equal(h, rd32(exp + 4));
        size_t np = (size_t)w * h * 3;
        assert_int_equal(m, 8 + np);
        size_t diff = 0;
        int maxd = 0;
        for (size_t i = 0; i < np; i++) {
            int d = abs((int)rgb[i] - (int)exp[8 + i]);
            diff += d != 0;
            maxd = d > maxd ? d : maxd;
        }
        if (diff) print_message("decode %s (%dx%d): %zu bytes differ, max %d\n", name, w, h, diff, maxd);
        assert_int_equal(diff, 0);
        cases++;
        if (!strcmp(ext, "jpg")) {
            int k = 0;
            while (k < N_JPEG_KINDS && strncmp(name, jpeg_kinds[k].prefix, strlen(jpeg_kinds[k].prefix))) k++;
            if (k == N_JPEG_KINDS) print_message("JPEG case %s of no known kind\n", name);
            assert_true(k < N_JPEG_KINDS);
            kinds[k]++;
            jpeg_cases++;
        }
        image_pixels_free(&rgb);
        assert_null(rgb);
        free(enc);
        free(exp);
    }
    fclose(lst);
    print_message("decode: %d files byte-identical to PIL's .convert('RGB'), %d of them JPEG:\n", cases, jpeg_cases);
    for (int k = 0; k < N_JPEG_KINDS; k++) {
        print_message("  %-18s %3d (expected %d)\n", jpeg_kinds[k].prefix, kinds[k], jpeg_kinds[k].want);
        assert_int_equal(kinds[k], jpeg_kinds[k].want);
    }
    assert_int_equal(cases - jpeg_cases, 15); /* PNG x 11, BMP, GIF, PPM, PGM */
}

/* The JPEGs Pillow refuses (ref_image.py checked) and the one we refuse by policy (scan limit). */
static void test_jpeg_refusals(void **s) {
    (void)s;
    FILE *lst = fopen(DATA "/refuse.txt", "r");
    assert_non_null(lst);
    char name[200], code[64], needle[128];
    int cases = 0;
    while (fscanf(lst, "%199s %63s %127[^\n]", name, code, needle) == 3) {
        char path[512];
        size_t n;
        snprintf(path, sizeof path, DATA "/bad_%s.jpg", name);
        uint8_t *b = slurp(path, &n);
        assert_non_null(b);
        uint8_t *rgb = NULL;
        int w, h;
        rlv_err e = {0};
        int rc = image_decode(b, n, NULL, &rgb, &w, &h, &e);
        print_message("%-12s -> %s: %s\n", name, rlv_err_name(rc), rc ? e.msg : "");
        assert_string_equal(rlv_err_name(rc), code);
        assert_non_null(strstr(e.msg, needle));
        assert_null(rgb);
        free(b);
        cases++;
    }
    fclose(lst);
    assert_int_equal(cases, 8); /* 501 scans, 12-bit, SOF3/5/11, cut in half, no EOI, bad Huffman table */
}

/* The progress monitor: libjpeg's own scan count, behind the probe's (which trips first on a
 * file, so it is reached here through the decoder with a lower limit). */
static void test_jpeg_scan_monitor(void **s) {
    (void)s;
    size_t n;
    uint8_t *b = slurp(DATA "/dec_jpeg_prog_420.jpg", &n);
    assert_non_null(b);
    image_header hd;
    rlv_err e = {0};
    assert_int_equal(image_probe(b, n, NULL, &hd, &e), RLV_OK);
    uint8_t *rgb = NULL;
    assert_int_equal(image_jpeg_decode(b, n, hd.width, hd.height, 3, &rgb, &e), RLV_EIMAGE);
    assert_non_null(strstr(e.msg, "more than 3 scans (libjpeg reached scan 4)"));
    assert_null(rgb);
    assert_int_equal(image_jpeg_decode(b, n, hd.width, hd.height, IMAGE_JPEG_MAX_SCANS, &rgb, &e), RLV_OK);
    image_pixels_free(&rgb);
    /* a frame size other than the probe's: refused, not decoded into a wrong-sized buffer */
    assert_int_equal(image_jpeg_decode(b, n, hd.width + 1, hd.height, IMAGE_JPEG_MAX_SCANS, &rgb, &e), RLV_EIMAGE);
    assert_null(rgb);
    free(b);
}

static void test_pixels_match_torchvision(void **s) {
    (void)s;
    size_t n, m;
    uint8_t *png = slurp(DATA "/pixels_png.png", &n);
    float *exp = (float *)slurp(DATA "/pixels_png.f32", &m);
    assert_non_null(png);
    assert_non_null(exp);
    assert_int_equal(m, 3 * 448 * 448 * sizeof(float));
    image_ws *ws = NULL;
    rlv_err e = {0};
    assert_int_equal(image_ws_init(&ws, 8192, 448, &e), RLV_OK);
    float *px = malloc(m);
    assert_int_equal(image_to_pixels(ws, png, n, NULL, 448, px, NULL, &e), RLV_OK);
    size_t bad = 0;
    for (size_t i = 0; i < 3 * 448 * 448; i++) bad += px[i] != exp[i];
    assert_int_equal(bad, 0);
    free(px);
    free(png);
    free(exp);
    image_ws_free(&ws);
}

/* Every bad file of the seed corpus gets its named error; the good ones decode. */
static void expect(const char *file, int code, const char *needle, int w, int h) {
    char path[512];
    size_t n;
    snprintf(path, sizeof path, CORPUS "/%s", file);
    uint8_t *b = slurp(path, &n);
    assert_non_null(b);
    rlv_err e = {0};
    uint8_t *rgb = NULL;
    int gw = 0, gh = 0;
    int rc = image_decode(b, n, NULL, &rgb, &gw, &gh, &e);
    print_message("%-12s -> %s%s%s\n", file, rlv_err_name(rc), rc ? ": " : "", rc ? e.msg : "");
    assert_int_equal(rc, code);
    if (needle) assert_non_null(strstr(e.msg, needle));
    if (code == RLV_OK) {
        assert_int_equal(gw, w);
        assert_int_equal(gh, h);
    } else {
        assert_null(rgb);
    }
    image_pixels_free(&rgb);
    free(b);
}

static void test_named_errors(void **s) {
    (void)s;
    expect("empty.bin", RLV_EIMAGE, "empty", 0, 0);
    expect("trunc.jpg", RLV_EIMAGE, "truncated JPEG", 0, 0);
    expect("trunc.png", RLV_EIMAGE, "truncated PNG", 0, 0);
    expect("bomb.jpg", RLV_ELIMIT, "60000x60000", 0, 0);
    expect("bomb.png", RLV_ELIMIT, "100000x100000", 0, 0);
    expect("header.webp", RLV_EUNSUPPORTED, "WebP", 0, 0);
    expect("cmyk.jpg", RLV_OK, NULL, 8, 8); /* Pillow-written CMYK (Adobe marker): decoded since issue 14 */
    expect("ok_rgb.png", RLV_OK, NULL, 16, 16);
    expect("ok_p.png", RLV_OK, NULL, 16, 16);
    expect("ok_l16.png", RLV_OK, NULL, 5, 6);
    expect("ok_base.jpg", RLV_OK, NULL, 16, 16);
    expect("ok_prog.jpg", RLV_OK, NULL, 16, 16);
    expect("ok_grey.jpg", RLV_OK, NULL, 16, 16);
    expect("ok.gif", RLV_OK, NULL, 16, 16);
    expect("ok.bmp", RLV_OK, NULL, 6, 5);
    expect("ok.ppm", RLV_OK, NULL, 6, 5);
    /* other recognised formats by magic alone */
    static const struct { const char *bytes; size_t n; const char *needle; } magic[] = {
        {"II*\0\x08\0\0\0", 8, "TIFF"},
        {"\0\0\0\x18" "ftypavif\0\0\0\0", 16, "AVIF"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0", 16, "HEIF"},
        {"#?RADIANCE\n", 11, "HDR"},
        {"P1\n2 2\n0 1 1 0\n", 15, "PNM"},
    };
    for (size_t i = 0; i < sizeof magic / sizeof *magic; i++) {
        image_header hd;
        rlv_err e = {0};
        assert_int_equal(image_probe((const uint8_t *)magic[i].bytes, magic[i].n, NULL, &hd, &e), RLV_EUNSUPPORTED);
        assert_non_null(strstr(e.msg, magic[i].needle));
    }
    image_header hd;
    rlv_err e = {0};
    assert_int_equal(image_probe((const uint8_t *)"hello world", 11, NULL, &hd, &e), RLV_EIMAGE);
}

static void test_limits(void **s) {
    (void)s;
    size_t n;
    uint8_t *b = slurp(CORPUS "/ok_rgb.png", &n);
    assert_non_null(b);
    image_header hd;
    rlv_err e = {0};
    image_limits lim = {16, 256};
    assert_int_equal(image_probe(b, n, &lim, &hd, &e), RLV_OK);
    assert_int_equal(hd.width, 16);
    assert_string_equal(hd.format, "PNG");
    lim.max_side = 15;
    assert_int_equal(image_probe(b, n, &lim, &hd, &e), RLV_ELIMIT);
    lim.max_side = 16;
    lim.max_pixels = 255;
    assert_int_equal(image_probe(b, n, &lim, &hd, &e), RLV_ELIMIT);
    free(b);
}

/* Decodes with glibc filling every new allocation with a pattern (M_PERTURB): a decoder that
 * reports pixels it never wrote gives different bytes for two patterns. Returns the rc; *rgb is
 * set on RLV_OK. */
static int decode_perturbed(const uint8_t *b, size_t n, int pattern, uint8_t **rgb, int *w, int *h, rlv_err *e) {
    mallopt(M_PERTURB, pattern);
    int rc = image_decode(b, n, NULL, rgb, w, h, e);
    mallopt(M_PERTURB, 0);
    return rc;
}

/* Every proper prefix of an image of every format is refused bad_image, never decoded from bytes
 * that are not there (issue 18: truncated TGA/BMP/PPM/PSD/GIF were scored from uninitialised or
 * zero-filled pixels); the whole files decode the same under two allocation patterns. */
static void test_every_prefix_refused(void **s) {
    (void)s;
    /* keep: trailing bytes that no decoder (Pillow's included) needs for the pixels */
    static const struct { const char *file; size_t keep; } files[] = {
        {"ok_base.jpg", 0}, {"ok_prog.jpg", 0}, {"ok_grey.jpg", 0}, {"ok_rgb.png", 0}, {"ok_p.png", 0},
        {"ok_l16.png", 0}, {"ok.bmp", 0}, {"ok.ppm", 0}, {"ok.psd", 0},
        {"ok.tga", 26}, {"ok_rle.tga", 26}, /* the optional TGA 2.0 footer Pillow writes */
        {"ok.gif", 2}, /* the image's 0-length block terminator and the 0x3B trailer */
    };
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char path[512];
        size_t n;
        snprintf(path, sizeof path, CORPUS "/%s", files[f].file);
        uint8_t *b = slurp(path, &n);
        assert_non_null(b);
        uint8_t *a = NULL, *c = NULL;
        int w, h, w2, h2;
        rlv_err e = {0};
        assert_int_equal(decode_perturbed(b, n, 0x55, &a, &w, &h, &e), RLV_OK);
        assert_int_equal(decode_perturbed(b, n, 0xaa, &c, &w2, &h2, &e), RLV_OK);
        assert_memory_equal(a, c, (size_t)w * h * 3);
        image_pixels_free(&a);
        image_pixels_free(&c);
        for (size_t len = 0; len + files[f].keep < n; len++) {
            uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
            memcpy(cut, b, len);
            uint8_t *rgb = NULL;
            int rc = decode_perturbed(cut, len, 0x55, &rgb, &w, &h, &e);
            if (rc != RLV_EIMAGE) print_message("%s cut to %zu of %zu bytes: %s\n", files[f].file, len, n, rlv_err_name(rc));
            assert_int_equal(rc, RLV_EIMAGE);
            assert_null(rgb);
            free(cut);
        }
        free(b);
    }
}

static void put_be32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v; }

/* A PNG chunk: length, type, data, CRC. Returns the bytes written. */
static size_t png_chunk(uint8_t *o, const char *type, const uint8_t *d, uint32_t n) {
    put_be32(o, n);
    memcpy(o + 4, type, 4);
    if (n) memcpy(o + 8, d, n);
    put_be32(o + 8 + n, (uint32_t)crc32(crc32(0, o + 4, 4), d, n));
    return 12 + (size_t)n;
}

/* An 8-bit RGB PNG of w x h whose IDAT inflates to inflated_bytes of zeros (filter 0, black). */
static uint8_t *png_of_zeros(uint32_t w, uint32_t hgt, size_t inflated_bytes, size_t *len) {
    z_stream z = {0};
    assert_int_equal(deflateInit(&z, 9), Z_OK);
    size_t cap = inflated_bytes / 500 + 4096, n_idat = 0;
    uint8_t *idat = malloc(cap), zeros[1 << 16] = {0};
    for (size_t left = inflated_bytes; ;) {
        size_t k = left < sizeof zeros ? left : sizeof zeros;
        z.next_in = zeros;
        z.avail_in = (uInt)k;
        left -= k;
        z.next_out = idat + n_idat;
        z.avail_out = (uInt)(cap - n_idat);
        int rc = deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
        n_idat = cap - z.avail_out;
        if (rc == Z_STREAM_END) break;
        assert_true(z.avail_out > 0);
    }
    deflateEnd(&z);
    uint8_t *png = malloc(n_idat + 64), ihdr[13] = {0};
    put_be32(ihdr, w);
    put_be32(ihdr + 4, hgt);
    ihdr[8] = 8;
    ihdr[9] = 2;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    size_t p = 8;
    p += png_chunk(png + p, "IHDR", ihdr, 13);
    p += png_chunk(png + p, "IDAT", idat, (uint32_t)n_idat);
    p += png_chunk(png + p, "IEND", NULL, 0);
    free(idat);
    *len = p;
    return png;
}

/* A 1x1 PNG whose data inflates to 256 MiB is refused before its buffer grows past what the
 * header allows (issue 18: 2.02 GiB of RSS per request); the same data under a header of its
 * size decodes. */
static void test_png_deflate_bomb(void **s) {
    (void)s;
    size_t n;
    uint8_t *bomb = png_of_zeros(1, 1, (size_t)256 << 20, &n);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = clock_now_ms() / 1e3;
    uint8_t *rgb = NULL;
    int w, h;
    rlv_err e = {0};
    assert_int_equal(image_decode(bomb, n, NULL, &rgb, &w, &h, &e), RLV_EIMAGE);
    double dt = clock_now_ms() / 1e3 - t0;
    getrusage(RUSAGE_SELF, &r1);
    print_message("1x1 PNG of %zu bytes inflating to 256 MiB: %s in %.3f s, max RSS +%ld KiB\n", n, e.msg, dt,
                  r1.ru_maxrss - r0.ru_maxrss);
    assert_non_null(strstr(e.msg, "decompression bomb"));
    assert_null(rgb);
    assert_true(r1.ru_maxrss - r0.ru_maxrss < 64 * 1024); /* KiB: far below the 256 MiB it holds */
    free(bomb);
    /* 3000 x 2000 rows of zeros: the same kind of stream, at the size its header declares */
    uint8_t *ok = png_of_zeros(3000, 2000, (size_t)2000 * (1 + 3000 * 3), &n);
    assert_int_equal(image_decode(ok, n, NULL, &rgb, &w, &h, &e), RLV_OK);
    assert_int_equal(w, 3000);
    size_t nz = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) nz += rgb[i] != 0;
    assert_int_equal(nz, 0);
    image_pixels_free(&rgb);
    free(ok);
    /* the cap itself, on a real file: one allocation above it fails the decode, named */
    uint8_t *b = slurp(CORPUS "/ok_rgb.png", &n);
    void *px = NULL;
    int x, y;
    assert_int_equal(image_stb_decode(b, n, "PNG", 0, 256, &px, &x, &y, &e), RLV_EIMAGE);
    assert_non_null(strstr(e.msg, "beyond the 256 bytes"));
    assert_null(px);
    assert_int_equal(image_stb_decode(b, n, "PNG", 0, 1 << 20, &px, &x, &y, &e), RLV_OK);
    free(px);
    free(b);
}

/* A JPEG header of w x h with nc components and `scans` scans of ns components each (empty
 * entropy data: only image_probe is asked). */
static uint8_t *jpeg_scans(int w, int hgt, int nc, int scans, int ns, size_t *len) {
    uint8_t *j = malloc(64 + (size_t)scans * 16), *p = j;
    *p++ = 0xFF; *p++ = 0xD8;
    *p++ = 0xFF; *p++ = 0xC2; /* SOF2: progressive */
    *p++ = 0; *p++ = (uint8_t)(8 + 3 * nc); *p++ = 8;
    *p++ = (uint8_t)(hgt >> 8); *p++ = (uint8_t)hgt; *p++ = (uint8_t)(w >> 8); *p++ = (uint8_t)w;
    *p++ = (uint8_t)nc;
    for (int c = 0; c < nc; c++) { *p++ = (uint8_t)(c + 1); *p++ = 0x11; *p++ = 0; }
    for (int i = 0; i < scans; i++) {
        *p++ = 0xFF; *p++ = 0xDA;
        *p++ = 0; *p++ = (uint8_t)(6 + 2 * ns); *p++ = (uint8_t)ns;
        for (int c = 0; c < ns; c++) { *p++ = (uint8_t)(c + 1); *p++ = 0; }
        *p++ = 1; *p++ = 63; *p++ = 0;
        *p++ = 0x00; /* one byte of entropy-coded data */
    }
    *p++ = 0xFF; *p++ = 0xD9;
    *len = (size_t)(p - j);
    return j;
}

/* Decode work bound (issue 18: 150 empty scans of 8192 x 4880 decoded for 27 s): refused by the
 * header check in no time; the limit sits at IMAGE_JPEG_MAX_PASSES full passes over the largest
 * image allowed, counted by the components each scan covers. */
static void test_jpeg_scan_work(void **s) {
    (void)s;
    static const struct { int w, h, nc, scans, ns, code; } c[] = {
        {8192, 4880, 3, 150, 1, RLV_ELIMIT},   /* the bomb: 50 passes */
        {8192, 4880, 1, 150, 1, RLV_ELIMIT},
        {8192, 4880, 3, 16, 3, RLV_OK},        /* 16 passes over 40 M: at the limit */
        {8192, 4880, 3, 17, 3, RLV_ELIMIT},
        {8192, 4880, 3, 48, 1, RLV_OK},        /* 16 passes, one component at a time */
        {8192, 4880, 3, 49, 1, RLV_ELIMIT},
        {512, 512, 3, 500, 3, RLV_OK},         /* small: the scan count limit rules */
        {512, 512, 3, 501, 3, RLV_EIMAGE},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        size_t n;
        uint8_t *j = jpeg_scans(c[i].w, c[i].h, c[i].nc, c[i].scans, c[i].ns, &n);
        image_header hd;
        rlv_err e = {0};
        double t0 = clock_now_ms() / 1e3;
        int rc = image_probe(j, n, NULL, &hd, &e);
        double dt = clock_now_ms() / 1e3 - t0;
        print_message("%dx%d, %d comps, %d scans of %d: %s %s (%.1f ms)\n", c[i].w, c[i].h, c[i].nc, c[i].scans, c[i].ns,
                      rlv_err_name(rc), rc ? e.msg : "", dt * 1e3);
        assert_int_equal(rc, c[i].code);
        assert_true(dt < 0.1);
        if (rc == RLV_ELIMIT) assert_non_null(strstr(e.msg, "passes"));
        free(j);
    }
    /* and in the decoder, a bomb of this kind is never reached: image_decode probes first */
    size_t n;
    uint8_t *j = jpeg_scans(8192, 4880, 3, 150, 1, &n), *rgb = NULL;
    int w, h;
    rlv_err e = {0};
    assert_int_equal(image_decode(j, n, NULL, &rgb, &w, &h, &e), RLV_ELIMIT);
    assert_null(rgb);
    free(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_matches_pillow),
        cmocka_unit_test(test_decode_matches_pil),
        cmocka_unit_test(test_jpeg_refusals),
        cmocka_unit_test(test_jpeg_scan_monitor),
        cmocka_unit_test(test_pixels_match_torchvision),
        cmocka_unit_test(test_named_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_every_prefix_refused),
        cmocka_unit_test(test_png_deflate_bomb),
        cmocka_unit_test(test_jpeg_scan_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
