#!/usr/bin/env python3
"""test_eval.py — `rlaifv eval` on a small JSONL data set: result lines, the summary, pairwise
accuracy, resume (ids already written are skipped), bad lines reported with their numbers and
skipped, images as paths and as base64; and the same results through `--server`.

  test_eval.py --rlaifv BIN --rlaifvd BIN --model DIR --ref-model DIR --work DIR
"""
import argparse
import base64
import json
import os
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
