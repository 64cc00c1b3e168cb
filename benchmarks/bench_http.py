#!/usr/bin/env python3
"""bench_http.py — the HTTP front end's cost against ZeroMQ for the same request, in one run of one daemon.

  bench_http.py --rlaifvd BIN [--seconds 5] [--clients 1,4,16]

Starts rlaifvd on the demo pair with --http-bind; for each client count runs each pair of equivalent
requests, one kind at a time, from that many processes (one keep-alive connection or DEALER each, one
request in flight each) for --seconds, and prints requests/s, p50 and p99 latency:
  zmq ping            vs  http GET /health   (answered by the frontend / by the HTTP thread itself)
  zmq info            vs  http GET /v1/models (both through the frontend's info op)
  zmq score (text)    vs  http POST /v1/score (one candidate, no image: the smallest real job)
"""
import argparse
import http.client
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_daemon import free_port  # noqa: E402

SCORE = {"image": None, "prompt": "Describe the image.", "candidates": ["A yellow circle."]}


def worker(kind, ep, hport, seconds, q):
    lat = []
    if kind.startswith("zmq"):
        s = zmq.Context().socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        body = {"zmq ping": {"v": 1, "id": 1, "op": "ping"}, "zmq info": {"v": 1, "id": 1, "op": "info"},
                "zmq score": dict(SCORE, v=2, id=1, op="score")}[kind]
        raw = msgpack.packb(body, use_bin_type=True)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            s.send(raw)
            rep = msgpack.unpackb(s.recv(), raw=False)
            lat.append(time.perf_counter() - t0)
            assert rep["ok"], rep
    else:
        c = http.client.HTTPConnection("127.0.0.1", hport)
        method, path, body = {"http /health": ("GET", "/health", None), "http /v1/models": ("GET", "/v1/models", None),
                              "http /v1/score": ("POST", "/v1/score", json.dumps(SCORE))}[kind]
        hdrs = {"Content-Type": "application/json"} if body else {}
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            c.request(method, path, body, hdrs)
            r = c.getresponse()
            r.read()
            lat.append(time.perf_counter() - t0)
            assert r.status == 200, r.status
    q.put(lat)


def run(kind, n, ep, hport, seconds):
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(kind, ep, hport, seconds, q)) for _ in range(n)]
    for p in ps:
        p.start()
    lat = sorted(x for _ in ps for x in q.get())
    for p in ps:
        p.join()
    return len(lat) / seconds, lat[len(lat) // 2] * 1e3, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifvd", required=True)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--workers", type=int, default=1)
    a = ap.parse_args()
    zport, hport = free_port(), free_port()
    ep = f"tcp://127.0.0.1:{zport}"
    d = subprocess.Popen([a.rlaifvd, "--bind", ep, "--http-bind", str(hport), "--log-level", "error",
                          "--workers", str(a.workers)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                c = http.client.HTTPConnection("127.0.0.1", hport, timeout=2)
                c.request("GET", "/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        print(f"load average at start: {os.getloadavg()[0]:.2f}; {a.seconds:g} s per row; demo pair, "
              f"{a.workers} worker(s)")
        print("| clients | request | requests/s | p50 ms | p99 ms |\n|---|---|---|---|---|")
        for n in [int(x) for x in a.clients.split(",")]:
            for pair in (("zmq ping", "http /health"), ("zmq info", "http /v1/models"), ("zmq score", "http /v1/score")):
                for kind in pair:
                    rps, p50, p99 = run(kind, n, ep, hport, a.seconds)
                    print(f"| {n} | {kind} | {rps:.0f} | {p50:.3f} | {p99:.3f} |", flush=True)
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(30)
    sys.exit(0)


if __name__ == "__main__":
    main()
