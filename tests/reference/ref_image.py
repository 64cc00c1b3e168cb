#!/usr/bin/env python3
"""ref_image.py — Pillow's answers for the image path (model-spec.md 3.1), for test_image.c.

  ref_image.py OUT_DIR [IMAGES_DIR]

Writes into OUT_DIR:
  resize.txt + resize_<name>.bin : int32 sw, sh, dw, dh (little endian), the RGB8 input, then
      Pillow's Image.resize((dw, dh), BICUBIC) of it (Debian python3-pil) — must match byte for byte.
  decode.txt + dec_<name>.<ext> and dec_<name>.rgb : an encoded file and int32 w, h + PIL's
      Image.open(..).convert('RGB') bytes; lines "name ext exact" (exact=0 for JPEG: measured).
  pixels_<name>.bin : float32 [3, 448, 448] of the official transform (ToTensor + Normalize on the
      Pillow-resized image) for one PNG, to check image_to_pixels end to end.
"""
import io
import os
import struct
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


def encode(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def main():
    out = sys.argv[1]
    img_dir = sys.argv[2]  # tests/data/images: required, and must hold real photos
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(5)
    rs, dec = [], []

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

    # Decode: PNG of every colour type / depth (exact), BMP, GIF, PNM (exact), JPEG (measured).
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
    smooth = np.asarray(Image.fromarray(rgb, "RGB").resize((160, 120), Image.BICUBIC))
    write_decode(out, "jpeg_base", "jpg", encode(Image.fromarray(smooth, "RGB"), "JPEG", quality=90), 0, dec)
    write_decode(out, "jpeg_prog", "jpg", encode(Image.fromarray(smooth, "RGB"), "JPEG", quality=90, progressive=True), 0, dec)
    write_decode(out, "jpeg_grey", "jpg", encode(Image.fromarray(smooth[..., 0], "L"), "JPEG", quality=90), 0, dec)
    write_decode(out, "jpeg_444", "jpg", encode(Image.fromarray(smooth, "RGB"), "JPEG", quality=95, subsampling=0), 0, dec)
    for fn in photos:
        with open(os.path.join(img_dir, fn), "rb") as f:
            write_decode(out, "photo_" + os.path.splitext(fn)[0], "jpg", f.read(), 0, dec)

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


if __name__ == "__main__":
    main()
