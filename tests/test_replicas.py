#!/usr/bin/env python3
"""test_replicas.py — several daemons, no lost or duplicated result (issue 22, docs/scaling.md).

Cases: three rlaifvd on loopback (the demo pair) behind `rlaifv eval --server a,b,c` with 6 rows
in flight over 300 rows; one daemon is SIGKILLed once a third of the records are written, and
every row still has exactly one record, whose result equals what a single daemon gives (timing
aside). Against fake daemons (tests/fake_rlaifvd.py): an endpoint that answers every job `busy`
sends them all to the other; a reply that never comes is resent elsewhere after --timeout-ms; a
daemon that answers every job twice still gives one record per row (the copy is dropped by id);
the C client's endpoint-list errors. The Python client (from the source tree) does the same:
Client.score_many over 3 daemons with one SIGKILLed, busy / lost / doubled replies against fakes,
AsyncClient's busy to the other endpoint.

  test_replicas.py --rlaifv BIN --rlaifvd BIN --models DIR --python-client DIR --work DIR [--only NAME]
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


def score_ok(ep):
    st = json.loads(run([A.rlaifv, "call", "--server", ep, "stats"], check=True).stdout)
    return st["replies"].get("score.ok", 0)


def kill_in_the_middle(cmd, out, victim, at):
    """Runs cmd (an eval writing out) and SIGKILLs the process victim once `at` records are written
    (after checking that it has scored some). Returns (the eval's CompletedProcess-like tuple, the
    number of records when the kill came)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at = None
    while p.poll() is None:
        n = sum(1 for _ in open(out)) if os.path.exists(out) else 0
        if killed_at is None and n >= at:
            assert score_ok(victim.ep) > 0, "the daemon to kill has scored nothing yet"
            victim.p.send_signal(signal.SIGKILL)
            victim.p.wait()
            killed_at = n
        time.sleep(0.01)
    so, se = p.communicate()
    return (p.returncode, so, se), killed_at


def case_zmq_kill_one_of_three():
    rows = rows_file()
    ds = [RlaifvdProcess(A.rlaifvd, A.rlaifv, os.path.join(A.models, "policy"), os.path.join(A.models, "reference"))
          for _ in range(3)]
    try:
        single = path("single.jsonl", fresh=True)
        r = run([A.rlaifv, "eval", "--server", ds[0].ep, "--in", rows, "--out", single, "--concurrency", "2"])
        assert r.returncode == 0, r.stderr
        want = by_id(single)
        assert len(want) == N_ROWS
        out = path("three.jsonl", fresh=True)
        cmd = [A.rlaifv, "eval", "--server", ",".join(d.ep for d in ds), "--in", rows, "--out", out,
               "--concurrency", "6", "--timeout-ms", "120000"]
        (rc, so, se), killed_at = kill_in_the_middle(cmd, out, ds[1], N_ROWS // 3)
        assert rc == 0, se
        assert killed_at is not None and killed_at < N_ROWS, f"the run ended before the kill ({killed_at})"
        got = by_id(out)
        assert got.keys() == want.keys(), set(want) ^ set(got)
        diff = [k for k in want if got[k] != want[k]]
        assert not diff, (diff[:3], got[diff[0]], want[diff[0]])
        summary = json.loads(so)
        assert summary["items"] == N_ROWS and summary["new_items"] == N_ROWS and not summary.get("errors"), so
        assert score_ok(ds[0].ep) > 0 and score_ok(ds[2].ep) > 0
        print(f"  killed at {killed_at}/{N_ROWS} records; {N_ROWS} records, one per row, equal to one daemon's")
    finally:
        for d in ds:
            if d.p.poll() is None:
                d.close()


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
    ds = [RlaifvdProcess(A.rlaifvd, A.rlaifv, os.path.join(A.models, "policy"), os.path.join(A.models, "reference"))
          for _ in range(3)]
    try:
        rows_file()
        jobs = [{"image": path(r["image"]), "prompt": r["prompt"], "candidates": r["candidates"]}
                for r in map(json.loads, open(path("rows.jsonl")))]
        with rc.Client(ds[0].ep, timeout=120) as c:
            want = [r.ranking for r in c.score_many(jobs, concurrency=2)]
        box = {}

        def scorer():
            with rc.Client([d.ep for d in ds], timeout=120) as c:
                box["res"] = c.score_many(jobs, concurrency=6)
        t = threading.Thread(target=scorer)
        t.start()
        while t.is_alive() and score_ok(ds[1].ep) < N_ROWS // 9:
            time.sleep(0.01)
        assert t.is_alive(), "the run ended before the kill"
        ds[1].p.send_signal(signal.SIGKILL)
        ds[1].p.wait()
        t.join()
        got = [r.ranking for r in box["res"]]
        assert len(got) == N_ROWS and got == want, [i for i in range(N_ROWS) if got[i] != want[i]][:5]
    finally:
        for d in ds:
            if d.p.poll() is None:
                d.close()


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


CASES = [case_zmq_kill_one_of_three, case_python_kill_one_of_three, case_python_fakes, case_busy_goes_to_the_other_endpoint, case_lost_reply_resent_elsewhere,
         case_duplicate_reply_dropped, case_endpoint_list_errors]


def main():
    global A
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--models", "--python-client", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--only", default="")
    A = ap.parse_args()
    os.makedirs(A.work, exist_ok=True)
    for f in (A.rlaifv, A.rlaifvd, os.path.join(A.models, "policy"), os.path.join(A.models, "sample.png")):
        assert os.path.exists(f), f"missing: {f}"
    run_cases(CASES, A.only)


if __name__ == "__main__":
    main()
