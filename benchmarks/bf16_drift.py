#!/usr/bin/env python3
"""bf16_drift.py — how far `rlaifv score --compute bf16` lands from the default fp32 on a model
pair: max |delta token log-prob| (policy and reference), max |delta reward| per reward kind, and
how many rankings change. The jobs are test_score_ref.py's (generic: 3 images x 3 jobs; shapes:
held-out demo-world scenes), so the numbers are reproducible.

  bf16_drift.py --rlaifv BIN --model DIR --ref-model DIR --work DIR [--jobs generic|shapes]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
import test_score_ref as tsr  # noqa: E402


def score(a, img, prompt, cands, reward, compute):
    cmd = [a.rlaifv, "score", "--model", a.model, "--ref-model", a.ref_model, "--prompt", prompt, "--reward", reward,
           "--token-logps", "--compute", compute] + sum((["--candidate", c] for c in cands), [])
    if img:
        cmd += ["--image", img]
    p = subprocess.run(cmd, capture_output=True)
    if p.returncode:
        sys.exit(f"{' '.join(cmd[:3])} --compute {compute}: {p.stderr.decode()[-500:]}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--jobs", choices=["generic", "shapes"], default="generic")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    if a.jobs == "shapes":
        imgs, sj = tsr.shapes_jobs(a.work)
        plan = [(img, [job]) for img, job in zip(imgs, sj)] + [(None, sj)]
    else:
        plan = [(img, tsr.JOBS) for img in tsr.make_images(a.work)]
    worst_lp, worst_rw, changed, rankings, tokens, gaps = 0.0, {}, 0, 0, 0, []
    for img, jobs in plan:
        for prompt, cands in jobs:
            for reward in ("rlaifv", "logp_mean"):
                f, b = (score(a, img, prompt, cands, reward, c) for c in ("fp32", "bf16"))
                fb = {r["index"]: r for r in f["ranking"]}
                for r in b["ranking"]:
                    q = fb[r["index"]]
                    for m in ("policy", "reference"):
                        for x, y in zip(r[m]["token_logps"], q[m]["token_logps"]):
                            worst_lp = max(worst_lp, abs(x - y))
                            tokens += 1
                    worst_rw[reward] = max(worst_rw.get(reward, 0.0), abs(r["reward"] - q["reward"]))
                rankings += 1
                if [r["index"] for r in f["ranking"]] != [r["index"] for r in b["ranking"]]:
                    changed += 1  # how close the swapped candidates were under fp32
                    rw = [r["reward"] for r in f["ranking"]]
                    gaps.append(min(abs(x - y) for x, y in zip(rw, rw[1:])))
    print(f"{a.model}: {rankings} rankings ({tokens} token log-probs): max |d token logp| {worst_lp:.3g}; "
          + "; ".join(f"max |d reward {k}| {v:.3g}" for k, v in worst_rw.items())
          + f"; rankings changed {changed}/{rankings}"
          + (f" (each had neighbours within {max(gaps):.2g} of reward under fp32)" if gaps else ""))


if __name__ == "__main__":
    main()
