/* jpeg_write.c — test helper: encodes raw 4-component samples with libjpeg-turbo as the JPEGs that
 * neither Pillow nor cjpeg writes, for ref_image.py and make_image_corpus.py:
 *
 *   jpeg_write ycck|cmyk_noadobe W H [progressive] < raw_cmyk > out.jpg
 *
 * ycck: stored as YCCK with an Adobe APP14 marker, transform 2 (what Photoshop writes for CMYK);
 * cmyk_noadobe: plain CMYK without an Adobe marker (libjpeg then guesses CMYK on reading).
 * stdin holds W*H*4 bytes as written to libjpeg (Pillow's expected pixels come from decoding the
 * result, so their polarity does not matter). Exits 1 with a message on bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc < 4 || (strcmp(argv[1], "ycck") && strcmp(argv[1], "cmyk_noadobe"))) {
        fprintf(stderr, "usage: jpeg_write ycck|cmyk_noadobe W H [progressive] < raw > out.jpg\n");
        return 1;
    }
    int w = atoi(argv[2]), h = atoi(argv[3]);
    int prog = argc > 4 && !strcmp(argv[4], "progressive");
    if (w < 1 || h < 1 || w > 4096 || h > 4096) {
        fprintf(stderr, "jpeg_write: size %dx%d\n", w, h);
        return 1;
    }
    size_t n = (size_t)w * h * 4;
    unsigned char *raw = malloc(n);
    if (!raw || fread(raw, 1, n, stdin) != n) {
        fprintf(stderr, "jpeg_write: need %zu bytes on stdin\n", n);
        return 1;
    }
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr); /* a helper: libjpeg's exit() on error is fine here */
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, stdout);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    if (!strcmp(argv[1], "ycck")) {
        jpeg_set_colorspace(&c, JCS_YCCK); /* Adobe marker, transform 2; Y and K 2x2, chroma 1x1 */
        c.comp_info[0].h_samp_factor = c.comp_info[0].v_samp_factor = 2;
        c.comp_info[3].h_samp_factor = c.comp_info[3].v_samp_factor = 2;
    } else {
        jpeg_set_colorspace(&c, JCS_CMYK);
        c.write_Adobe_marker = FALSE;
    }
    if (prog) jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = raw + (size_t)c.next_scanline * w * 4;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(raw);
    return 0;
}
