#!/usr/bin/env python3
"""test_panels_kernel.py --rlaifv BIN --kernel K [--compute fp32|bf16] --model DIR --ref-model DIR --work DIR
— a pair converted to panels under RLV_CPU=K (the layout of kernel K: avx2's nr16 where the CPU has
more; with --compute bf16 the vdpbf16ps kernel's pairs) scores, under RLV_CPU=K, exactly what the
original pair scores (every token log-prob and reward, timings aside); another kernel refuses it by
name (docs/panels.md). --compute bf16 on a CPU without AVX512_BF16: the converter must refuse it by
name, and that is all this CPU can check."""
import argparse
import json
import os
import shutil
import subprocess
import sys

OTHER = {"avx2": "generic", "avx512": "avx2"}


def run(rlaifv, kernel, *args):
    env = dict(os.environ, RLV_CPU=kernel)
    return subprocess.run([rlaifv, *args], env=env, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--kernel", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    ap.add_argument("--compute", default="fp32", choices=("fp32", "bf16"))
    a = ap.parse_args()
    comp = ["--compute", a.compute]
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    pp, pr = os.path.join(a.work, "policy"), os.path.join(a.work, "reference")
    for src, dst in ((a.model, pp), (a.ref_model, pr)):
        r = run(a.rlaifv, a.kernel, "convert", "--panels", *comp, src, dst)
        if r.returncode and a.compute == "bf16" and "needs AVX512_BF16" in r.stderr and not os.path.exists(dst):
            print("ok: this CPU has no AVX512_BF16, and convert --panels --compute bf16 says so: " + r.stderr.strip())
            return
        if r.returncode:
            sys.exit("convert %s: %s" % (src, r.stderr))
        print(r.stdout.strip())
    img = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "images", "car_sheep.jpeg")
    job = ["--image", img, "--prompt", "Why did the car stop?", "--candidate", "A red light.",
           "--candidate", "Sheep are crossing in front of the car.", "--token-logps", "--blas-threads", "2", *comp]
    out = []
    for pol, ref in ((a.model, a.ref_model), (pp, pr)):
        r = run(a.rlaifv, a.kernel, "score", "--model", pol, "--ref-model", ref, *job)
        if r.returncode:
            sys.exit("score %s: %s" % (pol, r.stderr))
        d = json.loads(r.stdout)
        d.pop("timing_ms")
        out.append(d)
    if out[0] != out[1]:
        sys.exit("FAIL: the panels of kernel %s score otherwise than the original:\n%s\n%s" % (a.kernel, out[0], out[1]))
    n = sum(len(c["policy"]["token_logps"]) + len(c["reference"]["token_logps"]) for c in out[0]["ranking"])
    print("ok: kernel %s, %d token log-probs and %d rewards equal" % (a.kernel, n, len(out[0]["ranking"])))
    other, oc = (a.kernel, "fp32") if a.compute == "bf16" else (OTHER[a.kernel], "fp32")
    r = run(a.rlaifv, other, "score", "--model", pp, *job[:-2], "--compute", oc)
    if r.returncode == 0 or "stored as panels of layout" not in r.stderr:
        sys.exit("FAIL: RLV_CPU=%s, compute %s opened the panels: %s" % (other, oc, r.stderr))
    print("ok: RLV_CPU=%s, compute %s refuses them: %s" % (other, oc, r.stderr.strip()))


if __name__ == "__main__":
    main()
