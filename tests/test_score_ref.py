#!/usr/bin/env python3
"""test_score_ref.py — `rlaifv score` (the C engine end to end, from strings through the real
tokenizer files to the ranking) against tests/reference/ref_score.py (a float64 PyTorch
implementation of the scoring pipeline written from the model specification, not the official
RLAIF-V code; tokenised by the real HF tokenizers library).

  test_score_ref.py --rlaifv BIN --model DIR --ref-model DIR --work DIR

Tolerances: per-token log-prob 1e-4 absolute, sums and means 1e-4, rewards 1e-4 absolute;
rankings identical. A real JPEG photo as it is (decoded as Pillow does since issue 14), a PNG, and
jobs without an image; every reward kind; N = 1, 4, 16.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4


def make_images(work):
    rng = np.random.default_rng(3)
    paths = []
    src = os.path.join(HERE, "data", "images", "car_sheep.jpeg")  # a missing photo fails the test
    if not os.path.isfile(src):
        sys.exit(f"test_score_ref: {src} is missing")
    paths.append(src)  # the JPEG bytes themselves: the C decode must be Pillow's
    p = os.path.join(work, "noise_rgba.png")  # odd size, alpha channel: dropped as PIL's convert('RGB')
    Image.fromarray(rng.integers(0, 256, (37, 91, 4), dtype=np.uint8), "RGBA").save(p)
    paths.append(p)
    return paths + [None]  # None: the job without an image


JOBS = [
    ("Why did the car in the picture stop?", ["Because sheep are crossing the road."]),
    ("What is in the image?", ["The image shows a red car.", "A flock of sheep on a road, and a car waiting.",
                               "", "Nothing.\n\nReally nothing at all, 123 !?"]),
    ("<image>\nDescribe the scene in detail.",
     [("A car " * k).strip() + "." for k in range(1, 9)] + ["Sheep.", "Road ahead", "  spaces  ", "ünïcödé ✓",
                                                            "中文的回答", "tab\there", "The end</s>x", "?"]),
]


def shapes_jobs(work):
    """Jobs of the demo model's world (models/scripts/shapes.py, held-out test seed): image, prompt,
    1 truthful + 3 hallucinated answers in mixed phrasings: in-distribution, so log-probs are near 0
    and fp32 holds."""
    sys.path.insert(0, os.path.join(HERE, "..", "models", "scripts"))
    import shapes
    imgs, jobs = [], []
    for k, it in enumerate(shapes.make_items(3, seed=shapes.TEST_SEED, mixed=True)):
        p = os.path.join(work, f"shapes{k}.png")
        it["image"].save(p)
        imgs.append(p)
        jobs.append((it["prompt"], [it["truthful"]] + it["hallucinated"]))
    return imgs, jobs


def run(cmd):
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode:
        raise AssertionError(f"{cmd[:3]} failed: {p.stderr.decode()[-2000:]}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--jobs", choices=["generic", "shapes"], default="generic",
                    help="shapes: each held-out demo-world image with its own question (for models/demo)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    passed = failed = 0
    if a.jobs == "shapes":
        imgs, sj = shapes_jobs(a.work)
        plan = [(img, [job]) for img, job in zip(imgs, sj)] + [(None, sj)]
    else:
        plan = [(img, JOBS) for img in make_images(a.work)]
    for ii, (img, jobs) in enumerate(plan):
        for ji, (prompt, cands) in enumerate(jobs):
            name = f"img{ii}-job{ji}-n{len(cands)}"
            job = os.path.join(a.work, name + ".json")
            exp = os.path.join(a.work, name + ".expected.json")
            json.dump({"image": img, "prompt": prompt, "candidates": cands, "beta": 0.1}, open(job, "w"))
            run([sys.executable, os.path.join(HERE, "reference", "ref_score.py"), "--model", a.model, "--ref-model",
                 a.ref_model, "--job", job, "--out", exp])
            want = json.load(open(exp))["candidates"]
            for reward in ("rlaifv", "dpo", "logp_mean", "logp_sum"):
                try:
                    cmd = [a.rlaifv, "score", "--model", a.model, "--prompt", prompt, "--reward",
                           reward, "--token-logps"] + sum((["--candidate", c] for c in cands), [])
                    if img:
                        cmd += ["--image", img]
                    if reward in ("rlaifv", "dpo") or ji == 1:
                        cmd[4:4] = ["--ref-model", a.ref_model]
                    got = json.loads(run(cmd))
                    has_ref = "--ref-model" in cmd
                    assert got["reward_kind"] == reward and len(got["ranking"]) == len(cands)
                    worst = 0.0
                    for r in got["ranking"]:
                        w = want[r["index"]]
                        assert r["tokens"] == w["tokens"], (r["index"], r["tokens"], w["tokens"])
                        for m in (("policy", "reference") if has_ref else ("policy",)):
                            d = np.abs(np.array(r[m]["token_logps"]) - np.array(w[m])).max()
                            worst = max(worst, d)
                            assert d <= TOL, f"{m} token log-prob off by {d:.2e} (candidate {r['index']})"
                            assert abs(r[m]["logp_sum"] - sum(w[m])) <= TOL
                            assert abs(r[m]["logp_mean"] - sum(w[m]) / w["tokens"]) <= TOL
                        assert abs(r["reward"] - w["reward"][reward]) <= TOL, (r["reward"], w["reward"][reward])
                    order = sorted(range(len(cands)), key=lambda i: (-want[i]["reward"][reward], i))
                    assert [r["index"] for r in got["ranking"]] == order, "ranking differs"
                    print(f"ok   {name} {reward} (worst token log-prob diff {worst:.1e})")
                    passed += 1
                except AssertionError as e:
                    print(f"FAIL {name} {reward}: {e}")
                    failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
