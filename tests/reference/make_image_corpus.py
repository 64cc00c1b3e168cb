#!/usr/bin/env python3
"""make_image_corpus.py — (re)writes tests/fuzz/corpus/image/: small valid and invalid images that
seed fuzz_image and that test_image.c checks by name (each bad file has its own named error);
with JPEG_WRITE (the built tests/reference/jpeg_write.c) also tests/fuzz/corpus/jpeg/: one small
JPEG of each kind ref_image.py checks, seeds for fuzz_jpeg.

  make_image_corpus.py [OUT_DIR [JPEG_WRITE]]   (default OUT_DIR: the corpus folder next to this script's tests/)
"""
import io
import os
import struct
import sys

import numpy as np
from PIL import Image


def enc(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def psd(rgb):
    """Pillow reads PSD but cannot write it: header, empty colour-mode, resource and layer
    sections, raw planar 8-bit RGB."""
    h, w, _ = rgb.shape
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3) + struct.pack(">IIIH", 0, 0, 0, 0)
    return head + b"".join(rgb[:, :, c].tobytes() for c in range(3))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "fuzz", "corpus", "image")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:16, 0:16]
    rgb = np.stack([xx * 16, yy * 16, (xx ^ yy) * 16], -1).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    files = {
        "ok_rgb.png": enc(im, "PNG"),
        "ok_p.png": enc(im.quantize(8), "PNG", transparency=1),
        "ok_l16.png": enc(Image.fromarray(rng.integers(0, 1000, (6, 5), dtype=np.uint16)), "PNG"),
        "ok_base.jpg": enc(im, "JPEG", quality=50),
        "ok_prog.jpg": enc(im, "JPEG", quality=50, progressive=True),
        "ok_grey.jpg": enc(im.convert("L"), "JPEG", quality=50),
        "ok.gif": enc(im.quantize(8), "GIF"),
        "ok.bmp": enc(im.resize((6, 5)), "BMP"),
        "ok.ppm": enc(im.resize((6, 5)), "PPM"),
        "cmyk.jpg": enc(im.resize((8, 8)).convert("CMYK"), "JPEG", quality=50),
        "ok.tga": enc(im.resize((6, 5)), "TGA"),
        "ok_rle.tga": enc(im.resize((6, 5)), "TGA", compression="tga_rle"),
        "ok.psd": psd(np.asarray(im.resize((6, 5)))),
        "empty.bin": b"",
        "header.webp": b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + struct.pack("<I", 18) + bytes(18),
    }
    jpg = files["ok_base.jpg"]
    files["trunc.jpg"] = jpg[: len(jpg) // 2]
    png = files["ok_rgb.png"]
    files["trunc.png"] = png[: len(png) - 20]
    # Decompression bombs: valid structure, huge declared dimensions (never decoded).
    sof = jpg.find(b"\xff\xc0")
    files["bomb.jpg"] = jpg[: sof + 5] + struct.pack(">HH", 60000, 60000) + jpg[sof + 9:]
    files["bomb.png"] = png[:16] + struct.pack(">II", 100000, 100000) + png[24:]
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(files)} files, {sum(map(len, files.values()))} bytes")
    if len(sys.argv) > 2:
        jpeg_corpus(os.path.join(out, "..", "jpeg"), sys.argv[2], rng)


def jpeg_corpus(out, jpeg_tool, rng):
    """Seeds for fuzz_jpeg: each layout, colour space and coding of ref_image.py, 17x9 or so."""
    import subprocess
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from ref_image import cjpeg, jpeg_segments
    os.makedirs(out, exist_ok=True)
    im = Image.fromarray(rng.integers(0, 256, (9, 17, 3), dtype=np.uint8), "RGB")
    cmyk = Image.fromarray(rng.integers(0, 256, (9, 17, 4), dtype=np.uint8), "CMYK")
    files = {f"pil_{t}.jpg": enc(im, "JPEG", quality=80, subsampling=k) for k, t in ((2, "420"), (1, "422"), (0, "444"))}
    files["pil_prog.jpg"] = enc(im, "JPEG", quality=80, progressive=True)
    files["pil_grey.jpg"] = enc(im.convert("L"), "JPEG", quality=80)
    files["pil_cmyk.jpg"] = enc(cmyk, "JPEG", quality=80)
    exif = Image.Exif()
    exif[0x0112] = 6
    files["pil_exif.jpg"] = enc(im, "JPEG", quality=80, exif=exif.tobytes())
    for name, opts in (("440", ["-sample", "1x2"]), ("411", ["-sample", "4x1"]), ("restart", ["-restart", "1B"]),
                       ("arith", ["-arithmetic"]), ("arith_prog", ["-arithmetic", "-progressive"]), ("rgb", ["-rgb"]),
                       ("prog_restart", ["-progressive", "-restart", "1B"])):
        files[f"cjpeg_{name}.jpg"] = cjpeg(im, "-quality", "80", *opts)
    raw = np.asarray(cmyk).tobytes()
    for kind in ("ycck", "cmyk_noadobe"):
        for prog in ((), ("progressive",)):
            files[f"{kind}{'_prog' if prog else ''}.jpg"] = subprocess.run(
                [jpeg_tool, kind, "17", "9", *prog], input=raw, stdout=subprocess.PIPE, check=True).stdout
    prog = files["pil_prog.jpg"]
    last = [s for s in jpeg_segments(prog) if s[0] == 0xDA][-1]
    files["scans_many.jpg"] = prog[:last[2]] + prog[last[1]:last[2]] * 45 + prog[last[2]:]  # past fuzz_jpeg's 40
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"jpeg: {len(files)} files, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
