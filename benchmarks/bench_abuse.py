#!/usr/bin/env python3
"""bench_abuse.py — rlaifvd under hostile input and overload (issue 18): replies received for
requests sent at 1x, 16x and 100x its capacity (one pipelined DEALER, and clients that disconnect
right after sending: their jobs skipped), 3x10^5 pings pipelined by one DEALER, the reply time and the daemon's peak RSS for each hostile image class, and
the SIGTERM drain time under load.

  bench_abuse.py --rlaifvd BIN [--model DIR --ref-model DIR] [--workers 1] [--max-queue 8]
                 [--only overload,pings,images,sigterm]

Capacity = max-queue + workers score jobs in flight. Without --model the daemon serves the demo
pair. Every loop is bounded in count and time; only loopback is used.
"""
import argparse
import io
import os
import signal
import struct
import subprocess
import time
import zlib

import msgpack
import numpy as np
import zmq
from PIL import Image

from bench_daemon import free_port, proc_status_kib

PROMPT = "Describe the image."
CANDS = ["A yellow circle above a purple triangle.", "A green star.", "Two red squares.", "A blue circle."]


def hwm_kib(pid):
    """Peak RSS (VmHWM); bench_daemon.rss_kb reads the current one."""
    return proc_status_kib(pid, "VmHWM")


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))


def png(w, h, raw):
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def jpeg_scans(w, h, nc, scans, ns):
    j = b"\xff\xd8\xff\xc2" + struct.pack(">HBHHB", 8 + 3 * nc, 8, h, w, nc) + b"".join(bytes([c + 1, 0x11, 0]) for c in range(nc))
    sos = b"\xff\xda" + struct.pack(">HB", 6 + 2 * ns, ns) + b"".join(bytes([c + 1, 0]) for c in range(ns)) + b"\x01\x3f\x00\x00"
    return j + sos * scans + b"\xff\xd9"


def hostile_images():
    rgb = (np.random.default_rng(1).integers(0, 256, (448, 448, 3))).astype(np.uint8)
    im = Image.fromarray(rgb)
    tga = io.BytesIO()
    im.save(tga, "TGA")
    bmp = io.BytesIO()
    im.save(bmp, "BMP")
    return {
        "png deflate bomb (1x1 header, 256 MiB of IDAT data)": png(1, 1, bytes(256 << 20)),
        "jpeg scan bomb (8192x4880, 150 scans)": jpeg_scans(8192, 4880, 3, 150, 1),
        "truncated tga (448x448, half the pixels)": tga.getvalue()[: len(tga.getvalue()) // 2],
        "truncated bmp (448x448, half the pixels)": bmp.getvalue()[: len(bmp.getvalue()) // 2],
        "header bomb png (60000x60000)": png(60000, 60000, b"")[:33] + png_chunk(b"IDAT", b"x") + png_chunk(b"IEND", b""),
    }


class Daemon:
    def __init__(self, a, *extra):
        self.ep = f"tcp://127.0.0.1:{free_port()}"
        args = [a.rlaifvd, "--bind", self.ep, "--log-level", "error", "--workers", str(a.workers)]
        if a.model:
            args += ["--model", a.model] + (["--ref-model", a.ref_model] if a.ref_model else [])
        self.p = subprocess.Popen(args + [str(x) for x in extra])
        s = dealer(self.ep)
        s.send(msgpack.packb({"v": 1, "id": 0, "op": "ping"}))
        assert s.poll(60000), "rlaifvd did not start"
        s.recv()
        s.close(0)

    def stop(self):
        t0 = time.time()
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(120)
        return time.time() - t0


def dealer(ep):
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(ep)
    return s


def score(i, img):
    return msgpack.packb({"v": 1, "id": i, "op": "score", "image": img, "prompt": PROMPT, "candidates": CANDS},
                         use_bin_type=True)


def collect(s, n, timeout_s):
    got, t0 = {}, time.time()
    while len(got) < n and time.time() - t0 < timeout_s:
        if s.poll(200):
            r = msgpack.unpackb(s.recv(), raw=False)
            got[r["id"]] = "ok" if r["ok"] else r["error"]["code"]
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifvd", required=True)
    ap.add_argument("--model")
    ap.add_argument("--ref-model")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-queue", type=int, default=8)
    ap.add_argument("--only", default="overload,pings,images,sigterm", help="sections to run, comma-separated")
    a = ap.parse_args()
    only = set(a.only.split(","))
    img = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "demo", "sample.png"), "rb").read()
    cap = a.max_queue + a.workers

    if "overload" in only:
        overload(a, img, cap)
    if "pings" in only:
        pings(a)
    if "images" in only:
        images(a)
    if "sigterm" in only:
        sigterm(a, img, cap)


def overload(a, img, cap):
    print("## overload: requests sent at once vs replies received")
    print("| load | client | sent | replies | ok | busy | other | undeliverable (stats) | skipped_disconnected (stats) | s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mult in (1, 16, 100):
        n = cap * mult
        for kind in ("pipelined DEALER", "disconnecting DEALERs"):
            d = Daemon(a, "--max-queue", a.max_queue)
            t0 = time.time()
            if kind == "pipelined DEALER":
                s = dealer(d.ep)
                for i in range(n):
                    s.send(score(i, img))
                got = collect(s, n, 120)
            else:
                for i in range(n):
                    g = dealer(d.ep)
                    g.send(score(i, img))
                    g.close(linger=1000)  # the request goes out, then the connection closes
                got = {}
                s = dealer(d.ep)
                time.sleep(1.0)
            dt = time.time() - t0
            s.send(msgpack.packb({"v": 1, "id": "st", "op": "stats"}))
            st = msgpack.unpackb(s.recv(), raw=False) if s.poll(60000) else {}
            vals = list(got.values())
            print(f"| {mult}x | {kind} | {n} | {len(got)} | {vals.count('ok')} | {vals.count('busy')} | "
                  f"{len(vals) - vals.count('ok') - vals.count('busy')} | {st.get('undeliverable')} | "
                  f"{st.get('skipped_disconnected')} | {dt:.1f} |")
            s.close(0)
            d.stop()


def pings(a, n=300000):
    """One DEALER pipelines n pings and reads only once its sends have been blocked for 1 s (the
    daemon stops reading requests while the client's reply pipe is full)."""
    print(f"\n## {n} pings pipelined by one DEALER (it reads only once its sends are blocked for 1 s)")
    print("| sent | replies | distinct ids | undeliverable (stats) | s | pings/s |")
    print("|---|---|---|---|---|---|")
    d = Daemon(a)
    s = dealer(d.ep)
    sent, got, ids = 0, 0, set()

    def read_some(ms):
        nonlocal got
        k = 0
        while s.poll(ms if k == 0 else 0):
            ids.add(msgpack.unpackb(s.recv())["id"])
            got += 1
            k += 1
        return k

    t0 = time.time()
    while sent < n and time.time() - t0 < 600:
        try:
            s.send(msgpack.packb({"v": 1, "id": sent, "op": "ping"}), zmq.NOBLOCK)
            sent += 1
        except zmq.Again:  # read only when the daemon has stopped taking requests for 1 s
            if not s.poll(1000, zmq.POLLOUT):
                read_some(10)
    while got < sent and read_some(5000):
        pass
    dt = time.time() - t0
    s.send(msgpack.packb({"v": 1, "id": "st", "op": "stats"}))
    st = msgpack.unpackb(s.recv(), raw=False) if s.poll(60000) else {}
    print(f"| {sent} | {got} | {len(ids)} | {st.get('undeliverable')} | {dt:.1f} | {got / dt:.0f} |")
    s.close(0)
    d.stop()


def images(a):
    print("\n## hostile images: one request each, fresh daemon")
    print("| image | bytes | reply | ms | daemon peak RSS MiB (idle peak) |")
    print("|---|---|---|---|---|")
    for name, data in hostile_images().items():
        d = Daemon(a, "--max-message-bytes", 1 << 30, "--max-image-bytes", 1 << 30)
        base = hwm_kib(d.p.pid)
        s = dealer(d.ep)
        t0 = time.time()
        s.send(score(1, data))
        got = collect(s, 1, 300)
        ms = (time.time() - t0) * 1e3
        print(f"| {name} | {len(data)} | {got.get(1)} | {ms:.0f} | {hwm_kib(d.p.pid) / 1024:.0f} ({base / 1024:.0f}) |")
        s.close(0)
        d.stop()


def sigterm(a, img, cap):
    print("\n## SIGTERM under load (max-queue requests queued, every worker busy)")
    d = Daemon(a, "--max-queue", a.max_queue)
    s = dealer(d.ep)
    for i in range(cap):
        s.send(score(i, img))
    time.sleep(0.2)
    dt = d.stop()
    got = collect(s, cap, 5)
    vals = list(got.values())
    print(f"exit {dt * 1e3:.0f} ms after SIGTERM; {len(got)} of {cap} answered "
          f"({vals.count('ok')} ok, {vals.count('shutting_down')} shutting_down)")


if __name__ == "__main__":
    main()
