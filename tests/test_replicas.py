#!/usr/bin/env python3
"""test_replicas.py — several daemons, no lost or duplicated result (issue 22, docs/scaling.md).

Cases: three rlaifvd on loopback (the demo pair) behind `rlaifv eval --server a,b,c` with 6 rows
in flight over 300 rows; one daemon is SIGKILLed once a third of the records are written, and
every row still has exactly one record, whose result equals what a single daemon gives (timing
aside). The same through nginx (a generated config: least_conn, max_fails/fail_timeout,
proxy_next_upstream on errors, timeouts, 502/503/504/429 with non_idempotent) in front of the
three daemons' HTTP front ends, with `rlaifv eval --server http://...`; nginx must have logged the
failed upstream it retried. Against fake daemons (tests/fake_rlaifvd.py): an endpoint that answers every job `busy`
sends them all to the other; a reply that never comes is resent elsewhere after --timeout-ms; a
daemon that answers every job twice still gives one record per row (the copy is dropped by id);
the C client's endpoint-list errors. The Python client (from the source tree) does the same:
Client.score_many over 3 daemons with one SIGKILLed, busy / lost / doubled replies against fakes,
AsyncClient's busy to the other endpoint.

  test_replicas.py --rlaifv BIN --rlaifvd BIN --models DIR --python-client DIR --work DIR --nginx BIN [--only NAME]
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fake_rlaifvd import FakeDaemon  # noqa: E402
from nginx_lb import NginxLB  # noqa: E402
from testlib import RlaifvdProcess, run_cases  # noqa: E402

A = None
N_ROWS = 300


def path(name, fresh=False):
    """A file of the work folder; fresh: removed first (an output the case writes)."""
    p = os.path.join(A.work, name)
    if fresh and os.path.exists(p):
        os.remove(p)
    return p


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def rows_file():
    """N_ROWS rows over 4 images, each with its own prompt (a prefix-cache miss: ~20 ms a row on the
    demo pair, so the run lasts long enough to kill a daemon in its middle)."""
    p = path("rows.jsonl")
    if os.path.exists(p):
        return p
    rng = np.random.default_rng(22)
    imgs = ["sample.png"]
    shutil.copy(os.path.join(A.models, "sample.png"), path("sample.png"))
    for k in range(3):
        Image.fromarray(rng.integers(0, 256, (48 + 8 * k, 64, 3), dtype=np.uint8)).save(path(f"noise{k}.png"))
        imgs.append(f"noise{k}.png")
    cands = [l.strip() for l in open(os.path.join(A.models, "sample_candidates.txt")) if l.strip()]
    with open(p, "w") as f:
        for i in range(N_ROWS):
            f.write(json.dumps({"id": f"r{i}", "image": imgs[i % len(imgs)], "prompt": f"Describe the image ({i}).",
                                "candidates": cands[: 2 + i % 3]}) + "\n")
    return p


def by_id(out):
    """{id: result without timing_ms}; fails if an id has two records."""
    recs = {}
    for line in open(out):
        r = json.loads(line)
        assert r["id"] not in recs, f"{r['id']} has two records"
        res = dict(r["result"])
        res.pop("timing_ms", None)
        recs[r["id"]] = res
    return recs


WANT = {}


def single_daemon_results(ep):
    """The records' results of one daemon (ep) over ZeroMQ for rows_file(), computed once."""
    if not WANT:
        single = path("single.jsonl", fresh=True)
        r = run([A.rlaifv, "eval", "--server", ep, "--in", rows_file(), "--out", single, "--concurrency", "2"])
        assert r.returncode == 0, r.stderr
        WANT.update(by_id(single))
        assert len(WANT) == N_ROWS
    return WANT


def score_ok(ep):
    st = json.loads(run([A.rlaifv, "call", "--server", ep, "stats"], check=True).stdout)
    return st["replies"].get("score.ok", 0)


def eval_killing_one(server, ds, name, log=None):
    """`rlaifv eval --server server --concurrency 6` over rows_file() into name; ds[1] is SIGKILLed
    once a third of the records are written (after it has scored some). Checks one record per row,
    each equal to a single daemon's, and that the other two scored too. Returns the record count
    at the kill. log: a file whose tail explains a failure (nginx's error.log)."""
    want = single_daemon_results(ds[0].ep)
    out = path(name, fresh=True)
    p = subprocess.Popen([A.rlaifv, "eval", "--server", server, "--in", rows_file(), "--out", out, "--concurrency", "6",
                          "--timeout-ms", "120000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = None
    while p.poll() is None:
        n = sum(1 for _ in open(out)) if os.path.exists(out) else 0
        if killed_at is None and n >= N_ROWS // 3:
            assert score_ok(ds[1].ep) > 0, "the daemon to kill has scored nothing yet"
            ds[1].p.send_signal(signal.SIGKILL)
            ds[1].p.wait()
            killed_at = n
        time.sleep(0.01)
    so, se = p.communicate()
    assert p.returncode == 0, se + (open(log).read()[-3000:] if log else "")
    assert killed_at is not None and killed_at < N_ROWS, f"the run ended before the kill ({killed_at})"
    got = by_id(out)
    assert got.keys() == want.keys(), set(want) ^ set(got)
    diff = [k for k in want if got[k] != want[k]]
    assert not diff, (diff[:3], got[diff[0]], want[diff[0]])
    summary = json.loads(so)
    assert summary["items"] == N_ROWS and summary["new_items"] == N_ROWS and not summary.get("errors"), so
    assert score_ok(ds[0].ep) > 0 and score_ok(ds[2].ep) > 0
    return killed_at


def three_daemons(http=False):
    """Three daemons, or none: the ones started are stopped when a later one does not start."""
    ds = []
    try:
        for _ in range(3):
            ds.append(RlaifvdProcess(A.rlaifvd, A.rlaifv, os.path.join(A.models, "policy"),
                                     os.path.join(A.models, "reference"), http=http))
    except BaseException:
        stop_all(ds)
        raise
    return ds


def stop_all(ds):
    for d in ds:
        if d.p.poll() is None:
            d.close()


def case_zmq_kill_one_of_three():
    ds = three_daemons()
    try:
        killed_at = eval_killing_one(",".join(d.ep for d in ds), ds, "three.jsonl")
        print(f"  killed at {killed_at}/{N_ROWS} records; {N_ROWS} records, one per row, equal to one daemon's")
    finally:
        stop_all(ds)


def case_http_nginx_kill_one_of_three():
    ds = three_daemons(http=True)
    hports = [d.http_port for d in ds]
    ng = None
    try:
        ng = NginxLB(A.nginx, path("nginx"), hports)
        log = os.path.join(ng.folder, "error.log")
        killed_at = eval_killing_one(f"http://127.0.0.1:{ng.port}", ds, "nginx.jsonl", log)
        text = open(log).read()
        retried = text.count("while reading response header from upstream") + text.count("connect() failed")
        assert retried > 0, "nginx never met the killed daemon: " + text[-2000:]
        print(f"  killed at {killed_at}/{N_ROWS} records; {N_ROWS} records, one per row, equal to one daemon's over "
              f"ZeroMQ; nginx logged {retried} upstream failures")
    finally:
        if ng:
            ng.close()
        stop_all(ds)


def fake_rows(n):
    p = path(f"fake{n}.jsonl")
    with open(p, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "image": None, "prompt": f"p{i}", "candidates": ["a", "b", "c"]}) + "\n")
    return p


def eval_fakes(fakes, n, *extra):
    out = path("fake_out.jsonl", fresh=True)
    r = run([A.rlaifv, "eval", "--server", ",".join(f.ep for f in fakes), "--in", fake_rows(n), "--out", out, *extra])
    assert r.returncode == 0, r.stderr
    recs = [json.loads(l) for l in open(out)]
    assert [x["id"] for x in recs] == list(range(n)), [x["id"] for x in recs]
    assert all(x["result"]["ranking"][0]["index"] == 2 for x in recs)
    return recs


def case_busy_goes_to_the_other_endpoint():
    busy, good = FakeDaemon(workers=2, busy_all=True), FakeDaemon(workers=2)
    try:
        eval_fakes([busy, good], 40, "--concurrency", "4")
        assert busy.busy_sent > 0 and busy.scores == 0 and good.scores == 40, (busy.busy_sent, good.scores)
        # both busy: the row fails with busy after eval's own backoff (8 tries)
        busy2 = FakeDaemon(workers=1, busy_all=True)
        try:
            out = path("busy_out.jsonl", fresh=True)
            r = run([A.rlaifv, "eval", "--server", f"{busy.ep},{busy2.ep}", "--in", fake_rows(1), "--out", out])
            assert r.returncode == 3 and "[busy]" in r.stderr, (r.returncode, r.stderr)
            assert busy2.busy_sent == 8, busy2.busy_sent
        finally:
            busy2.close()
    finally:
        busy.close()
        good.close()


def case_lost_reply_resent_elsewhere():
    a, b = FakeDaemon(workers=1, drop_once=[f"p{i}" for i in range(12)]), FakeDaemon(workers=1)
    try:
        eval_fakes([a, b], 12, "--concurrency", "1", "--timeout-ms", "500")
        assert a.dropped > 0 and a.scores + b.scores == 12, (a.dropped, a.scores, b.scores)
    finally:
        a.close()
        b.close()


def case_duplicate_reply_dropped():
    a, b = FakeDaemon(workers=1, twice=True), FakeDaemon(workers=1, twice=True)
    try:
        for conc in ("1", "4"):
            a.reset_counts()
            b.reset_counts()
            eval_fakes([a, b], 30, "--concurrency", conc)
            assert a.scores + b.scores == 30 and a.scores and b.scores, (a.scores, b.scores)
    finally:
        a.close()
        b.close()


def case_endpoint_list_errors():
    good = FakeDaemon(workers=1)
    try:
        r = run([A.rlaifv, "call", "--server", f"{good.ep},127.0.0.1:9", "ping"])
        assert r.returncode == 2 and "write tcp://127.0.0.1:9" in r.stderr, r.stderr
        r = run([A.rlaifv, "call", "--server", f"{good.ep},", "ping"])
        assert r.returncode == 2 and "is empty" in r.stderr, r.stderr
        r = run([A.rlaifv, "call", "--server", ",".join([good.ep] * 17), "ping"])
        assert r.returncode == 2 and "more than 16 endpoints" in r.stderr, r.stderr
        # a daemon that is down: the op goes to the one that is up
        for _ in range(4):
            r = run([A.rlaifv, "call", "--server", f"tcp://127.0.0.1:9,{good.ep}", "--timeout-ms", "3000", "ping"])
            assert r.returncode == 0, r.stderr
        r = run([A.rlaifv, "score", "--server", f"tcp://127.0.0.1:9,{good.ep}", "--prompt", "x", "--candidate", "a",
                 "--candidate", "b"])
        assert r.returncode == 0 and json.loads(r.stdout)["ranking"][0]["index"] == 1, r.stderr
    finally:
        good.close()


def client_module():
    sys.path.insert(0, A.python_client)
    import rlaifv_client
    return rlaifv_client


def case_python_kill_one_of_three():
    rc = client_module()
    ds = three_daemons()
    try:
        rows_file()
        jobs = [{"image": path(r["image"]), "prompt": r["prompt"], "candidates": r["candidates"]}
                for r in map(json.loads, open(path("rows.jsonl")))]
        box = {}

        def scorer():
            with rc.Client([d.ep for d in ds], timeout=120) as c:
                box["res"] = c.score_many(jobs, concurrency=6)
        t = threading.Thread(target=scorer)
        t.start()
        # the daemons are all cold (the reference comes after), so each takes about a third of the rows
        while t.is_alive() and score_ok(ds[1].ep) < N_ROWS // 30:
            time.sleep(0.01)
        assert t.is_alive(), "the run ended before the kill"
        on_victim = score_ok(ds[1].ep)
        ds[1].p.send_signal(signal.SIGKILL)
        ds[1].p.wait()
        t.join()
        got = [r.ranking for r in box["res"]]
        with rc.Client(ds[0].ep, timeout=120) as c:
            want = [r.ranking for r in c.score_many(jobs, concurrency=2)]
        assert len(got) == N_ROWS and got == want, [i for i in range(N_ROWS) if got[i] != want[i]][:5]
        print(f"  killed after {on_victim} rows scored there; {N_ROWS} results equal to one daemon's")
    finally:
        stop_all(ds)


def case_python_fakes():
    rc = client_module()
    try:
        rc.Client(["tcp://127.0.0.1:9", "127.0.0.1:10"])
        raise AssertionError("no ValueError")
    except ValueError as e:
        assert "write 'tcp://127.0.0.1:10'" in str(e), e
    jobs = [(None, f"p{i}", ["a", "b", "c"]) for i in range(30)]
    busy, good = FakeDaemon(workers=2, busy_all=True), FakeDaemon(workers=2)
    try:
        with rc.Client(f"{busy.ep},{good.ep}", timeout=10) as c:
            assert all(r.best.index == 2 for r in c.score_many(jobs, concurrency=4))
        assert busy.busy_sent > 0 and good.scores == 30, (busy.busy_sent, good.scores)
        good.reset_counts()

        async def amany():
            async with rc.AsyncClient([busy.ep, good.ep], timeout=10) as c:
                return await c.score_many(jobs, concurrency=4)
        assert all(r.best.index == 2 for r in asyncio.run(amany())) and good.scores == 30, good.scores
    finally:
        busy.close()
        good.close()
    a, b = FakeDaemon(workers=1, twice=True, drop_once=[f"p{i}" for i in range(0, 30, 3)]), FakeDaemon(workers=1, twice=True)
    try:
        with rc.Client([a.ep, b.ep], timeout=0.5) as c:
            res = c.score_many(jobs, concurrency=3)
            assert len(res) == 30 and all(r.best.index == 2 for r in res)
            assert a.dropped > 0 and a.scores + b.scores == 30, (a.dropped, a.scores, b.scores)
            assert c.score(None, "one", ["x", "y"]).best.index == 1  # the copies of the batch were dropped
    finally:
        a.close()
        b.close()


def case_http_client_errors():
    """The C client over HTTP against a stand-in server: the API key is sent, the daemon's JSON error
    is its code, a proxy's HTML 502 page is a client_error that shows the status, and the options
    HTTP cannot take are refused."""
    import http.server
    key = "k" * 32

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, body, ctype="application/json"):
            b = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def do_GET(self):
            if self.headers.get("Authorization") != f"Bearer {key}":
                return self.answer(401, '{"error": {"code": "unauthorized", "message": "no key"}}')
            self.answer(200, '{"status": "ok"}')

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.answer(502, "<html><head><title>502 Bad Gateway</title></head></html>", "text/html")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        with open(path("api.key"), "w") as f:
            f.write(key + "\n")
        r = run([A.rlaifv, "call", "--server", url, "--api-key-file", path("api.key"), "ping"])
        assert r.returncode == 0 and json.loads(r.stdout) == {"status": "ok"}, (r.stdout, r.stderr)
        r = run([A.rlaifv, "call", "--server", url, "ping"])
        assert r.returncode == 1 and "no key [unauthorized]" in r.stderr, r.stderr
        r = run([A.rlaifv, "score", "--server", url, "--prompt", "x", "--candidate", "a"])
        assert r.returncode == 1 and "HTTP 502 from" in r.stderr and "[client_error]" in r.stderr, r.stderr
        r = run([A.rlaifv, "call", "--server", f"{url},tcp://127.0.0.1:9", "ping"])
        assert r.returncode == 1 and "stands alone" in r.stderr, r.stderr
        r = run([A.rlaifv, "call", "--server", url, "--server-key", path("api.key"), "--client-key", path("api.key"), "ping"])
        assert r.returncode == 1 and "CurveZMQ" in r.stderr, r.stderr
        r = run([A.rlaifv, "call", "--server", url, "--api-key-file", path("api.key"), "stats"])
        assert r.returncode == 1 and "GET /metrics" in r.stderr, r.stderr
        r = run([A.rlaifv, "score", "--server", "http://127.0.0.1:9", "--prompt", "x", "--candidate", "a"])
        assert r.returncode == 1 and "[client_error]" in r.stderr, r.stderr
    finally:
        srv.shutdown()


CASES = [case_zmq_kill_one_of_three, case_http_nginx_kill_one_of_three, case_python_kill_one_of_three, case_python_fakes, case_busy_goes_to_the_other_endpoint, case_lost_reply_resent_elsewhere,
         case_duplicate_reply_dropped, case_endpoint_list_errors, case_http_client_errors]


def main():
    global A
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--models", "--python-client", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--nginx", default="nginx")
    ap.add_argument("--only", default="")
    A = ap.parse_args()
    os.makedirs(A.work, exist_ok=True)
    for f in (A.rlaifv, A.rlaifvd, os.path.join(A.models, "policy"), os.path.join(A.models, "sample.png")):
        assert os.path.exists(f), f"missing: {f}"
    run_cases(CASES, A.only)


if __name__ == "__main__":
    main()
