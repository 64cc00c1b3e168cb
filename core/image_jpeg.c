/* image_jpeg.c — JPEG -> RGB8 through libjpeg-turbo (Debian libjpeg62-turbo), the library and the
 * settings Pillow 9.4 uses, so the bytes equal PIL.Image.open(f).convert('RGB').
 *
 * Design notes (Pillow 9.4: JpegImagePlugin.py, libImaging/JpegDecode.c, Unpack.c, Convert.c):
 * (1) Settings: Pillow leaves jpeg_color_space to libjpeg's guess (JFIF / Adobe transform /
 *     component ids) and asks for out_color_space GRAYSCALE (1 component), RGB (3) or CMYK (4,
 *     also for YCCK, which libjpeg converts); everything else stays at libjpeg's defaults:
 *     JDCT_ISLOW, do_fancy_upsampling TRUE, do_block_smoothing TRUE, no scaling.
 * (2) 4 components: Pillow always reads them as "CMYK;I" (Adobe polarity, even without an Adobe
 *     marker), i.e. every byte inverted, then .convert('RGB') is cmyk2rgb:
 *     nk = 255 - K; R = nk - MULDIV255(C, nk) with MULDIV255(a, b) = ((a*b+128) + ((a*b+128) >> 8)) >> 8.
 * (3) Errors: libjpeg's error_exit would exit(); ours longjmps back here and the message becomes
 *     RLV_EIMAGE. Warnings (corrupt data, bogus progression) are silent, as in Pillow, whose
 *     output_message is empty and which never looks at num_warnings.
 * (4) End of data: Pillow's source suspends when it runs dry and ImageFile.load then refuses the
 *     file ("image file is truncated"), even when only the EOI marker is missing. image_probe()
 *     refuses those already; libjpeg running out here anyway (its parser disagreeing with the
 *     probe's) is RLV_EIMAGE "truncated" too, at whichever step it suspends.
 * (5) Work and memory: a progress monitor refuses a file once libjpeg starts scan max_scans + 1;
 *     max_memory_to_use caps the whole-image coefficient buffers of multi-scan files at what
 *     the frame size needs (libjpeg-turbo has no backing store: above it is an error). */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image_impl.h"

/* Everything libjpeg touches lives here, on the heap: after its longjmp, locals of
 * image_jpeg_decode would be indeterminate (C11 7.13.2.1), this struct is not. */
typedef struct jpeg_guard {
    struct jpeg_error_mgr pub;         /* first: libjpeg's cinfo->err points here */
    struct jpeg_decompress_struct d;
    struct jpeg_source_mgr src;
    struct jpeg_progress_mgr progress;
    jmp_buf jb;
    int max_scans, scans_refused;      /* scans_refused: libjpeg's scan number that tripped the limit */
    uint8_t *out;                      /* [h][w][3], freed here if libjpeg bails out */
    char msg[JMSG_LENGTH_MAX];
} jpeg_guard;

static void guard_error_exit(j_common_ptr c) {
    jpeg_guard *g = (jpeg_guard *)c->err;
    c->err->format_message(c, g->msg);
    longjmp(g->jb, 1);
}

static void guard_output_message(j_common_ptr c) { (void)c; }

static void guard_progress(j_common_ptr c) {
    jpeg_guard *g = (jpeg_guard *)c->err;
    int scan = ((j_decompress_ptr)c)->input_scan_number;
    if (scan > g->max_scans) {
        g->scans_refused = scan;
        longjmp(g->jb, 1);
    }
}

/* The whole file is in memory: there is never more to fill, so running out suspends (4). */
static void src_nop(j_decompress_ptr d) { (void)d; }
static boolean src_fill(j_decompress_ptr d) { (void)d; return FALSE; }
static void src_skip(j_decompress_ptr d, long n) {
    struct jpeg_source_mgr *s = d->src;
    if (n <= 0) return;
    size_t k = (size_t)n < s->bytes_in_buffer ? (size_t)n : s->bytes_in_buffer;
    s->next_input_byte += k;
    s->bytes_in_buffer -= k;
}

/* Pillow's "CMYK;I" unpack then cmyk2rgb, on one row of libjpeg's CMYK output (2). */
static void cmyk_row_to_rgb(const uint8_t *in, uint8_t *out, int w) {
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        int nk = in[3]; /* 255 - (255 - k) */
        for (int c = 0; c < 3; c++) {
            int t = (255 - in[c]) * nk + 128;
            out[c] = (uint8_t)(nk - (((t >> 8) + t) >> 8));
        }
    }
}

int image_jpeg_decode(const uint8_t *data, size_t len, int w, int h, int max_scans, uint8_t **rgb, rlv_err *err) {
    *rgb = NULL;
    jpeg_guard *g = calloc(1, sizeof *g); /* not modified after setjmp: valid after the longjmp */
    if (!g) return rlv_errf(err, RLV_ENOMEM, "JPEG %dx%d: out of memory", w, h);
    struct jpeg_decompress_struct *d = &g->d;
    g->src = (struct jpeg_source_mgr){
        .next_input_byte = data, .bytes_in_buffer = len, .init_source = src_nop, .fill_input_buffer = src_fill,
        .skip_input_data = src_skip, .resync_to_restart = jpeg_resync_to_restart, .term_source = src_nop,
    };
    d->err = jpeg_std_error(&g->pub);
    g->pub.error_exit = guard_error_exit;
    g->pub.output_message = guard_output_message;
    g->max_scans = max_scans;
    g->progress.progress_monitor = guard_progress;
    if (setjmp(g->jb)) {
        int rc = g->scans_refused
                     ? rlv_errf(err, RLV_EIMAGE, "JPEG with more than %d scans (libjpeg reached scan %d)", max_scans, g->scans_refused)
                     : rlv_errf(err, RLV_EIMAGE, "malformed JPEG: %s", g->msg);
        jpeg_destroy_decompress(d);
        free(g->out);
        free(g);
        return rc;
    }
    jpeg_create_decompress(d);
    d->src = &g->src;
    d->progress = &g->progress;
    int rc = RLV_OK, hr;
    do hr = jpeg_read_header(d, FALSE); /* Pillow skips tables-only datastreams the same way */
    while (hr == JPEG_HEADER_TABLES_ONLY);
    if (hr != JPEG_HEADER_OK) {
        rc = rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends inside the headers");
        goto done;
    }
    int nc = d->num_components;
    if ((int)d->image_width != w || (int)d->image_height != h || (nc != 1 && nc != 3 && nc != 4)) {
        rc = rlv_errf(err, RLV_EIMAGE, "malformed JPEG: libjpeg reads a %ux%u frame of %d components, the header check %dx%d",
                      d->image_width, d->image_height, nc, w, h);
        goto done;
    }
    d->out_color_space = nc == 1 ? JCS_GRAYSCALE : nc == 3 ? JCS_RGB : JCS_CMYK;
    /* coefficients of every block of every component, 2 bytes each, MCU padding included (5) */
    d->mem->max_memory_to_use = (long)((size_t)(w + 64) * (h + 64) * 2 * nc + (16u << 20));
    if (!jpeg_start_decompress(d)) {
        rc = rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends inside scan %d", d->input_scan_number);
        goto done;
    }
    if ((int)d->output_width != w || (int)d->output_height != h || d->output_components != nc) {
        rc = rlv_errf(err, RLV_EIMAGE, "malformed JPEG: libjpeg outputs %ux%u x %d", d->output_width, d->output_height, d->output_components);
        goto done;
    }
    g->out = malloc((size_t)w * h * 3);
    if (!g->out) {
        rc = rlv_errf(err, RLV_ENOMEM, "JPEG %dx%d: out of memory", w, h);
        goto done;
    }
    /* [1][w * nc]; from libjpeg's pool, so a longjmp frees it with the decompressor */
    JSAMPARRAY row = nc == 3 ? NULL : d->mem->alloc_sarray((j_common_ptr)d, JPOOL_IMAGE, (JDIMENSION)w * nc, 1);
    while ((int)d->output_scanline < h) {
        uint8_t *o = g->out + (size_t)d->output_scanline * w * 3;
        JSAMPROW dst = nc == 3 ? o : row[0];
        if (jpeg_read_scanlines(d, &dst, 1) != 1) {
            rc = rlv_errf(err, RLV_EIMAGE, "truncated JPEG: data ends before row %u of %d", d->output_scanline, h);
            goto done;
        }
        if (nc == 1)
            for (int x = 0; x < w; x++) o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = row[0][x];
        else if (nc == 4)
            cmyk_row_to_rgb(row[0], o, w);
    }
    if (!jpeg_finish_decompress(d)) /* suspended: no EOI after the last row (4) */
        rc = rlv_errf(err, RLV_EIMAGE, "truncated JPEG: no end-of-image marker after the last row");
done:
    jpeg_destroy_decompress(d);
    if (rc == RLV_OK) {
        *rgb = g->out;
        g->out = NULL;
    }
    free(g->out);
    free(g);
    return rc;
}
