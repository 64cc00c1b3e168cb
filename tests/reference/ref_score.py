#!/usr/bin/env python3
"""ref_score.py — the scoring pipeline end to end, reimplemented in PyTorch float64 from the model
math (docs/model.md), as the reference for the engine; not the official RLAIF-V code.

  ref_score.py --model DIR [--ref-model DIR] --job JOB.json --out EXPECTED.json

JOB.json: {"image": PATH or null, "prompt": str, "candidates": [str], "beta": 0.1}.
For each candidate the WHOLE conversation string is built as chat.py + omni_preprocess + the
Zephyr template do (docs/model.md §7.1), tokenised by the real Hugging Face tokenizers library
(tok_encode.js on the checkpoint's tokenizer.json), and run through OmniLMM (omnilmm.py, float64)
in one full forward without cache; the scored tokens are those after '\\n<|assistant|>\\n'
(4.3). The image goes through Pillow: open, convert('RGB'), resize((S, S), BICUBIC), then
ToTensor + Normalize in float32 (3.1). Writes per candidate the ids, the scored start, the
per-token log-probs of each model and every reward kind of docs/model.md §10.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import omnilmm  # noqa: E402
import spm_legacy  # noqa: E402

SYSTEM = ("You are an artificial intelligence assistant, which gives helpful, detailed, and polite answers "
          "to the human's questions.")


def conversation(prompt, response, num_query):
    """num_query 0: a job without an image, the question as it is (chat.py without an image)."""
    image = "<im_start>" + "<im_patch>" * num_query + "<im_end>"
    if num_query == 0:
        question = prompt
    else:
        question = prompt.replace("<image>", image) if "<image>" in prompt else image + "\n" + prompt
    text = f"<|system|>\n{SYSTEM}</s>\n<|user|>\n{question}</s>\n<|assistant|>\n{response}</s>\n"
    return text.strip()


def encode(tokenizer_json, texts):
    """Ids from the real HF tokenizers library (tokenizer.json), or from SpmLegacy when the
    checkpoint directory has only a tokenizer.model."""
    if not os.path.exists(tokenizer_json):
        t = spm_legacy.SpmLegacy(os.path.dirname(tokenizer_json))
        return [t.encode(x) for x in texts]
    inp = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    out = subprocess.run(["node", os.path.join(HERE, "tok_encode.js"), tokenizer_json], input=inp.encode(),
                         capture_output=True, check=True).stdout.decode()
    return [json.loads(l)["ids"] for l in out.splitlines()]


def assistant_start(ids, header):
    """Index after the last occurrence of the '\\n<|assistant|>\\n' token pattern (omni_preprocess)."""
    for s in range(len(ids) - len(header), -1, -1):
        if ids[s:s + len(header)] == header:
            return s + len(header)
    raise ValueError("assistant header not found")


def pixels(path, size):
    img = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    return omnilmm.normalise(np.array(img)).unsqueeze(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--ref-model")
    ap.add_argument("--job", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    job = json.load(open(a.job))
    beta = job.get("beta", 0.1)
    models = {"policy": omnilmm.load(a.model)}
    if a.ref_model:
        models["reference"] = omnilmm.load(a.ref_model)
    cfg = models["policy"].cfg
    tj = os.path.join(a.model, "tokenizer.json")
    nq = cfg["num_query"] if job.get("image") else 0
    texts = [conversation(job["prompt"], c, nq) for c in job["candidates"]]
    ids_all = encode(tj, texts)
    # The '\n<|assistant|>\n' pattern as the tokenizer gives it after '</s>' (omni_preprocess).
    header = encode(tj, ["</s>\n<|assistant|>\n"])[0][2:]
    im_start = encode(tj, ["<im_start>"])[0][-1]  # the tokenizer's id (32001 for RLAIF-V-12B)
    out = {"candidates": []}
    with torch.no_grad():
        rows = {}
        for name, m in models.items():
            if job.get("image"):
                px = pixels(job["image"], cfg["image_size"]).to(torch.float64)
                rows[name] = m.image_embedding(px)
            else:
                rows[name] = None
        for ci, ids in enumerate(ids_all):
            P = assistant_start(ids, header)
            start = ids.index(im_start) if im_start in ids else None
            rec = {"ids": ids, "scored_from": P}
            for name, m in models.items():
                lp = omnilmm.candidate_logps(m, ids, P, rows[name], start if rows[name] is not None else None)
                rec[name] = [float(x) for x in lp]
            a_ = np.array(rec["policy"], dtype=np.float64)
            T = len(a_)
            rec["tokens"] = T
            rec["reward"] = {"logp_mean": a_.sum() / T, "logp_sum": a_.sum()}
            if "reference" in rec:
                b_ = np.array(rec["reference"], dtype=np.float64)
                rec["reward"]["rlaifv"] = beta * (a_ - b_).sum() / T
                rec["reward"]["dpo"] = beta * (a_ - b_).sum()
            out["candidates"].append(rec)
    json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()
