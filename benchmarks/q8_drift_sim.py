#!/usr/bin/python3
"""q8_drift_sim.py — what drives the q8 score drift (issue 16), in torch float32 instead of the engine:
the same real-width random pair and jobs as q8_score_drift.py, scored with bf16 weights and with
weights fake-quantised per variant (which tensor kinds are q8, block size, per-input-channel
scales), so formats can be compared in minutes. The engine is exact against dequantised weights
(tests/test_q8_score.py), so the drift of a variant here is the drift the engine would show, up to
fp32 summation order; q8_score_drift.py is the end-to-end measurement.

Only what the scores need is computed: one decoder layer's K/V over the whole sequence, the rest
of the layer, the final norm and lm_head over the scored positions only.

  q8_drift_sim.py [--jobs 20] [--weights harsh|realistic] [--ref-noise X] [--f32] [--variants all,b16,...]

--weights: q8_score_drift.py's generator presets (HARSH: t(3), outlier input channels x10..30, reference =
policy x (1 + N(0, 0.02)) per weight; REALISTIC: t(5), x5..20, 0.2 %). --f32 adds the variant "f32": the
pair's weights before their bf16 rounding, i.e. the drift of bf16 itself. Variants: "all" (every q8 kind,
block 32); tokens joined by "_": bNN block, aX per-input-channel power-of-two scales (alpha X), "max"
(their statistic), only-KIND[+KIND], no-KIND[+KIND] with KIND in embed attn mlp head (lm_head) vit resampler.
"""
import argparse
import math
import os
import random
import sys
import tempfile

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import ckpt_lib  # noqa: E402
import omnilmm  # noqa: E402
import ref_score  # noqa: E402
from q8_score_drift import KEEP_2D, WORDS, add_args, pair_config, pair_tensors, preset  # noqa: E402


def kind(name):
    if name.endswith("embed_tokens.weight"):
        return "embed"
    if name == "lm_head.weight":
        return "head"
    if ".self_attn." in name:
        return "attn"
    if ".mlp." in name and ".layers." in name:
        return "mlp"
    if "vision_tower" in name:
        return "vit"
    return "resampler"


KINDS = ("embed", "attn", "mlp", "head", "vit", "resampler")


def pow2_in_scale(w, alpha, stat):
    """Per-input-channel scale s[c] >= 1, a power of two: the column's magnitude over the median
    column's, to the power alpha. w [rows, cols]."""
    if stat == "max":
        m = w.abs().amax(0)
    else:
        m = w.pow(2).mean(0).sqrt()
    r = (m / m.median().clamp_min(1e-30)).clamp_min(1.0) ** alpha
    return torch.exp2(torch.round(torch.log2(r)))


def fake_q8(w, block, alpha=0.0, stat="rms"):
    """Dequantised q8 of w (f32 [rows, cols]), blocks along the last dim (docs/quantization.md);
    alpha > 0: columns divided by pow2_in_scale first, multiplied back after."""
    s_in = pow2_in_scale(w, alpha, stat) if alpha > 0 else None
    x = w / s_in if s_in is not None else w
    r, k = x.shape
    xb = x.reshape(r, k // block, block)
    s = (xb.abs().amax(2) / 127).to(torch.float16).to(torch.float32)[..., None]
    q = torch.where(s > 0, torch.round(xb / torch.where(s > 0, s, 1)), 0).clamp(-127, 127)
    d = (q * s).reshape(r, k)
    return d * s_in if s_in is not None else d


def parse_variant(v):
    """'all' -> every kind q8 b32; tokens: b16 (block), a1 / a0.5 (in-scale alpha), max (stat),
    only-KIND / no-KIND[+KIND]."""
    opt = {"block": 32, "alpha": 0.0, "stat": "rms", "kinds": set(KINDS)}
    for p in v.split("_"):
        if p in ("all", "bf16", "f32"):
            if p != "all":
                opt["kinds"] = set()
        elif p.startswith("b") and p[1:].isdigit():
            opt["block"] = int(p[1:])
        elif p.startswith("a"):
            opt["alpha"] = float(p[1:])
        elif p == "max":
            opt["stat"] = "max"
        elif p.startswith("only-"):
            opt["kinds"] = set(p[5:].split("+"))
        elif p.startswith("no-"):
            opt["kinds"] = set(KINDS) - set(p[3:].split("+"))
        else:
            raise SystemExit(f"variant {v}: {p}?")
    return opt


_MODEL = {}


def build(cfg, tensors, opt, f32=None):
    """The one OmniLMM of this run (built once: random init is slow) loaded with the variant's weights."""
    if "m" not in _MODEL:
        _MODEL["m"] = omnilmm.OmniLMM(cfg)
    m = _MODEL["m"]
    sd = {}
    for name, t in tensors.items():
        w = t.to(torch.float32)
        if f32 is not None and name in f32:
            w = f32[name]
        elif w.ndim == 2 and not name.endswith(KEEP_2D) and kind(name) in opt["kinds"]:
            w = fake_q8(w, opt["block"], opt["alpha"], opt["stat"])
        sd[name] = w
    m.load_state_dict(sd, strict=True)
    return m.eval()


def rope(x, pos, theta):
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = pos.to(torch.float64)[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    return x * emb.cos().to(x.dtype) + omnilmm.rotate_half(x) * emb.sin().to(x.dtype)


def scored_logps(m, ids, P, rows, start):
    """omnilmm.candidate_logps for a 1-layer model, computing only what the scored tokens need."""
    cfg = m.cfg
    inner = m.model
    assert len(inner.layers) == 1
    layer = inner.layers[0]
    at = layer.self_attn
    x = inner.embed_tokens(torch.tensor(ids))
    if rows is not None:
        x = x.clone()
        x[start + 1:start + 1 + rows.shape[0]] = rows
    L = x.shape[0]
    h = layer.input_layernorm(x)
    pos = torch.arange(L)
    k = rope(at.k_proj(h).view(L, at.nkv, at.hd).transpose(0, 1), pos, at.theta)
    v = at.v_proj(h).view(L, at.nkv, at.hd).transpose(0, 1)
    sp = torch.arange(P - 1, L - 1)
    q = rope(at.q_proj(h[sp]).view(len(sp), at.nh, at.hd).transpose(0, 1), sp, at.theta)
    rep = at.nh // at.nkv
    k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
    s = q @ k.transpose(-1, -2) / math.sqrt(at.hd)
    s = s.masked_fill(pos[None, None, :] > sp[None, :, None], float("-inf"))
    o = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(len(sp), at.nh * at.hd)
    xs = x[sp] + at.o_proj(o)
    xs = xs + layer.mlp(layer.post_attention_layernorm(xs))
    logits = m.lm_head(inner.norm(xs))
    lp = torch.log_softmax(logits.to(torch.float64), -1)
    return lp.gather(1, torch.tensor(ids[P:])[:, None])[:, 0]


def make_jobs(a, tok_json, header_ids, im_start):
    rnd = random.Random(0)
    jobs = []
    texts = []
    for j in range(a.jobs):
        prompt = " ".join(rnd.choices(WORDS, k=rnd.randint(3, 12))) + "?"
        cands = [" ".join(rnd.choices(WORDS, k=rnd.randint(2, 16))) + "." for _ in range(4)]
        jobs.append({"img": j % 20, "prompt": prompt, "cands": cands})
        texts += [ref_score.conversation(prompt, c, a.num_query) for c in cands]
    ids = ref_score.encode(tok_json, texts)
    for j, job in enumerate(jobs):
        job["ids"] = ids[4 * j:4 * j + 4]
        job["P"] = [ref_score.assistant_start(x, header_ids) for x in job["ids"]]
        job["start"] = [x.index(im_start) for x in job["ids"]]
    return jobs


def image(j, size):
    arr = np.random.default_rng(j).integers(0, 256, size=(112, 112, 3), dtype=np.uint8)
    img = Image.fromarray(arr).convert("RGB").resize((size, size), Image.BICUBIC)
    return omnilmm.normalise(np.array(img)).unsqueeze(0)


def run_model(m, jobs, size):
    rows = {}
    out = []
    with torch.no_grad():
        for job in jobs:
            if job["img"] not in rows:
                rows[job["img"]] = m.image_embedding(image(job["img"], size))[0]
            out.append([scored_logps(m, ids, P, rows[job["img"]], st)
                        for ids, P, st in zip(job["ids"], job["P"], job["start"])])
    return out


def compare(base, var, beta=0.1):
    """base/var: {'policy': [[lp per cand] per job], 'reference': ...}."""
    dl, dr, changed, changed_gap = [], [], 0, 0
    gaps = []
    for j in range(len(base["policy"])):
        rb, rq = [], []
        for c in range(4):
            for mname in ("policy", "reference"):
                dl.append((base[mname][j][c] - var[mname][j][c]).abs())
            rb.append(beta * float((base["policy"][j][c] - base["reference"][j][c]).sum()))
            rq.append(beta * float((var["policy"][j][c] - var["reference"][j][c]).sum()))
        dr += [abs(x - y) for x, y in zip(rb, rq)]
        for i in range(4):
            for k in range(i + 1, 4):
                gaps.append(abs(rb[i] - rb[k]))
                if (rb[i] - rb[k]) * (rq[i] - rq[k]) < 0:
                    changed += 1
                    changed_gap += abs(rb[i] - rb[k]) > 1e-2
    dl = torch.cat(dl)
    return {"max_dlp": float(dl.max()), "mean_dlp": float(dl.mean()), "max_dr": max(dr), "mean_dr": sum(dr) / len(dr),
            "reordered": changed, "reordered_gap": changed_gap, "pairs": len(gaps),
            "gap_gt": sum(g > 1e-2 for g in gaps), "median_gap": float(np.median(gaps))}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20)
    add_args(ap)
    ap.add_argument("--variants", default="all")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--f32", action="store_true", help="add the variant f32: the weights before bf16 rounding")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.g = preset(a)
    torch.manual_seed(0)
    cfg = pair_config(a)
    pol, ref, pol32, ref32 = pair_tensors(a, cfg)
    f32 = {"policy": pol32, "reference": ref32}
    with tempfile.TemporaryDirectory() as td:
        ckpt_lib.write_tokenizer_json(td)
        tj = os.path.join(td, "tokenizer.json")
        header = ref_score.encode(tj, ["</s>\n<|assistant|>\n"])[0][2:]
        im_start = ref_score.encode(tj, ["<im_start>"])[0][-1]
        jobs = make_jobs(a, tj, header, im_start)
    res = {}
    for v in ["bf16"] + ["f32"] * a.f32 + [x for x in a.variants.split(",") if x]:
        opt = parse_variant(v)
        res[v] = {}
        for mname, ts in (("policy", pol), ("reference", ref)):
            m = build(cfg, ts, opt, f32[mname] if v == "f32" else None)
            res[v][mname] = run_model(m, jobs, cfg["image_size"])
        if v == "bf16":
            c = compare(res[v], res[v])
            print(f"bf16: {c['pairs']} pairs, bf16 reward gap > 1e-2: {c['gap_gt']}, median gap {c['median_gap']:.3g}",
                  flush=True)
            continue
        c = compare(res["bf16"], res[v])
        print(f"{v:28s} |dlp| max {c['max_dlp']:.3g} mean {c['mean_dlp']:.3g}  |dr| max {c['max_dr']:.3g} "
              f"mean {c['mean_dr']:.3g}  reordered {c['reordered']} (gap>1e-2: {c['reordered_gap']})", flush=True)
        del res[v]


if __name__ == "__main__":
    main()
