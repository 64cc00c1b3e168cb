#!/usr/bin/env python3
"""test_bin_score.py — a reference model shipped as pytorch_model.bin (as OmniLMM-12B is) scores
exactly like the same weights in safetensors: the same checkpoint written by the real torch.save,
then `rlaifv score` with each; rewards, sums and token log-probs must be bit-identical.

  test_bin_score.py --rlaifv BIN --model DIR --ref-model DIR --work DIR
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
import ckpt_lib  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for k in ("--rlaifv", "--rlaifvd", "--model", "--ref-model", "--work"):
        ap.add_argument(k, required=True)
    a = ap.parse_args()
    binref = os.path.join(a.work, "reference_bin")
    os.makedirs(binref, exist_ok=True)
    _, tensors = ckpt_lib.load_checkpoint(a.ref_model)
    torch.save({k: v.clone() for k, v in tensors.items()}, os.path.join(binref, "pytorch_model.bin"))
    for f in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        if os.path.exists(os.path.join(a.ref_model, f)):
            shutil.copy(os.path.join(a.ref_model, f), binref)
    img = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz", "corpus", "image")
    img = sorted(os.path.join(img, f) for f in os.listdir(img) if f.startswith("ok") and f.endswith(".png"))[0]
    outs = []
    for ref in (a.ref_model, binref):
        p = subprocess.run([a.rlaifv, "score", "--model", a.model, "--ref-model", ref, "--image", img, "--prompt",
                            "What is in the image?", "--candidate", "A small test pattern.", "--candidate", "A cat.",
                            "--token-logps", "--reward", "dpo"], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        r = json.loads(p.stdout)
        del r["timing_ms"]
        outs.append(r)
    if outs[0] != outs[1]:
        print("FAIL: scores differ between the safetensors and the .bin reference")
        print("0 passed, 1 failed")
        return 1
    print("ok: .bin reference scores bit-identical to safetensors "
          f"(rewards {[x['reward'] for x in outs[0]['ranking']]})")
    # A reference identical to the policy (the .bin copy of it) is served from the policy's bytes.
    pol_bin = os.path.join(a.work, "policy_bin")
    os.makedirs(pol_bin, exist_ok=True)
    _, pt = ckpt_lib.load_checkpoint(a.model)
    torch.save({k: v.clone() for k, v in pt.items()}, os.path.join(pol_bin, "pytorch_model.bin"))
    shutil.copy(os.path.join(a.model, "config.json"), pol_bin)
    import socket
    import time
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ep = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    d = subprocess.Popen([a.rlaifvd, "--model", a.model, "--ref-model", pol_bin, "--bind", ep, "--log-level", "error"])
    try:
        info = None
        for _ in range(100):
            p = subprocess.run([a.rlaifv, "call", "--server", ep, "--timeout-ms", "300", "info"], capture_output=True,
                               text=True)
            if p.returncode == 0:
                info = json.loads(p.stdout)
                break
            time.sleep(0.2)
        assert info, "no info reply"
        m = info["model"]
        assert m["shared_bytes"] * 2 == m["weight_bytes"], m
        print(f"ok: identical reference served from the policy's mapping ({m['shared_bytes']} of "
              f"{m['weight_bytes']} bytes shared)")
    finally:
        d.terminate()
        d.wait(30)
    print("2 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
