#!/usr/bin/env python3
"""test_eval.py — `rlaifv eval` on a small JSONL data set: result lines, the summary, pairwise
accuracy, resume (ids already written are skipped), bad lines reported with their numbers and
skipped, images as paths and as base64; and the same results through `--server`. Output durability
(issue 18): a full disk exits 1 without claiming unwritten items, a partial last line is cut before
resuming, and runs killed with SIGKILL at random moments resume to whole lines with each item once.

  test_eval.py --rlaifv BIN --rlaifvd BIN --model DIR --ref-model DIR --work DIR
"""
import argparse
import base64
import json
import os
import random
import socket
import subprocess
import sys
import time

import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    img = os.path.join(a.work, "img.png")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(img)
    b64 = base64.b64encode(open(img, "rb").read()).decode()
    lines = [
        json.dumps({"id": "a", "image": "img.png", "prompt": "What is it?", "candidates": ["A cat.", "A dog.", "Noise."]}),
        json.dumps({"id": 2, "image": b64, "question": "Describe it.", "chosen": "Random noise.", "rejected": "A red car."}),
        json.dumps({"id": "c", "image": "img.png"}),
        "{not json",
        json.dumps({"id": "d", "image": "data:image/png;base64," + b64, "prompt": "Colours?",
                    "chosen": "Many colours.", "rejected": "Only blue."}),
    ]
    inp = os.path.join(a.work, "in.jsonl")
    open(inp, "w").write("\n".join(lines) + "\n")
    out = os.path.join(a.work, "out.jsonl")
    if os.path.exists(out):
        os.remove(out)
    base = [a.rlaifv, "eval", "--model", a.model, "--ref-model", a.ref_model, "--in", inp, "--out", out]
    p = subprocess.run(base, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["items"] == 3 and summary["bad_lines"] == 2 and summary["pairs"] == 2, summary
    assert ":3: no 'prompt'" in p.stderr and ":4:" in p.stderr, p.stderr
    recs = [json.loads(l) for l in open(out)]
    assert [r["id"] for r in recs] == ["a", 2, "d"]
    assert len(recs[0]["result"]["ranking"]) == 3 and "chosen_wins" in recs[1]
    acc = sum(r["chosen_wins"] for r in recs[1:]) / 2
    assert abs(summary["pairwise_accuracy"] - acc) < 1e-9
    # Resume: nothing new to do.
    p = subprocess.run(base, capture_output=True, text=True)
    s2 = json.loads(p.stdout)
    assert s2["items"] == 0 and s2["skipped_done"] == 3, s2
    assert len(open(out).read().splitlines()) == 3
    # A full disk: exit 1, and the summary counts no item it did not write.
    p = subprocess.run(base[:-1] + ["/dev/full"], capture_output=True, text=True)
    s3 = json.loads(p.stdout)
    assert p.returncode == 1 and s3["items"] == 0 and s3.get("write_error") is True, (p.returncode, p.stdout, p.stderr)
    assert "No space left" in p.stderr, p.stderr
    # A run killed mid-write leaves a partial last line: resume cuts it and redoes that item.
    whole = open(out).read().splitlines(keepends=True)
    open(out, "w").write(whole[0] + whole[1] + whole[2][: len(whole[2]) // 2])
    p = subprocess.run(base, capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["items"] == 1, (p.stdout, p.stderr)
    assert "partial last line" in p.stderr, p.stderr
    assert [json.loads(l)["id"] for l in open(out)] == ["a", 2, "d"]
    # SIGKILL at random moments of a longer run, resumed each time: whole lines, each item once.
    many = os.path.join(a.work, "many.jsonl")
    n = 60
    with open(many, "w") as f:
        for i in range(n):
            f.write(json.dumps({"id": i, "image": "img.png", "prompt": "What is it?",
                                "candidates": [f"A cat number {i} sitting " * 6] * 8}) + "\n")
    out3 = os.path.join(a.work, "out_killed.jsonl")
    if os.path.exists(out3):
        os.remove(out3)
    base3 = base[:-4] + ["--in", many, "--out", out3]
    rnd = random.Random(11)
    for _ in range(6):
        q = subprocess.Popen(base3, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.1, 0.6))
        q.kill()
        q.wait()
    p = subprocess.run(base3, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    text = open(out3).read()
    assert text.endswith("\n"), text[-200:]
    ids = [json.loads(l)["id"] for l in text.splitlines()]
    assert sorted(ids) == list(range(n)), (len(ids), len(set(ids)))
    # The same through the daemon.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = subprocess.Popen([a.rlaifvd, "--model", a.model, "--ref-model", a.ref_model, "--bind",
                          f"tcp://127.0.0.1:{port}", "--log-level", "error"])
    try:
        for _ in range(100):
            if subprocess.run([a.rlaifv, "call", "--server", f"tcp://127.0.0.1:{port}", "--timeout-ms", "300", "ping"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        out2 = os.path.join(a.work, "out_server.jsonl")
        if os.path.exists(out2):
            os.remove(out2)
        p = subprocess.run([a.rlaifv, "eval", "--server", f"tcp://127.0.0.1:{port}", "--in", inp, "--out", out2],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        r2 = [json.loads(l) for l in open(out2)]
        for x, y in zip(recs, r2):
            assert x["id"] == y["id"]
            for u, v in zip(x["result"]["ranking"], y["result"]["ranking"]):
                assert u["index"] == v["index"] and abs(u["reward"] - v["reward"]) <= 1e-6 * max(1, abs(u["reward"]))
    finally:
        d.terminate()
        d.wait(30)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError:
        import traceback
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
