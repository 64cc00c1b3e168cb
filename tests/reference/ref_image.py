#!/usr/bin/env python3
"""ref_image.py — Pillow's answers for the image path (docs/model.md §3), for test_image.c.

  ref_image.py OUT_DIR IMAGES_DIR JPEG_WRITE

Writes into OUT_DIR:
  resize.txt + resize_<name>.bin : int32 sw, sh, dw, dh (little endian), the RGB8 input, then
      Pillow's Image.resize((dw, dh), BICUBIC) of it (Debian python3-pil) — must match byte for byte.
  decode.txt + dec_<name>.<ext> and dec_<name>.rgb : an encoded file and int32 w, h + PIL's
      Image.open(..).convert('RGB') bytes; lines "name ext exact" (every case exact, JPEG included:
      Pillow's libjpeg-turbo decode of baseline, progressive, arithmetic, every subsampling, grey,
      CMYK, YCCK, restart markers, odd sizes, EXIF, corrupt-but-decodable data, real photos).
  refuse.txt + bad_<name>.jpg : files Pillow refuses (checked here) or that we refuse by policy;
      lines "name code needle" (code: the rlv_err name expected from image_decode).
  pixels_<name>.bin : float32 [3, 448, 448] of the official transform (ToTensor + Normalize on the
      Pillow-resized image) for one PNG, to check image_to_pixels end to end.
"""
import io
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def png_raw(w, h, bit_depth, color_type, rows_bytes):
    """A PNG written by hand (PIL cannot write 16-bit RGB/RGBA or LA): filter 0 on every row."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + r for r in rows_bytes)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def write_resize(out, name, src, dw, dh, names):
    h, w = src.shape[:2]
    exp = np.asarray(Image.fromarray(src, "RGB").resize((dw, dh), Image.BICUBIC))
    with open(os.path.join(out, f"resize_{name}.bin"), "wb") as f:
        f.write(struct.pack("<4i", w, h, dw, dh))
        f.write(np.ascontiguousarray(src).tobytes())
        f.write(np.ascontiguousarray(exp).tobytes())
    names.append(name)


def write_decode(out, name, ext, data, exact, names):
    with open(os.path.join(out, f"dec_{name}.{ext}"), "wb") as f:
        f.write(data)
    im = Image.open(io.BytesIO(data))
    im.load()
    rgb = np.asarray(im.convert("RGB"))
    with open(os.path.join(out, f"dec_{name}.rgb"), "wb") as f:
        f.write(struct.pack("<2i", rgb.shape[1], rgb.shape[0]))
        f.write(np.ascontiguousarray(rgb).tobytes())
    names.append(f"{name} {ext} {int(exact)}")


def write_refuse(out, name, data, code, needle, pillow_refuses, names):
    """A JPEG image_decode must refuse with `code`; pillow_refuses: Pillow must fail on it too
    (asserted here), else the refusal is our policy (e.g. the scan limit)."""
    try:
        Image.open(io.BytesIO(data)).convert("RGB")
        pil_ok = True
    except Exception:
        pil_ok = False
    if pillow_refuses and pil_ok:
        sys.exit(f"ref_image: Pillow decodes {name}, expected a refusal")
    with open(os.path.join(out, f"bad_{name}.jpg"), "wb") as f:
        f.write(data)
    names.append(f"{name} {code} {needle}")


def cjpeg(src_im, *opts):
    """libjpeg-turbo's cjpeg (libjpeg-turbo-progs): the options Pillow's save has no word for."""
    tool = shutil.which("cjpeg")
    if not tool:
        sys.exit("ref_image: cjpeg not found (scripts/setup.sh installs libjpeg-turbo-progs)")
    return subprocess.run([tool, *opts], input=encode(src_im, "PPM"), stdout=subprocess.PIPE, check=True).stdout


def jpeg_segments(data):
    """[(marker, start, end)] of a JPEG up to EOI; a scan's entry runs to the next real marker."""
    segs, p = [], 2
    while p < len(data):
        assert data[p] == 0xFF
        m = data[p + 1]
        if m == 0xD9:
            segs.append((m, p, p + 2))
            break
        L = struct.unpack(">H", data[p + 2:p + 4])[0]
        e = p + 2 + L
        if m == 0xDA:
            while not (data[e] == 0xFF and data[e + 1] not in (0x00, *range(0xD0, 0xD8))):
                e += 1
        segs.append((m, p, e))
        p = e
    return segs


def write_jpeg_cases(out, rng, rgb, jpeg_tool, dec, refuse):
    """Every JPEG variant Pillow decodes, each exact; then the ones it (or our policy) refuses."""
    smooth = np.asarray(Image.fromarray(rgb, "RGB").resize((160, 120), Image.BICUBIC))
    im, grey = Image.fromarray(smooth, "RGB"), Image.fromarray(smooth[..., 0], "L")
    noise = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8), "RGB")
    cmyk = Image.fromarray(rng.integers(0, 256, (30, 44, 4), dtype=np.uint8), "CMYK").resize((88, 60), Image.BICUBIC)
    J = lambda name, data: write_decode(out, name, "jpg", data, 1, dec)  # noqa: E731
    # Pillow's writer: baseline and progressive, 4:2:0 / 4:2:2 / 4:4:4, grey, CMYK (Adobe, transform 0)
    for prog in (False, True):
        p = "prog" if prog else "base"
        for sub, tag in ((2, "420"), (1, "422"), (0, "444")):
            J(f"jpeg_{p}_{tag}", encode(im, "JPEG", quality=90, subsampling=sub, progressive=prog))
        J(f"jpeg_{p}_grey", encode(grey, "JPEG", quality=90, progressive=prog))
        J(f"jpeg_{p}_cmyk", encode(cmyk, "JPEG", quality=90, progressive=prog))
        J(f"jpeg_{p}_noise_q100", encode(noise, "JPEG", quality=100, progressive=prog))  # IDCT clamps
    J("jpeg_base_q5", encode(im, "JPEG", quality=5))
    J("jpeg_base_optimize", encode(im, "JPEG", quality=75, optimize=True))
    # odd sizes: partial MCUs in both directions, 1-pixel edges for the fancy upsampler
    for w, h in ((1, 1), (1, 17), (17, 1), (17, 9), (9, 17), (33, 7), (2, 2), (3, 5), (15, 16), (101, 67)):
        sub_im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
        for sub, tag in ((2, "420"), (1, "422"), (0, "444")):
            J(f"jpeg_odd_{w}x{h}_{tag}", encode(sub_im, "JPEG", quality=85, subsampling=sub))
        J(f"jpeg_odd_{w}x{h}_prog420", encode(sub_im, "JPEG", quality=85, progressive=True))
        J(f"jpeg_odd_{w}x{h}_grey", encode(sub_im.convert("L"), "JPEG", quality=85))
    # EXIF with Orientation 6: Pillow does not rotate on open, nor do we
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "rlaifv test"
    J("jpeg_exif_orient6", encode(im.resize((31, 45)), "JPEG", quality=90, exif=exif.tobytes()))
    # cjpeg: the layouts Pillow cannot write
    small = im.resize((77, 53))
    for name, opts in (("440", ["-sample", "1x2"]), ("411", ["-sample", "4x1"]), ("h2v2_h1v2", ["-sample", "2x2,1x2,1x1"]),
                       ("h1v2_h2v1", ["-sample", "1x2,2x1,1x1"]), ("restart_1row", ["-restart", "1"]),
                       ("restart_3blocks", ["-restart", "3B"]), ("prog_restart_2blocks", ["-progressive", "-restart", "2B"]),
                       ("arith", ["-arithmetic"]), ("arith_prog", ["-arithmetic", "-progressive"]),
                       ("arith_restart", ["-arithmetic", "-restart", "1"]), ("rgb_adobe", ["-rgb"]),
                       ("rgb_adobe_prog", ["-rgb", "-progressive"]), ("prog_440", ["-progressive", "-sample", "1x2"]),
                       ("q100_444", ["-quality", "100", "-sample", "1x1"])):
        J(f"jpeg_cjpeg_{name}", cjpeg(small, "-quality", "90", *opts) if opts[0] != "-quality" else cjpeg(small, *opts))
    J("jpeg_cjpeg_grey_restart", cjpeg(small.convert("L"), "-grayscale", "-restart", "1"))
    # 4 components the way Photoshop writes them (YCCK, Adobe transform 2) and CMYK without Adobe
    raw = np.asarray(cmyk).tobytes()
    for kind in ("ycck", "cmyk_noadobe"):
        for prog in ((), ("progressive",)):
            data = subprocess.run([jpeg_tool, kind, "88", "60", *prog], input=raw, stdout=subprocess.PIPE, check=True).stdout
            J(f"jpeg_{kind}{'_prog' if prog else ''}", data)
    # corrupt entropy-coded bytes (never 0xFF, never after one): libjpeg warns, Pillow decodes anyway
    base = encode(im, "JPEG", quality=90)
    sos = [s for s in jpeg_segments(base) if s[0] == 0xDA][0]
    body0 = sos[1] + 2 + struct.unpack(">H", base[sos[1] + 2:sos[1] + 4])[0]
    for i in range(12):
        b = bytearray(base)
        for _ in range(1 + i):
            q = int(rng.integers(body0 + 1, sos[2] - 1))
            if b[q - 1] != 0xFF and b[q] != 0xFF:
                b[q] = int(rng.integers(0, 0xFF))
        try:
            Image.open(io.BytesIO(bytes(b))).convert("RGB")
        except Exception:
            write_refuse(out, f"corrupt{i}", bytes(b), "bad_image", "JPEG", True, refuse)
            continue
        J(f"jpeg_corrupt{i}", bytes(b))
    # the scan limit: a progressive file with its last scan repeated (libjpeg: a warning per repeat)
    prog = encode(im, "JPEG", quality=90, progressive=True)
    segs = jpeg_segments(prog)
    last = [s for s in segs if s[0] == 0xDA][-1]
    nscans = sum(s[0] == 0xDA for s in segs)
    rep = lambda k: prog[:last[2]] + prog[last[1]:last[2]] * k + prog[last[2]:]  # noqa: E731
    J("jpeg_scans500", rep(500 - nscans))  # exactly at the limit: decoded, identical to Pillow
    write_refuse(out, "scans501", rep(501 - nscans), "bad_image", "more than 500 scans", False, refuse)
    # Pillow refuses these: other precisions and processes, truncation, a broken Huffman table
    sof = base.index(b"\xff\xc0")
    write_refuse(out, "12bit", base[:sof + 4] + bytes([12]) + base[sof + 5:], "unsupported", "12-bit", True, refuse)
    for m, what in ((0xC3, "lossless"), (0xC5, "hierarchical"), (0xCB, "lossless")):
        write_refuse(out, f"sof{m - 0xC0}", base[:sof + 1] + bytes([m]) + base[sof + 2:], "unsupported", what, True, refuse)
    write_refuse(out, "trunc_half", base[:len(base) // 2], "bad_image", "truncated", True, refuse)
    write_refuse(out, "trunc_noeoi", base[:-2], "bad_image", "truncated", True, refuse)
    dht = base.index(b"\xff\xc4")
    b = bytearray(base)
    b[dht + 5:dht + 21] = bytes([255] * 16)  # code counts that overflow the Huffman tree
    write_refuse(out, "bad_huffman", bytes(b), "bad_image", "Huffman", True, refuse)


def encode(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def main():
    out = sys.argv[1]
    img_dir = sys.argv[2]  # tests/data/images: required, and must hold real photos
    jpeg_tool = sys.argv[3]  # jpeg_write (tests/reference/jpeg_write.c): the YCCK / plain CMYK writer
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    rs, dec, refuse = [], [], []

    # Resize: real photos (decoded by PIL), then generated images of every awkward shape.
    photos = sorted(f for f in os.listdir(img_dir) if f.lower().endswith((".jpg", ".jpeg", ".png")))
    if not photos:
        sys.exit(f"ref_image: no real photo in {img_dir}")
    for i, fn in enumerate(photos):
        src = np.asarray(Image.open(os.path.join(img_dir, fn)).convert("RGB"))
        base = os.path.splitext(fn)[0]
        write_resize(out, f"photo_{base}", src, 448, 448, rs)
        if i < 2:  # the same photo up, down and one axis at a time
            write_resize(out, f"photo_{base}_up", src, 1001, 777, rs)
            write_resize(out, f"photo_{base}_w", src, 448, src.shape[0], rs)
            write_resize(out, f"photo_{base}_h", src, src.shape[1], 448, rs)
    shapes = [((1, 1), (448, 448)), ((1, 1), (3, 5)), ((1, 37), (448, 448)), ((37, 1), (448, 448)),
              ((1, 500), (7, 1)), ((3, 5), (7, 2)), ((5, 3), (448, 448)), ((448, 448), (448, 448)),
              ((448, 300), (448, 448)), ((300, 448), (448, 448)), ((17, 1000), (448, 448)),
              ((1000, 17), (448, 448)), ((4000, 3), (448, 448)), ((3, 4000), (448, 448)),
              ((1999, 1333), (448, 448)), ((449, 447), (448, 448)), ((447, 449), (448, 448)),
              ((224, 224), (448, 448)), ((896, 896), (448, 448)), ((123, 77), (31, 250)),
              ((2, 2), (1, 1)), ((640, 480), (1, 1)), ((640, 480), (448, 1))]
    for (w, h), (dw, dh) in shapes:
        noise = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        write_resize(out, f"noise_{w}x{h}_to_{dw}x{dh}", noise, dw, dh, rs)
    # a sweep of random shapes: every combination of up/down/same per axis comes up
    for i in range(150):
        w, h, dw, dh = (int(v) for v in rng.integers(1, 121, 4))
        write_resize(out, f"sweep{i}_{w}x{h}_to_{dw}x{dh}", rng.integers(0, 256, (h, w, 3), dtype=np.uint8), dw, dh, rs)
    # extremes: saturated checkerboards push the accumulator to both clamps
    cb = (np.indices((61, 53)).sum(0) % 2 * 255).astype(np.uint8)
    write_resize(out, "checker_61x53_to_448", np.stack([cb, 255 - cb, cb], -1), 448, 448, rs)
    yy, xx = np.mgrid[0:300, 0:700]
    grad = np.stack([(xx * 255 // 699), (yy * 255 // 299), ((xx + yy) % 256)], -1).astype(np.uint8)
    write_resize(out, "gradient_700x300_to_448", grad, 448, 448, rs)

    # Decode: PNG of every colour type / depth, BMP, GIF, PNM, then every JPEG variant: all exact.
    rgb = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (23, 31, 4), dtype=np.uint8)
    grey = rng.integers(0, 256, (23, 31), dtype=np.uint8)
    write_decode(out, "png_rgb8", "png", encode(Image.fromarray(rgb, "RGB"), "PNG"), 1, dec)
    write_decode(out, "png_rgba8", "png", encode(Image.fromarray(rgba, "RGBA"), "PNG"), 1, dec)
    write_decode(out, "png_l8", "png", encode(Image.fromarray(grey, "L"), "PNG"), 1, dec)
    write_decode(out, "png_la8", "png", encode(Image.fromarray(rgba[..., :2], "LA"), "PNG"), 1, dec)
    pal = Image.fromarray(rgb, "RGB").quantize(37)
    write_decode(out, "png_p8", "png", encode(pal, "PNG"), 1, dec)
    write_decode(out, "png_p8_trns", "png", encode(pal, "PNG", transparency=3), 1, dec)
    write_decode(out, "png_1bit", "png", encode(Image.fromarray(grey > 127), "PNG"), 1, dec)
    g16 = rng.integers(0, 1200, (23, 31), dtype=np.uint16)  # many values above 255: PIL clamps
    write_decode(out, "png_l16", "png", encode(Image.fromarray(g16), "PNG"), 1, dec)
    r16 = rng.integers(0, 65536, (23, 31, 3), dtype=np.uint16).astype(">u2")
    write_decode(out, "png_rgb16", "png", png_raw(31, 23, 16, 2, [r.tobytes() for r in r16]), 1, dec)
    a16 = rng.integers(0, 65536, (23, 31, 4), dtype=np.uint16).astype(">u2")
    write_decode(out, "png_rgba16", "png", png_raw(31, 23, 16, 6, [r.tobytes() for r in a16]), 1, dec)
    la16 = rng.integers(0, 65536, (23, 31, 2), dtype=np.uint16).astype(">u2")
    write_decode(out, "png_la16", "png", png_raw(31, 23, 16, 4, [r.tobytes() for r in la16]), 1, dec)
    write_decode(out, "bmp_rgb", "bmp", encode(Image.fromarray(rgb, "RGB"), "BMP"), 1, dec)
    write_decode(out, "gif_p", "gif", encode(pal, "GIF"), 1, dec)
    write_decode(out, "ppm_rgb", "ppm", encode(Image.fromarray(rgb, "RGB"), "PPM"), 1, dec)
    write_decode(out, "pgm_l", "pgm", encode(Image.fromarray(grey, "L"), "PPM"), 1, dec)
    write_jpeg_cases(out, rng, rgb, jpeg_tool, dec, refuse)
    for fn in photos:
        with open(os.path.join(img_dir, fn), "rb") as f:
            write_decode(out, "photo_" + os.path.splitext(fn)[0], "jpg", f.read(), 1, dec)

    # End to end: a PNG through the official transform (Resize, ToTensor, Normalize) in float32.
    import omnilmm
    import torch
    src = np.asarray(Image.fromarray(rng.integers(0, 256, (97, 131, 3), dtype=np.uint8), "RGB"))
    data = encode(Image.fromarray(src, "RGB"), "PNG")
    with open(os.path.join(out, "pixels_png.png"), "wb") as f:
        f.write(data)
    res = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((448, 448), Image.BICUBIC))
    px = omnilmm.normalise(np.ascontiguousarray(res)).to(torch.float32).contiguous()
    with open(os.path.join(out, "pixels_png.f32"), "wb") as f:
        f.write(px.numpy().tobytes())

    with open(os.path.join(out, "resize.txt"), "w") as f:
        f.write("\n".join(rs) + "\n")
    with open(os.path.join(out, "decode.txt"), "w") as f:
        f.write("\n".join(dec) + "\n")
    with open(os.path.join(out, "refuse.txt"), "w") as f:
        f.write("\n".join(refuse) + "\n")


if __name__ == "__main__":
    main()
