#!/usr/bin/env python3
"""bench_replicas.py — rows/s of `rlaifv eval` through 1, 2 and 3 daemons (demo pair, 1 worker and
1 BLAS thread each) by each path of docs/scaling.md: the ZeroMQ endpoint list
(`--server tcp://a,tcp://b,...`) and nginx in front of the daemons' HTTP front ends
(`--server http://nginx`); with one daemon also HTTP straight to it, the nginx hop's cost.

  bench_replicas.py --rlaifv BIN --rlaifvd BIN --models DIR [--nginx nginx] [--rows 300]
                    [--concurrency 6] [--work DIR]

Two workloads: `distinct` (each row its own prompt over 4 images: a prefix-cache miss, ~20 ms of
compute a row) and `cached` (one image and prompt, two short candidates: cache hits, ~1 ms: the
transport and client dominate). Every run writes a fresh output; the figure is the summary's
items_per_s. On a machine with fewer cores than daemons x workers this measures the overhead of
each path, not scaling.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests")
sys.path.insert(0, TESTS)
from nginx_lb import NginxLB  # noqa: E402
from testlib import RlaifvdProcess, free_port  # noqa: E402


def write_rows(work, models, n, kind, tag):
    """kind distinct: prompts carry tag, so no run finds another's prefixes in a daemon's cache."""
    rng = np.random.default_rng(22)
    imgs = ["sample.png"]
    shutil.copy(os.path.join(models, "sample.png"), os.path.join(work, "sample.png"))
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (48 + 8 * k, 64, 3), dtype=np.uint8)).save(os.path.join(work, f"noise{k}.png"))
        imgs.append(f"noise{k}.png")
    cands = [l.strip() for l in open(os.path.join(models, "sample_candidates.txt")) if l.strip()]
    p = os.path.join(work, f"{kind}-{tag}.jsonl")
    with open(p, "w") as f:
        for i in range(n):
            if kind == "distinct":
                row = {"id": i, "image": imgs[i % 4], "prompt": f"Describe the image ({tag}-{i}).", "candidates": cands[: 2 + i % 3]}
            else:
                row = {"id": i, "image": "sample.png", "prompt": "Describe the image.", "candidates": ["A circle.", "A square."]}
            f.write(json.dumps(row) + "\n")
    return p


def eval_rate(a, server, kind, tag, work):
    rows = write_rows(work, a.models, a.rows, kind, tag)
    out = os.path.join(work, "out.jsonl")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([a.rlaifv, "eval", "--server", server, "--in", rows, "--out", out, "--concurrency",
                        str(a.concurrency)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["items"] == a.rows and not s.get("errors"), r.stdout
    return s["items_per_s"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifv", required=True)
    ap.add_argument("--rlaifvd", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=6)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="bench_replicas.")
    os.makedirs(work, exist_ok=True)
    print(f"rows {a.rows}, --concurrency {a.concurrency}, load average before: {os.getloadavg()[0]:.2f}")
    print("| daemons | workload | ZeroMQ list rows/s | nginx HTTP rows/s | HTTP direct rows/s |")
    print("|---|---|---|---|---|")
    for n in (1, 2, 3):
        hports = [free_port() for _ in range(n)]
        ds = [RlaifvdProcess(a.rlaifvd, a.rlaifv, os.path.join(a.models, "policy"), os.path.join(a.models, "reference"),
                             "--workers", "1", "--blas-threads", "1", "--http-bind", f"127.0.0.1:{hp}") for hp in hports]
        ng = None
        try:
            ng = NginxLB(a.nginx, os.path.join(work, "nginx"), hports, access_log=False)
            for kind in ("distinct", "cached"):
                zmq = eval_rate(a, ",".join(d.ep for d in ds), kind, f"{n}zmq", work)
                lb = eval_rate(a, f"http://127.0.0.1:{ng.port}", kind, f"{n}nginx", work)
                direct = eval_rate(a, f"http://127.0.0.1:{hports[0]}", kind, f"{n}http", work) if n == 1 else None
                print(f"| {n} | {kind} | {zmq:.1f} | {lb:.1f} | {'' if direct is None else f'{direct:.1f}'} |", flush=True)
        finally:
            if ng:
                ng.close()
            for d in ds:
                d.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
