#!/usr/bin/env python3
"""test_cli.py — the command-line grammar of rlaifv and rlaifvd (issue 20): --version on both
binaries and every subcommand; --key=value equals --key value; numbers are checked (an error, not
a default); an endpoint without tcp:// gets a hint (rlaifv call / score, rlaifvd --bind);
`rlaifv call` takes several ops; `score` without --model and --server uses the demo pair as
rlaifvd does; --candidates takes plain lines (models/demo/sample_candidates.txt); `score --text`
never cuts inside a UTF-8 character; rlaifvd serving the demo pair warns and info says demo: true.

  test_cli.py --rlaifv BIN --rlaifvd BIN --demo DIR --model DIR --ref-model DIR
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import free_port, run_cases  # noqa: E402

A = None


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kw)


def free_ep():
    return f"tcp://127.0.0.1:{free_port()}"


def start(*args):
    ep = free_ep()
    p = subprocess.Popen([A.rlaifvd, "--bind", ep, "--log-level", "warn", *args], stderr=subprocess.PIPE, text=True)
    for _ in range(150):
        if run(A.rlaifv, "call", "--server", ep, "--timeout-ms", "300", "ping").returncode == 0:
            return ep, p
        time.sleep(0.2)
    p.kill()
    raise AssertionError("rlaifvd did not start: " + p.stderr.read())


def stop(p):
    p.terminate()
    p.wait(30)
    return p.stderr.read()


def case_version():
    for cmd in ([A.rlaifvd, "--version"], [A.rlaifv, "--version"], [A.rlaifv, "score", "--version"],
                [A.rlaifv, "call", "--version"], [A.rlaifv, "eval", "--version"], [A.rlaifv, "inspect", "--version"]):
        p = run(*cmd)
        assert p.returncode == 0 and p.stdout.split()[1] == "0.1.0", (cmd, p.stdout, p.stderr)


def case_numbers_checked():
    for args in (["--timeout-ms", "abc"], ["--timeout-ms=30s"], ["--timeout-ms", "-1"], ["--retries", "x"]):
        p = run(A.rlaifv, "score", "--server", "tcp://127.0.0.1:1", "--prompt", "p", "--candidate", "c", *args)
        assert p.returncode == 2 and "whole number" in p.stderr, (args, p.stderr)
    for args in (["--blas-threads", "two"], ["--prefix-cache-mb", "1e3"], ["--beta", "abc"]):
        p = run(A.rlaifv, "score", "--prompt", "p", "--candidate", "c", *args)
        assert p.returncode == 2, (args, p.stderr)
    p = run(A.rlaifv, "call", "--server", "tcp://127.0.0.1:1", "--timeout-ms", "abc", "ping")
    assert p.returncode == 2 and "whole number" in p.stderr, p.stderr
    p = run(A.rlaifvd, "--workers", "abc")
    assert p.returncode == 2, p.stderr


def case_endpoint_hints():
    for cmd in ([A.rlaifv, "call", "--server", "127.0.0.1:5555", "ping"],
                [A.rlaifv, "score", "--server", "127.0.0.1:5555", "--prompt", "p", "--candidate", "c"],
                [A.rlaifvd, "--bind", "127.0.0.1:5555"]):
        p = run(*cmd)
        assert p.returncode == 2 and "tcp://127.0.0.1:5555" in p.stderr and "Invalid argument" not in p.stderr \
            and "CurveZMQ" not in p.stderr, (cmd, p.stderr)


def case_demo_default_and_call():
    ep, d = start()
    try:
        p = run(A.rlaifv, "call", f"--server={ep}", "ping", "info", "stats")
        assert p.returncode == 0, p.stderr
        replies = json.loads("[" + p.stdout.replace("}\n{", "},\n{") + "]")
        assert [("pong" in replies[0]), replies[1]["demo"], "uptime_s" in replies[2]] == [True, True, True], replies
        assert replies[1]["models"]["policy"].endswith("demo/policy")
        # score without --model and --server: the same demo pair, the same rewards as through the daemon
        args = ["--image", f"{A.demo}/sample.png", "--prompt=What is in the picture?",
                "--candidates", f"{A.demo}/sample_candidates.txt"]
        off = json.loads(run(A.rlaifv, "score", *args).stdout)
        on = json.loads(run(A.rlaifv, "score", "--server", ep, *args).stdout)
        assert len(off["ranking"]) == 4 == len(open(f"{A.demo}/sample_candidates.txt").read().split("\n")) - 1
        assert [r["index"] for r in off["ranking"]] == [r["index"] for r in on["ranking"]], (off, on)
        for u, v in zip(off["ranking"], on["ranking"]):
            assert abs(u["reward"] - v["reward"]) <= 1e-6, (u, v)
        p = run(A.rlaifv, "call", "--server", ep, "ping", "frobnicate")
        assert p.returncode == 2 and "not an op" in p.stderr
    finally:
        log = stop(d)
    assert "demo pair" in log and "warn" in log.lower(), log
    ep, d = start("--model", A.model, "--ref-model", A.ref_model)
    try:
        info = json.loads(run(A.rlaifv, "call", "--server", ep, "info").stdout)
        assert info["demo"] is False
    finally:
        assert "demo pair" not in stop(d)


def case_candidates_plain_lines_and_text_cut():
    p = run(A.rlaifv, "score", "--prompt", "Q", "--candidates", f"{A.demo}/sample_candidates.txt", "--text")
    assert p.returncode == 0 and p.stdout.count("[") == 4, p.stdout + p.stderr
    euro = "€" * 40  # 120 bytes of 3-byte characters: a cut at 70 bytes falls inside one
    p = subprocess.run([A.rlaifv, "score", "--prompt", "Q", "--candidate", euro, "--text"], capture_output=True)
    assert p.returncode == 0, p.stderr
    line = [l for l in p.stdout.split(b"\n") if b"[0]" in l][0]
    text = line.decode("utf-8")  # raises on a cut character
    assert "€" * 23 + "..." in text, text


CASES = [case_version, case_numbers_checked, case_endpoint_hints, case_demo_default_and_call,
         case_candidates_plain_lines_and_text_cut]


def main():
    global A
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--demo", "--model", "--ref-model"):
        ap.add_argument(k, required=True)
    A = ap.parse_args()
    run_cases(CASES)

if __name__ == "__main__":
    main()
