#!/usr/bin/env python3
"""bench_daemon.py — rlaifvd under load on loopback: requests/s and latency percentiles at 1, 4 and
16 concurrent clients with ~1 MB JPEG images, the protocol's share of the time, `busy` latency above
capacity, and RSS over a soak.

  bench_daemon.py --rlaifvd BIN --model DIR [--ref-model DIR] [--requests 40] [--soak-s 600]

Each client is a DEALER with one request in flight. Images: one ~1 MB JPEG made from the test photo,
made distinct per request (bytes appended after the JPEG end marker) so every job misses the image
cache, plus a run where all requests share one image (cache hits). Loops are bounded in count and time.
"""
import argparse
import io
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np
import zmq
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from testlib import free_port  # noqa: E402,F401  (bench_http and bench_abuse take it from here too)
CANDS = ["Because sheep are crossing the road.", "The car is red.", "A dog is driving the car.",
         "The road is blocked by a flock of sheep, so the car waits."]


def big_jpeg():
    src = os.path.join(HERE, "..", "tests", "data", "images", "car_sheep.jpeg")
    img = Image.open(src).convert("RGB").resize((2000, 1500), Image.BICUBIC)
    arr = np.array(img).astype(np.int16)
    arr += np.random.default_rng(0).integers(-12, 13, arr.shape, dtype=np.int16)  # texture: ~1 MB at q 92
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def proc_status_kib(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_kb(pid):
    return proc_status_kib(pid, "VmRSS")


def load(ep, clients, per_client, img, distinct, timeout_s=600):
    lat, server_ms, errors = [], [], []
    lock = threading.Lock()

    def run(k):
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        for j in range(per_client):
            image = img + (f"{k}-{j}".encode() if distinct else b"")
            body = msgpack.packb({"v": 1, "id": j, "op": "score", "image": image,
                                  "prompt": "Why did the car in the picture stop?", "candidates": CANDS},
                                 use_bin_type=True)
            t0 = time.perf_counter()
            s.send(body)
            if not s.poll(timeout_s * 1000):
                with lock:
                    errors.append("timeout")
                break
            rep = msgpack.unpackb(s.recv(), raw=False)
            dt = (time.perf_counter() - t0) * 1e3
            with lock:
                if rep.get("ok"):
                    lat.append(dt)
                    server_ms.append(rep["timing_ms"]["total"])
                else:
                    errors.append(rep["error"]["code"])
        s.close(0)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    return lat, server_ms, errors, wall


def pct(v, p):
    return float(np.percentile(np.array(v), p)) if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifvd", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--ref-model")
    ap.add_argument("--requests", type=int, default=48, help="requests per load level")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--soak-s", type=int, default=600)
    a = ap.parse_args()
    img = big_jpeg()
    port = free_port()
    ep = f"tcp://127.0.0.1:{port}"
    args = [a.rlaifvd, "--model", a.model, "--bind", ep, "--workers", str(a.workers), "--log-level", "error"]
    if a.ref_model:
        args += ["--ref-model", a.ref_model]
    args += ["--max-queue", "64"]
    p = subprocess.Popen(args)
    time.sleep(2)
    try:
        print(f"image: {len(img) / 1e6:.2f} MB JPEG 2000x1500; {len(CANDS)} candidates; {a.workers} workers")
        print("| clients | cache | requests/s | p50 ms | p99 ms | server ms p50 | share of latency outside the engine (queue + transport + protocol) |")
        print("|---|---|---|---|---|---|---|")
        for clients in (1, 4, 16):
            for distinct in (True, False):
                per = max(1, a.requests // clients)
                lat, srv, err, wall = load(ep, clients, per, img, distinct)
                share = 1 - statistics.median(srv) / statistics.median(lat) if lat else float("nan")
                print(f"| {clients} | {'miss' if distinct else 'hit'} | {len(lat) / wall:.2f} | {pct(lat, 50):.1f} | "
                      f"{pct(lat, 99):.1f} | {pct(srv, 50):.1f} | {share * 100:.1f}% |" + (f" errors {err[:3]}" if err else ""))
        # Above capacity: a queue of 1 and 64 requests at once; time to each `busy`.
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        p = subprocess.Popen(args[:-2] + ["--max-queue", "1"])
        time.sleep(2)
        s = zmq.Context.instance().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        sent = {}
        for j in range(64):
            sent[j] = time.perf_counter()
            s.send(msgpack.packb({"v": 1, "id": j, "op": "score", "image": img + str(j).encode(),
                                  "prompt": "Why?", "candidates": CANDS}, use_bin_type=True))
        busy = []
        got = 0
        t0 = time.perf_counter()
        while got < 64 and time.perf_counter() - t0 < 300:
            if s.poll(1000):
                rep = msgpack.unpackb(s.recv(), raw=False)
                got += 1
                if not rep["ok"] and rep["error"]["code"] == "busy":
                    busy.append((time.perf_counter() - sent[rep["id"]]) * 1e3)
        print(f"above capacity (queue 1, 64 requests at once): {len(busy)} busy replies, "
              f"p50 {pct(busy, 50):.2f} ms, p99 {pct(busy, 99):.2f} ms after sending; {got} replies in all")
        s.close(0)
        if a.soak_s > 0:
            r0 = rss_kb(p.pid)
            t0 = time.time()
            n = 0
            samples = []
            while time.time() - t0 < a.soak_s:
                lat, srv, err, wall = load(ep, 4, 4, img, True)
                n += len(lat) + len(err)
                samples.append(rss_kb(p.pid))
            print(f"soak {a.soak_s} s: {n} requests; RSS start {r0 / 1024:.1f} MiB, after first minute "
                  f"{samples[min(len(samples) - 1, 3)] / 1024:.1f} MiB, end {samples[-1] / 1024:.1f} MiB, "
                  f"max {max(samples) / 1024:.1f} MiB")
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)


if __name__ == "__main__":
    main()
