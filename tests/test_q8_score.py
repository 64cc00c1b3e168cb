#!/usr/bin/env python3
"""test_q8_score.py — the engine reads q8 weights exactly (issue 16): a policy/reference pair
converted with `rlaifv convert --quantize q8` scores like the same pair dequantised to F32
(q8_ref.py dequant: q x scale, the reference's f32 products), token log-probs within 1e-4 (fp32
accumulation; the kernels see the same floats, so the difference is normally 0). Also the mixed
pairs (q8 policy + bf16 reference, and the reverse) and a policy converted with --keep (lm_head and
the embeddings as stored) against their dequantised twins, a q8
reference identical to the q8 policy (rewards 0: shared bytes), and the drift of q8 against the
original bf16 weights (printed, not a pass/fail: the real-width drift is benchmarks/q8_score_drift.py).

  test_q8_score.py --rlaifv BIN --model DIR --ref-model DIR --work DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
Q8_REF = os.path.join(HERE, "reference", "q8_ref.py")
TOL = 1e-4


def score(a, pol, ref, img):
    p = subprocess.run([a.rlaifv, "score", "--model", pol, "--ref-model", ref, "--image", img, "--prompt",
                        "What is in the image?", "--candidate", "A small test pattern.", "--candidate", "A cat.",
                        "--candidate", "Two dogs on a red sofa, and a lamp.", "--token-logps", "--reward", "dpo",
                        "--beta", "0.1"], capture_output=True, text=True)
    assert p.returncode == 0, f"{pol} / {ref}: {p.stderr}"
    return json.loads(p.stdout)


def logps(r):
    """Every token log-prob, policy and reference, in one flat list; and the rewards by candidate."""
    out = []
    for c in sorted(r["ranking"], key=lambda c: c["index"]):
        for k in ("policy", "reference"):
            out += c[k]["token_logps"]
    rew = [c["reward"] for c in sorted(r["ranking"], key=lambda c: c["index"])]
    return out, rew


def diff(r1, r2):
    l1, w1 = logps(r1)
    l2, w2 = logps(r2)
    assert len(l1) == len(l2) and l1, (len(l1), len(l2))
    return max(abs(x - y) for x, y in zip(l1, l2)), sum(abs(x - y) for x, y in zip(l1, l2)) / len(l1), \
        max(abs(x - y) for x, y in zip(w1, w2))


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    d = {}
    for tag, src in (("pol", a.model), ("ref", a.ref_model)):
        d[tag + "_q8"] = os.path.join(a.work, tag + "_q8")
        d[tag + "_deq"] = os.path.join(a.work, tag + "_deq")
        subprocess.run([a.rlaifv, "convert", "--quantize", "q8", src, d[tag + "_q8"]], check=True, capture_output=True)
        subprocess.run([sys.executable, Q8_REF, "dequant", d[tag + "_q8"], d[tag + "_deq"]], check=True)
    # lm_head and the embeddings kept as stored (--keep): bf16 and q8 weights in one model
    d["keep"], d["keep_deq"] = os.path.join(a.work, "pol_keep"), os.path.join(a.work, "pol_keep_deq")
    subprocess.run([a.rlaifv, "convert", "--quantize", "q8", "--keep", "lm_head.weight,model.embed_tokens.weight",
                    a.model, d["keep"]], check=True, capture_output=True)
    subprocess.run([sys.executable, Q8_REF, "dequant", d["keep"], d["keep_deq"]], check=True)
    img = os.path.join(HERE, "fuzz", "corpus", "image")
    img = sorted(os.path.join(img, f) for f in os.listdir(img) if f.startswith("ok") and f.endswith(".png"))[0]
    fails = 0
    cases = [("q8 pair", d["pol_q8"], d["ref_q8"], d["pol_deq"], d["ref_deq"]),
             ("q8 policy + bf16 reference", d["pol_q8"], a.ref_model, d["pol_deq"], a.ref_model),
             ("bf16 policy + q8 reference", a.model, d["ref_q8"], a.model, d["ref_deq"]),
             ("q8 policy with lm_head + embeddings kept, q8 reference", d["keep"], d["ref_q8"], d["keep_deq"],
              d["ref_deq"])]
    for name, pol, ref, pol_f, ref_f in cases:
        rq, rf = score(a, pol, ref, img), score(a, pol_f, ref_f, img)
        mx, mean, rw = diff(rq, rf)
        ok = mx <= TOL
        fails += not ok
        print(f"{'ok' if ok else 'FAIL'}: {name} vs its dequantised-f32 twin: max |d logp| {mx:.3g} "
              f"(mean {mean:.3g}, bound {TOL}), max |d reward| {rw:.3g}")
    # the same q8 weights on both sides: served from one mapping, every reward exactly 0
    same = os.path.join(a.work, "pol_q8_copy")
    shutil.copytree(d["pol_q8"], same)
    r = score(a, d["pol_q8"], same, img)
    rew = [c["reward"] for c in r["ranking"]]
    ok = all(x == 0 for x in rew)
    fails += not ok
    print(f"{'ok' if ok else 'FAIL'}: q8 reference identical to the q8 policy: rewards {rew}")
    # drift of q8 against the original weights (tiny random checkpoints: Gaussian, no outliers)
    mx, mean, rw = diff(score(a, d["pol_q8"], d["ref_q8"], img), score(a, a.model, a.ref_model, img))
    print(f"drift q8 vs bf16 weights (tiny test pair, beta 0.1): max |d logp| {mx:.3g}, mean {mean:.3g}, "
          f"max |d reward| {rw:.3g}")
    print(f"{len(cases) + 1 - fails} passed, {fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
