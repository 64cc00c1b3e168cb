#!/usr/bin/python3
"""q8_score_drift.py — drift of the engine's scores with q8 weights against the bf16 weights they
were converted from (issue 16), end to end: `rlaifv score` on a random policy/reference pair,
then on the pair converted with `rlaifv convert --quantize q8`, over N random jobs.

Weights have realistic outliers (as benchmarks/q8_drift.py: Student-t (df 3) entries, log-normal
row scales, 0.5 % of input channels x10..x30), normalised to rms 1/sqrt(fan_in); the reference is
the policy with 2 % multiplicative noise (a fine-tuned pair: small reward gaps). Jobs: a random
noise image, a prompt and 4 candidates of random words. Reports max/mean |d token log-prob|
(policy and reference), max |d reward| at beta 0.1, and rankings changed (all, and where the
bf16 reward gap between the swapped candidates exceeds 1e-2).

  q8_score_drift.py --rlaifv BIN --tokenizer-dir DIR --work DIR [--jobs 200] [--hidden 4096]
                    [--inter 14336] [--heads 32] [--kv-heads 8] [--layers 1] [--vit-width 1792]
                    [--vit-mlp 15360] [--vit-heads 16] [--vit-blocks 1] [--num-query 64]
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import ckpt_lib  # noqa: E402

KEEP_2D = ("resampler.query", "resampler.pos_embed")
WORDS = ("a red car on the street two dogs sleeping near small house with blue door green tree under "
         "cloudy sky man holding umbrella woman reading book cat sitting window bright light dark room "
         "image shows several people bicycle road sign yellow bus parked there is no animal in picture").split()


def outlier_weights(rng, shape, fan_in):
    w = rng.standard_t(3, size=shape).astype(np.float32)
    w *= np.exp(rng.normal(0, 0.5, size=(shape[0], 1))).astype(np.float32)  # heavy-tailed rows
    cols = rng.choice(shape[1], size=max(1, shape[1] // 200), replace=False)
    w[:, cols] *= rng.uniform(10, 30, size=cols.size).astype(np.float32)  # outlier input channels
    return w * np.float32(1.0 / (math.sqrt(fan_in) * np.sqrt(np.mean(w.astype(np.float64) ** 2))))


def make_pair(a, pol_dir, ref_dir):
    cfg = ckpt_lib.tiny_config(hidden_size=a.hidden, intermediate_size=a.inter, num_attention_heads=a.heads,
                               num_key_value_heads=a.kv_heads, num_hidden_layers=a.layers, num_query=a.num_query,
                               image_size=112)
    cfg["vision_config"] = {"embed_dim": a.vit_width, "num_heads": a.vit_heads, "depth": a.vit_blocks + 1,
                            "mlp_dim": a.vit_mlp, "patch_size": 14, "base_grid": int(math.isqrt(a.num_query))}
    base = ckpt_lib.random_weights(cfg, seed=3)
    rng = np.random.default_rng(0)
    pol, ref = {}, {}
    for name, t in base.items():
        if t.ndim == 2 and not name.endswith(KEEP_2D):
            fan_in = t.shape[0] if name.endswith("resampler.proj") else t.shape[1]
            w = outlier_weights(rng, tuple(t.shape), fan_in)
            if name.endswith("embed_tokens.weight"):
                w *= np.float32(math.sqrt(fan_in) * 0.5)  # O(1) entries, like real embeddings
            wt = torch.from_numpy(w)
            pol[name] = wt.to(torch.bfloat16)
            noise = torch.from_numpy(rng.normal(0, 0.02, size=w.shape).astype(np.float32))
            ref[name] = (wt * (1 + noise)).to(torch.bfloat16)
        else:
            pol[name] = ref[name] = t
    for d, ts in ((pol_dir, pol), (ref_dir, ref)):
        ckpt_lib.write_checkpoint(d, cfg, ts)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            if os.path.exists(os.path.join(a.tokenizer_dir, f)):
                shutil.copy(os.path.join(a.tokenizer_dir, f), d)


def score(a, pol, ref, job):
    cmd = [a.rlaifv, "score", "--model", pol, "--ref-model", ref, "--image", job["image"], "--prompt", job["prompt"],
           "--token-logps", "--reward", "dpo", "--beta", "0.1"]
    for c in job["cands"]:
        cmd += ["--candidate", c]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    r = sorted(json.loads(p.stdout)["ranking"], key=lambda c: c["index"])
    return [c["reward"] for c in r], [c["policy"]["token_logps"] + c["reference"]["token_logps"] for c in r]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifv", required=True)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--work", required=True)
    for k, v in (("jobs", 200), ("hidden", 4096), ("inter", 14336), ("heads", 32), ("kv-heads", 8), ("layers", 1),
                 ("vit-width", 1792), ("vit-mlp", 15360), ("vit-heads", 16), ("vit-blocks", 1), ("num-query", 64)):
        ap.add_argument("--" + k, type=int, default=v)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    d = {k: os.path.join(a.work, k) for k in ("pol", "ref", "pol_q8", "ref_q8")}
    if not os.path.exists(os.path.join(d["ref_q8"], "config.json")):
        make_pair(a, d["pol"], d["ref"])
        for k in ("pol", "ref"):
            subprocess.run([a.rlaifv, "convert", "--quantize", "q8", d[k], d[k + "_q8"]], check=True, capture_output=True)
    rnd = random.Random(0)
    dl, rewards, changed, changed_gap = [], [], 0, 0
    for j in range(a.jobs):
        img = os.path.join(a.work, f"img{j % 20}.png")
        if not os.path.exists(img):
            Image.fromarray(np.random.default_rng(j).integers(0, 256, size=(112, 112, 3), dtype=np.uint8)).save(img)
        job = {"image": img, "prompt": " ".join(rnd.choices(WORDS, k=rnd.randint(3, 12))) + "?",
               "cands": [" ".join(rnd.choices(WORDS, k=rnd.randint(2, 16))) + "." for _ in range(4)]}
        rb, lb = score(a, d["pol"], d["ref"], job)
        rq, lq = score(a, d["pol_q8"], d["ref_q8"], job)
        for x, y in zip(lb, lq):
            dl += [abs(u - v) for u, v in zip(x, y)]
        rewards += [abs(u - v) for u, v in zip(rb, rq)]
        for i in range(4):
            for k in range(i + 1, 4):
                if (rb[i] - rb[k]) * (rq[i] - rq[k]) < 0:
                    changed += 1
                    changed_gap += abs(rb[i] - rb[k]) > 1e-2
    print(f"jobs {a.jobs} (4 candidates, {len(dl)} token log-probs, {6 * a.jobs} candidate pairs); widths: hidden "
          f"{a.hidden}, intermediate {a.inter}, layers {a.layers}, vit {a.vit_width}/{a.vit_mlp} x {a.vit_blocks}, "
          f"queries {a.num_query}")
    print(f"max |d token logp| {max(dl):.3g}, mean {sum(dl) / len(dl):.3g}; max |d reward| (beta 0.1) {max(rewards):.3g}, "
          f"mean {sum(rewards) / len(rewards):.3g}; pairs reordered {changed}, of them with bf16 gap > 1e-2: {changed_gap}")


if __name__ == "__main__":
    main()
