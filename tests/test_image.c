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

#include <cmocka.h>

#include "test_util.h"
#include "image.h"
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
        photos += !strncmp(name, "photo_", 6);
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

/* Every proper prefix of a JPEG and a PNG is refused (no end marker), never decoded. */
static void test_every_prefix_refused(void **s) {
    (void)s;
    const char *files[] = {"ok_base.jpg", "ok_prog.jpg", "ok_rgb.png"};
    for (int f = 0; f < 3; f++) {
        char path[512];
        size_t n;
        snprintf(path, sizeof path, CORPUS "/%s", files[f]);
        uint8_t *b = slurp(path, &n);
        assert_non_null(b);
        for (size_t len = 0; len < n; len++) {
            uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
            memcpy(cut, b, len);
            uint8_t *rgb = NULL;
            int w, h;
            rlv_err e = {0};
            int rc = image_decode(cut, len, NULL, &rgb, &w, &h, &e);
            assert_int_equal(rc, RLV_EIMAGE);
            assert_null(rgb);
            free(cut);
        }
        free(b);
    }
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
