#!/usr/bin/env python3
"""bench_abuse.py — rlaifvd under hostile input and overload (issue 18): replies received for
requests sent at 1x, 16x and 100x its capacity (one pipelined DEALER, and clients that disconnect
right after sending: their jobs skipped), 3x10^5 pings pipelined by one DEALER, the reply time and the daemon's peak RSS for each hostile image class, and
the SIGTERM drain time under load.

  bench_abuse.py --rlaifvd BIN [--model DIR --ref-model DIR] [--workers 1] [--max-queue 8]
                 [--only overload,pings,images,sigterm,soak] [--soak-seconds 3600]

soak (not in the default set): one daemon kept at 16x its capacity for --soak-seconds by a
pipelined DEALER that tops up as replies arrive; one request in 16 is hostile (a truncated
TGA, a PNG deflate bomb, malformed msgpack). Checks every request got exactly one reply and
reports RSS after the first minute and at the end, sampled every 10 s.

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

from bench_daemon import free_port, proc_status_kib, rss_kb

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
    ap.add_argument("--soak-seconds", type=float, default=3600)
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
    if "soak" in only:
        soak(a, img, cap)


def soak(a, img, cap):
    """16x overload held for a.soak_seconds; exactly one reply per request, RSS over time."""
    hostile = list(hostile_images().values())
    bad = [hostile[2], hostile[0], None]  # truncated TGA, PNG bomb, malformed msgpack
    d = Daemon(a, "--max-queue", a.max_queue)
    s = dealer(d.ep)
    window = 16 * cap
    sent, replies, outstanding, codes, dup = 0, 0, set(), {}, 0
    rss, t0, next_sample = [], time.time(), 0.0

    def send_one():
        nonlocal sent
        i = sent
        if i % 16 == 15:
            b = bad[(i // 16) % len(bad)]
            msg = b"\x93\xa1\xff" if b is None else score(i, b)
        else:
            msg = score(i, img)
        s.send(msg)
        outstanding.add(i)
        sent += 1

    def take():  # one reply: its request leaves `outstanding` exactly once
        nonlocal replies, dup
        r = msgpack.unpackb(s.recv(), raw=False)
        rid = r.get("id")
        if rid is None:  # malformed request: answered without an id
            rid = next((i for i in sorted(outstanding) if i % 16 == 15 and (i // 16) % len(bad) == 2), None)
        if rid in outstanding:
            outstanding.discard(rid)
            replies += 1
        else:
            dup += 1
        c = "ok" if r.get("ok") else r.get("error", {}).get("code", "?")
        codes[c] = codes.get(c, 0) + 1

    while time.time() - t0 < a.soak_seconds:
        while len(outstanding) < window:
            send_one()
        if s.poll(200):
            take()
        el = time.time() - t0
        if el >= next_sample:
            rss.append((el, rss_kb(d.p.pid)))
            next_sample += 10
    deadline = time.time() + 300  # drain: every outstanding request still gets its reply
    while outstanding and time.time() < deadline:
        if s.poll(200):
            take()
    s.send(msgpack.packb({"v": 1, "id": "st", "op": "stats"}))
    st = msgpack.unpackb(s.recv(), raw=False) if s.poll(60000) else {}
    first = next((k for t, k in rss if t >= 60), rss[-1][1] if rss else 0)
    print(f"\n## soak: {a.soak_seconds:.0f} s at 16x capacity ({window} requests outstanding), 1 in 16 hostile")
    print("| sent | replies | missing | duplicates/unknown | codes | RSS at 1 min (KiB) | RSS at end (KiB) | max RSS (KiB) | peak RSS VmHWM (KiB) | undeliverable (stats) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {sent} | {replies} | {len(outstanding)} | {dup} | {codes} | {first} | {rss[-1][1] if rss else 0} | "
          f"{max(k for _, k in rss) if rss else 0} | {hwm_kib(d.p.pid)} | {st.get('undeliverable')} |")
    s.close(0)
    d.stop()


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
