#!/usr/bin/python3
"""q8_score_drift.py — drift of the engine's scores with q8 weights against the bf16 weights they
were converted from (issue 16), end to end: `rlaifv score` on a random policy/reference pair,
then on the pair converted with `rlaifv convert --quantize q8`, over N random jobs.

Weights (--weights): `harsh` (the default, HARSH below): Student-t (df 3) entries, log-normal row
scales, 0.5 % of input channels x10..x30, normalised to rms 1/sqrt(fan_in); the reference is the
policy with 2 % multiplicative noise per weight. `realistic` (REALISTIC): t(5), x5..x20, and a
reference 0.2 % from the policy (most bf16 weights of the pair identical, as a DPO fine-tune leaves
them). Jobs: a random noise image, a prompt and 4 candidates of random words. Reports max/mean
|d token log-prob| (policy and reference), max |d reward| at beta 0.1, and rankings changed (all,
and where the bf16 reward gap between the swapped candidates exceeds 1e-2).
--f32 also scores the pair's weights before their bf16 rounding (F32 checkpoints): the same figures
for bf16 against f32, the drift of the bf16 weights themselves. --convert-args may be given more than
once: each is one q8 variant of the pair, all scored on the same jobs against the same bf16 scores in
one run (work dirs pol_q8/ref_q8, then pol_q8_2/ref_q8_2, ...; each records its arguments and is
converted again when they differ).

  q8_score_drift.py --rlaifv BIN --tokenizer-dir DIR --work DIR [--jobs 200] [--weights harsh|realistic]
                    [--ref-noise X] [--f32] [--convert-args "--block 16" ...] [--report-every N] [--hidden 4096] [--inter 14336]
                    [--heads 32] [--kv-heads 8] [--layers 1] [--vit-width 1792] [--vit-mlp 15360]
                    [--vit-heads 16] [--vit-blocks 1] [--num-query 64]
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


HARSH = {"df": 3, "row_sigma": 0.5, "outlier_frac": 0.005, "outlier_lo": 10, "outlier_hi": 30, "ref_noise": 0.02}
# closer to real LLM weights and a real DPO pair (docs/quantization.md): tails of t(5), outlier input
# channels x5..x20, and a reference that differs from the policy by 0.2 % per weight (most bf16
# weights of the pair then identical, as fine-tuned bf16 pairs are)
REALISTIC = {"df": 5, "row_sigma": 0.3, "outlier_frac": 0.005, "outlier_lo": 5, "outlier_hi": 20, "ref_noise": 0.002}


def add_args(ap):
    """The pair's arguments, shared with q8_drift_sim.py."""
    ap.add_argument("--weights", choices=("harsh", "realistic"), default="harsh")
    ap.add_argument("--ref-noise", type=float, help="override the preset's reference noise")
    for k, v in (("hidden", 4096), ("inter", 14336), ("heads", 32), ("kv-heads", 8), ("layers", 1),
                 ("vit-width", 1792), ("vit-mlp", 15360), ("vit-heads", 16), ("vit-blocks", 1), ("num-query", 64)):
        ap.add_argument("--" + k, type=int, default=v)


def preset(a):
    g = dict(HARSH if a.weights == "harsh" else REALISTIC)
    if a.ref_noise is not None:
        g["ref_noise"] = a.ref_noise
    return g


def outlier_weights(rng, shape, fan_in, g=HARSH):
    w = rng.standard_t(g["df"], size=shape).astype(np.float32)
    w *= np.exp(rng.normal(0, g["row_sigma"], size=(shape[0], 1))).astype(np.float32)  # heavy-tailed rows
    cols = rng.choice(shape[1], size=max(1, int(shape[1] * g["outlier_frac"])), replace=False)
    w[:, cols] *= rng.uniform(g["outlier_lo"], g["outlier_hi"], size=cols.size).astype(np.float32)  # outlier input channels
    return w * np.float32(1.0 / (math.sqrt(fan_in) * np.sqrt(np.mean(w.astype(np.float64) ** 2))))


def pair_config(a):
    cfg = ckpt_lib.tiny_config(hidden_size=a.hidden, intermediate_size=a.inter, num_attention_heads=a.heads,
                               num_key_value_heads=a.kv_heads, num_hidden_layers=a.layers, num_query=a.num_query,
                               image_size=112)
    cfg["vision_config"] = {"embed_dim": a.vit_width, "num_heads": a.vit_heads, "depth": a.vit_blocks + 1,
                            "mlp_dim": a.vit_mlp, "patch_size": 14, "base_grid": int(math.isqrt(a.num_query))}
    return cfg


def pair_tensors(a, cfg):
    """(policy, reference) in bf16 and the same before bf16 rounding (f32), as {name: tensor}; tensors
    that are not quantised are shared. Prints how many bf16 weights the pair has in common."""
    base = ckpt_lib.random_weights(cfg, seed=3)
    rng = np.random.default_rng(0)
    pol, ref, pol32, ref32 = {}, {}, {}, {}
    for name, t in base.items():
        if t.ndim == 2 and not name.endswith(KEEP_2D):
            fan_in = t.shape[0] if name.endswith("resampler.proj") else t.shape[1]
            w = outlier_weights(rng, tuple(t.shape), fan_in, a.g)
            if name.endswith("embed_tokens.weight"):
                w *= np.float32(math.sqrt(fan_in) * 0.5)  # O(1) entries, like real embeddings
            wt = torch.from_numpy(w)
            noise = torch.from_numpy(rng.normal(0, a.g["ref_noise"], size=w.shape).astype(np.float32))
            pol32[name], ref32[name] = wt, wt * (1 + noise)
            pol[name], ref[name] = pol32[name].to(torch.bfloat16), ref32[name].to(torch.bfloat16)
        else:
            pol[name] = ref[name] = pol32[name] = ref32[name] = t
    same = sum(int((pol[n] == ref[n]).sum()) for n in pol if pol[n] is not ref[n])
    total = sum(pol[n].numel() for n in pol if pol[n] is not ref[n])
    print(f"pair: {a.g}; {same / total:.1%} of the quantised tensors' bf16 weights identical in policy and reference",
          flush=True)
    return pol, ref, pol32, ref32


def make_pair(a, pol_dir, ref_dir, f32_dirs=None):
    cfg = pair_config(a)
    pol, ref, pol32, ref32 = pair_tensors(a, cfg)
    todo = [(pol_dir, pol), (ref_dir, ref)]
    if f32_dirs:
        todo += [(f32_dirs[0], pol32), (f32_dirs[1], ref32)]
    for d, ts in todo:
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


class Drift:
    """Per-token and reward differences of one weight format against the bf16 scores."""

    def __init__(self):
        self.dl, self.dr, self.changed, self.changed_gap = [], [], 0, 0

    def add(self, rb, lb, rq, lq):
        for x, y in zip(lb, lq):
            self.dl += [abs(u - v) for u, v in zip(x, y)]
        self.dr += [abs(u - v) for u, v in zip(rb, rq)]
        for i in range(len(rb)):
            for k in range(i + 1, len(rb)):
                if (rb[i] - rb[k]) * (rq[i] - rq[k]) < 0:
                    self.changed += 1
                    self.changed_gap += abs(rb[i] - rb[k]) > 1e-2

    def line(self, name):
        return (f"{name}: max |d token logp| {max(self.dl):.3g}, mean {sum(self.dl) / len(self.dl):.3g}; max |d reward| "
                f"(beta 0.1) {max(self.dr):.3g}, mean {sum(self.dr) / len(self.dr):.3g}; pairs reordered "
                f"{self.changed}, of them with bf16 gap > 1e-2: {self.changed_gap}")


def report(a, jobs, q8, variants, f32):
    print(f"jobs {jobs} (4 candidates, {len(q8[0].dl)} token log-probs, {6 * jobs} candidate pairs); widths: "
          f"hidden {a.hidden}, intermediate {a.inter}, layers {a.layers}, vit {a.vit_width}/{a.vit_mlp} x "
          f"{a.vit_blocks}, queries {a.num_query}; weights {a.weights} {a.g}")
    for drift, args in zip(q8, variants):
        print(drift.line(f"q8 ({args or 'convert defaults'}) vs bf16"))
    if a.f32:
        print(f32.line("f32 vs bf16 (the bf16 rounding itself)"))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rlaifv", required=True)
    ap.add_argument("--tokenizer-dir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--f32", action="store_true", help="also score the weights before bf16 rounding")
    ap.add_argument("--convert-args", action="append",
                    help="extra arguments of rlaifv convert, e.g. '--block 16'; once per q8 variant")
    ap.add_argument("--report-every", type=int, default=0, help="print the figures so far every N jobs")
    add_args(ap)
    a = ap.parse_args()
    a.g = preset(a)
    os.makedirs(a.work, exist_ok=True)
    d = {k: os.path.join(a.work, k) for k in ("pol", "ref", "pol_f32", "ref_f32")}
    if not os.path.exists(os.path.join(d["ref"], "config.json")) or \
            (a.f32 and not os.path.exists(os.path.join(d["ref_f32"], "config.json"))):
        make_pair(a, d["pol"], d["ref"], (d["pol_f32"], d["ref_f32"]) if a.f32 else None)
    variants = a.convert_args or [""]
    q8dirs = []
    for v, args in enumerate(variants):
        sfx = "_q8" if v == 0 else f"_q8_{v + 1}"
        pair = [os.path.join(a.work, k + sfx) for k in ("pol", "ref")]
        stamp = os.path.join(a.work, "convert" + sfx + ".txt")
        if not os.path.exists(os.path.join(pair[1], "config.json")) or \
                not os.path.exists(stamp) or open(stamp).read() != args:
            for src, dst in zip((d["pol"], d["ref"]), pair):
                shutil.rmtree(dst, ignore_errors=True)
                subprocess.run([a.rlaifv, "convert", "--quantize", "q8"] + args.split() + [src, dst], check=True,
                               capture_output=True)
            with open(stamp, "w") as f:
                f.write(args)
        q8dirs.append(pair)
    rnd = random.Random(0)
    q8, f32 = [Drift() for _ in variants], Drift()
    for j in range(a.jobs):
        img = os.path.join(a.work, f"img{j % 20}.png")
        if not os.path.exists(img):
            Image.fromarray(np.random.default_rng(j).integers(0, 256, size=(112, 112, 3), dtype=np.uint8)).save(img)
        job = {"image": img, "prompt": " ".join(rnd.choices(WORDS, k=rnd.randint(3, 12))) + "?",
               "cands": [" ".join(rnd.choices(WORDS, k=rnd.randint(2, 16))) + "." for _ in range(4)]}
        rb, lb = score(a, d["pol"], d["ref"], job)
        for drift, (pol, ref) in zip(q8, q8dirs):
            drift.add(rb, lb, *score(a, pol, ref, job))
        if a.f32:
            f32.add(rb, lb, *score(a, d["pol_f32"], d["ref_f32"], job))
        if a.report_every and (j + 1) % a.report_every == 0 and j + 1 < a.jobs:
            report(a, j + 1, q8, variants, f32)
    report(a, a.jobs, q8, variants, f32)


if __name__ == "__main__":
    main()
