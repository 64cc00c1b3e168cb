#!/usr/bin/env python3
"""test_python_client.py — the Python client (clients/python) as its users install it: builds the
wheel, installs it into a fresh virtual environment (pip install --no-build-isolation --no-index;
pyzmq, msgpack and Pillow come from the system), and runs the cases below with that interpreter,
importing the installed package, against a real rlaifvd and a fake one (tests/fake_rlaifvd.py).

Cases: candidates given as a str (or any non-list) are a TypeError, never one candidate per
character; the image as bytes, a path (str / os.PathLike) or a PIL image scores the same, None is
text only; an endpoint without tcp:// gets a ValueError that says so; rewards in input order, best,
rerank(top_n); score_many keeps k requests in flight and returns job order; busy is retried with
backoff by default, a lost reply with timeout_retries; the same for AsyncClient; the version is the
project's (include/rlaifv.h), py.typed is installed.

  test_python_client.py --rlaifvd BIN --rlaifv BIN --model DIR --ref-model DIR --source DIR --work DIR
"""
import argparse
import asyncio
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
A = None
rlaifv_client = None
PROMPT = "What is in the picture?"
CANDS = ["Random coloured noise.", "A red car on a road.", "", "Two dogs."]


def install_and_reexec():
    """Builds and installs the package into work/venv, then reruns this script there."""
    venv = os.path.join(A.work, "venv")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    src = os.path.join(A.work, "src")  # a copy: the build must not write into the source tree
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(A.source, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    wheels = os.path.join(A.work, "wheels")
    shutil.rmtree(wheels, ignore_errors=True)
    p = subprocess.run([py, "-m", "pip", "wheel", "--no-build-isolation", "--no-index", "--no-deps", "-w", wheels, src],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    whl = [f for f in os.listdir(wheels) if f.endswith(".whl")]
    assert len(whl) == 1, whl
    p = subprocess.run([py, "-m", "pip", "install", "--no-index", "--no-deps", os.path.join(wheels, whl[0])],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    args = [py, os.path.abspath(__file__), "--installed"]
    for k in ("rlaifvd", "rlaifv", "model", "ref_model", "source", "work"):
        args += ["--" + k.replace("_", "-"), os.path.abspath(getattr(A, k))]
    # run from the work folder so the source tree's clients/python is not on the path
    return subprocess.run(args, cwd=A.work).returncode


def image_png():
    import numpy as np
    from PIL import Image
    p = os.path.join(A.work, "img.png")
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (36, 44, 3), dtype=np.uint8)).save(p)
    return p


DAEMON = None


def case_installed_package():
    assert A.work in os.path.abspath(rlaifv_client.__file__) and "venv" in rlaifv_client.__file__, rlaifv_client.__file__
    h = open(os.path.join(HERE, "..", "include", "rlaifv.h")).read()
    assert rlaifv_client.__version__ == re.search(r'#define RLV_VERSION "([^"]+)"', h).group(1)
    assert os.path.exists(os.path.join(os.path.dirname(rlaifv_client.__file__), "py.typed"))
    from importlib import metadata
    assert metadata.version("rlaifv-client") == rlaifv_client.__version__


def case_candidates_must_be_a_list():
    with rlaifv_client.Client(DAEMON.ep, timeout=30) as c:
        for bad in ("one answer", b"bytes", {"a": 1}, (x for x in ["a"]), {"a"}, None, 3):
            try:
                c.score(None, PROMPT, bad)
                raise AssertionError(f"{type(bad).__name__} accepted")
            except TypeError as e:
                assert "list of str" in str(e), e
        try:
            c.score(None, PROMPT, ["ok", 3])
            raise AssertionError("an int candidate accepted")
        except TypeError as e:
            assert "candidates[1]" in str(e)
        assert len(c.score(None, PROMPT, ("a", "b")).ranking) == 2  # a tuple is fine
        assert c.stats()["replies"].get("score.ok", 0) == 1  # nothing else was sent


def case_image_kinds():
    from PIL import Image
    path = image_png()
    with rlaifv_client.Client(DAEMON.ep, timeout=30) as c:
        ref = c.score(open(path, "rb").read(), PROMPT, CANDS).rewards
        for img in (path, pathlib.Path(path), Image.open(path), bytearray(open(path, "rb").read())):
            assert c.score(img, PROMPT, CANDS).rewards == ref, type(img)
        text = c.score(None, PROMPT, CANDS).rewards
        assert text != ref and len(text) == 4
        try:
            c.score(12, PROMPT, CANDS)
            raise AssertionError("int image accepted")
        except TypeError:
            pass


def case_endpoint_needs_transport():
    for cls in (rlaifv_client.Client, rlaifv_client.AsyncClient):
        try:
            cls("127.0.0.1:5555")
            raise AssertionError("accepted")
        except ValueError as e:
            assert "tcp://127.0.0.1:5555" in str(e), e


def case_result_helpers():
    with rlaifv_client.Client(DAEMON.ep, timeout=30) as c:
        res = c.score(image_png(), PROMPT, CANDS)
    by_index = {r.index: r.reward for r in res.ranking}
    assert res.rewards == [by_index[i] for i in range(4)]
    assert res.best is res.ranking[0] and res.best.reward == max(res.rewards)
    assert res.rerank() == [CANDS[r.index] for r in res.ranking] and res.rerank(2) == res.rerank()[:2]
    assert res.candidates == CANDS


def case_score_many_real():
    path = image_png()
    jobs = [(path, PROMPT, CANDS[: k + 1]) for k in range(4)] + [{"image": None, "prompt": "Hi", "candidates": ["a", "b"]}]
    with rlaifv_client.Client(DAEMON.ep, timeout=30) as c:
        one = [c.score(*j).rewards if isinstance(j, tuple) else c.score(**j).rewards for j in jobs]
        many = c.score_many(jobs, concurrency=3)
        assert [r.rewards for r in many] == one
        out = c.score_many([(b"", PROMPT, ["x"]), (path, PROMPT, ["y"])], concurrency=2, return_exceptions=True)
        assert isinstance(out[0], rlaifv_client.RlaifvError) and out[0].code == "bad_image" and out[1].rewards


def case_score_many_in_flight_and_retries():
    from fake_rlaifvd import FakeDaemon
    fake = FakeDaemon(workers=3, busy_once=["p2", "p5"])
    try:
        jobs = [(None, f"p{i}", ["a", "b", "c"]) for i in range(12)]
        with rlaifv_client.Client(fake.ep, timeout=10) as c:
            res = c.score_many(jobs, concurrency=3)
            assert fake.max_in_flight == 3 and fake.busy_sent == 2, (fake.max_in_flight, fake.busy_sent)
            assert [r.candidates for r in res] == [j[2] for j in jobs] and all(r.rerank(1) == ["c"] for r in res)
            fake.reset_counts()
            c.score_many(jobs, concurrency=1)
            assert fake.max_in_flight == 1
        # busy: retried by default, an error with busy_retries=0
        fake.busy_once = {"q"}
        with rlaifv_client.Client(fake.ep, timeout=10) as c:
            assert c.score(None, "q", ["x"]).best.index == 0
        fake.busy_once = {"q"}
        with rlaifv_client.Client(fake.ep, timeout=10, busy_retries=0) as c:
            try:
                c.score(None, "q", ["x"])
                raise AssertionError("busy not raised")
            except rlaifv_client.RlaifvError as e:
                assert e.code == "busy"
        # a lost reply: Timeout, or a second try with timeout_retries
        fake.drop_once = {"lost"}
        with rlaifv_client.Client(fake.ep, timeout=0.8) as c:
            try:
                c.score(None, "lost", ["x"])
                raise AssertionError("no timeout")
            except rlaifv_client.Timeout:
                pass
        fake.drop_once = {"lost"}
        with rlaifv_client.Client(fake.ep, timeout=0.8, timeout_retries=1) as c:
            assert c.score(None, "lost", ["x"]).rewards == [0.0]

        async def run_async():
            fake.reset_counts()
            fake.workers = 4
            fake.busy_once = {"p1"}
            async with rlaifv_client.AsyncClient(fake.ep, timeout=10) as ac:
                res = await ac.score_many(jobs, concurrency=4)
                assert fake.max_in_flight == 4 and fake.busy_sent == 1, (fake.max_in_flight, fake.busy_sent)
                assert [r.candidates for r in res] == [j[2] for j in jobs]
                try:
                    await ac.score(None, "p", "abc")
                    raise AssertionError("str candidates accepted")
                except TypeError:
                    pass
            fake.drop_once = {"lost"}
            async with rlaifv_client.AsyncClient(fake.ep, timeout=0.8, timeout_retries=1) as ac:
                assert (await ac.score(None, "lost", ["x", "y"])).rewards == [0.0, 1.0]
            fake.busy_once = {"q"}
            async with rlaifv_client.AsyncClient(fake.ep, timeout=10, busy_retries=0) as ac:
                try:
                    await ac.score(None, "q", ["x"])
                    raise AssertionError("busy not raised")
                except rlaifv_client.RlaifvError as e:
                    assert e.code == "busy"
        asyncio.run(run_async())
    finally:
        fake.close()


CASES = [case_installed_package, case_candidates_must_be_a_list, case_image_kinds, case_endpoint_needs_transport,
         case_result_helpers, case_score_many_real, case_score_many_in_flight_and_retries]


def main():
    global A, rlaifv_client, DAEMON
    ap = argparse.ArgumentParser()
    for k in ("--rlaifvd", "--rlaifv", "--model", "--ref-model", "--source", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--installed", action="store_true")
    A = ap.parse_args()
    A.work = os.path.abspath(A.work)
    os.makedirs(A.work, exist_ok=True)
    if not A.installed:
        sys.exit(install_and_reexec())
    sys.path.append(HERE)  # fake_rlaifvd, testlib
    import rlaifv_client as rc
    rlaifv_client = rc
    from testlib import RlaifvdProcess
    DAEMON = RlaifvdProcess(A.rlaifvd, A.rlaifv, A.model, A.ref_model, "--workers", "2")
    from testlib import run_cases
    try:
        run_cases(CASES)
    finally:
        DAEMON.close()

if __name__ == "__main__":
    main()
