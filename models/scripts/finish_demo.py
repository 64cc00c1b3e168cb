#!/usr/bin/env python3
"""finish_demo.py DEMO_DIR [--seeds 5,11,12,...] — measures a trained pair on held-out scenes in
PyTorch (top-1 accuracy of the RLAIF-V reward and of the policy's mean log-likelihood, candidates in
mixed phrasings and in one phrasing) on the test and the validation scenes and on every held-out seed
of --seeds (default SWEEP_SEEDS), records that in training.json, and writes the sample job (a held-out
image, its prompt, 1 truthful + 3 hallucinated candidates) and the model card (README.md).
train_demo.py calls it last; it can be rerun alone (it does not change the weights)."""
import argparse
import json
import os
import statistics
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import omnilmm  # noqa: E402
import shapes  # noqa: E402
import spm_legacy  # noqa: E402
import train_demo  # noqa: E402

SETS = [("test", shapes.TEST_SEED), ("validation", shapes.VALIDATION_SEED)]
# Held-out seeds measured beside the test seed: one 600-item test set says little about an
# accuracy difference of a few items, so the card reports the spread over these. 11-17 were
# first measured for issue 14, after the recipe was fixed. Seeds whose scene streams training
# used are refused (the validation seed is reported on its own, never in the mean).
SWEEP_SEEDS = (shapes.TEST_SEED, 11, 12, 13, 14, 15, 16, 17)
NOT_HELD_OUT = {shapes.TRAIN_SEED: "the training scenes", shapes.VALIDATION_SEED: "the validation scenes",
                3: "vision pretraining's scenes (random.Random(3))", 4: "vision pretraining's probe scenes (random.Random(4))"}

CARD = """# rlaifv demo model pair (demonstration only)

A **demonstration** model pair of the exact OmniLMM / RLAIF-V-12B architecture and file layout —
EVA-style ViT (post-norm blocks) + resampler + Mistral-style decoder, real tensor names,
`config.json` keys, bf16 safetensors, `tokenizer.model` + `tokenizer_config.json` +
`special_tokens_map.json` as RLAIF-V-12B ships them — but tiny, and trained on a synthetic
world of coloured shapes. It is the daemon's default model so that `bash scripts/demo.sh` shows
a real ranking on a fresh machine. It knows nothing outside that world.

| | |
|---|---|
| widths | decoder hidden {hidden}, {layers} layers, {heads}/{kv} heads, FFN {ffn}, vocab {vocab}; ViT {vit} wide, {blocks} blocks; {nq} image rows; image {size} px |
| tokenizer | SentencePiece BPE with byte fallback ({spv} pieces) + OmniLMM's 9 added tokens, trained with python3-sentencepiece |
| vision | pretrained first, from random init ({vision_steps} steps of 32 freshly drawn scenes): tower + resampler learn which shape is present in which colour through a linear probe on the mean image row (the probe is discarded), as the real model's vision encoder is pretrained before its language model; then frozen |
| reference | language side trained from random init on truthful answers over the frozen vision side ({ref_steps} steps, next-token loss on the answer + `</s>`) |
| policy | the reference + DPO (beta 0.1, summed log-probs, {dpo_steps} steps of 8 scenes x their 3 (truthful, hallucinated) pairs, lr {dpo_lr:g}) plus {sft_weight:g} x the mean NLL of the truthful answers, which keeps DPO from pushing the truthful answers down along with the hallucinated ones (the RLHF-V/RLAIF-V family of DPO trainers has this knob as `SFT_weight`, default 0; see "How the DPO recipe was chosen"); vision tower and resampler frozen, so they are bit-identical in both checkpoints and mapped once |
| data | {train} training scenes (models/scripts/shapes.py, seed 1): 1–3 shapes (circle, square, triangle, star) in 6 colours, radius 17–24 px of 224, each in its own cell of a 4 × 4 layout (centre jittered ±2 px), on plain or noisy backgrounds; prompts "Describe the image.", "What shapes do you see?", "What colour is the X?", "How many shapes are there?"; hallucinations change a colour or a shape, add an absent shape, or miscount; each answer in one of 4 phrasings per question kind (e.g. "The image shows …" / "I can see …" / "There is … in the picture." / "This is a picture of …"), drawn with probabilities {house} (the training data's house style; a truthful answer and its hallucinations share one) |

## Measured (held-out scenes, never trained on; 1 truthful + 3 hallucinated candidates)

Candidates to rerank come from different answerers, each with its own way of saying things, so the
headline set phrases each of the four candidates independently, any of the 4 phrasings equally likely
(`shapes.make_items(..., mixed=True)`). The plain likelihood then also scores how usual a phrasing
is; the RLAIF-V log-ratio cancels most of that, because policy and reference share the phrasing
prior (a DPO pair shares one phrasing, so DPO has no direct push on it). The second set is the
same scenes with all four candidates in one house phrasing, where phrasing says nothing and the
likelihood is not misled.

Each held-out seed below is a fresh set of {heldout} scenes of the same world (`shapes.make_items(
{heldout}, seed=S)`), top-1 accuracy in PyTorch on the shipped bf16 weights. Seed {test_seed} is the
test seed: its scenes were never looked at before the recipe below was fixed; seeds {extra_seeds}
were first measured after that, for issue 14, with the pair unchanged. The validation scenes
(seed {val_seed}) were used to choose the DPO recipe (see "How the DPO recipe was chosen"), so their
figures lean in its favour: they are listed apart and left out of the mean. Seed 1 is the training
scenes and is never measured here.

| seed | mixed: RLAIF-V reward | mixed: plain likelihood | mixed: reward − likelihood (items) | one phrasing: reward | one phrasing: likelihood | one phrasing: reward − likelihood (items) |
|---|---|---|---|---|---|---|
{seed_rows}

RLAIF-V reward = beta · mean log-ratio policy/reference; plain likelihood = the policy's mean
log-likelihood of the candidate. Mean ± sample standard deviation over the {nseeds} held-out seeds
(validation excluded); with {heldout} items one item is {one_item:.4f}, and the binomial standard
error of a single accuracy near {typ:.2f} is about {se:.3f}.

{verdict}

Reproduce these figures (20 s to 1.5 min per seed and phrasing set on one core, depending on the
load; rewrites `training.json`'s held-out figures, this card and the sample job, not the weights):

```
/usr/bin/python3 models/scripts/finish_demo.py models/demo --seeds {seeds_arg}
```

The C engine repeats the test seed's figures through the daemon on the same {heldout} items in
`tests/daemon/test_demo_model.py` (ctest `test_demo_model`: it asserts reward >= 0.90 on mixed
phrasings and that the daemon's four top-1 figures match the PyTorch ones recorded in
`training.json` within 2 items; it prints, and does not assert, which of reward and likelihood is
ahead), and `test_demo_ref` checks that C and PyTorch agree on these checkpoints (per-token
log-prob within 1e-4).

## How the DPO recipe was chosen

On this reference, validation scenes (seed 2), phrasings mixed, top-1 over 600 items; each row one
DPO run (NLL = the truthful answer's mean NLL added to the DPO loss, weight 1):

| DPO variant | RLAIF-V reward | policy likelihood |
|---|---|---|
| lr 5e-4, 800 steps, 1 random pair per scene, no NLL (the recipe before) | 0.937 | 0.957 |
| lr 1e-4, 800 steps, 1 pair, no NLL | 0.903 | 0.958 |
| lr 5e-4, 800 steps, 1 pair, NLL | 0.933 | 0.960 |
| lr 5e-4, 800 steps, all 3 pairs, NLL | 0.950 | 0.970 |
| lr 2e-4, 1500 steps, all 3 pairs, NLL (shipped) | 0.965 | 0.960 |
| lr 2e-4, 1500 steps, all 3 pairs, NLL weight 2 (tried after; not adopted) | 0.965 | 0.962 |
| lr 1e-4, 2500 steps, all 3 pairs, NLL (tried after; not adopted: same margin) | 0.970 | 0.965 |

Without the NLL term the policy pushed the truthful answers down too: their log-prob fell by 15-40
nats, mostly on the token after the content word, and the log-ratio became noise. An earlier pair
trained with one phrasing only (the recipe of the first row) measured 0.965 for the reward against
0.978 for the likelihood: there the reference is itself a near-perfect judge of content, and the
phrasing prior the log-ratio cancels does not exist.

## Rebuild

```
/usr/bin/python3 models/scripts/train_demo.py --out models/demo
```

Fixed seeds, 1 thread, CPU; took {minutes:.0f} minutes on 2 shared cores (another job running
beside it). Reruns give the same files: the shipped weights came out bit for bit the same from a
whole run and from a run that started at the saved reference, whose weights a third run also
matched; `tokenizer.model` records relative paths only, so it does not depend on `--out`.
"""


def measure(d, n, seeds, log):
    """Top-1 accuracies of the pair in d on n items of each held-out set (SETS) and of each seed in
    seeds, into two dicts (a seed in both is measured once)."""
    pol = omnilmm.load(os.path.join(d, "policy"), torch.float32)
    ref = omnilmm.load(os.path.join(d, "reference"), torch.float32)
    tok = spm_legacy.SpmLegacy(os.path.join(d, "policy"))
    cfg = pol.cfg
    done = {}

    def acc(seed, mixed):
        if (seed, mixed) not in done:
            data = train_demo.encode_items(tok, shapes.make_items(n, seed=seed, mixed=mixed), cfg["image_size"],
                                           cfg["num_query"])
            r, l = train_demo.evaluate(pol, ref, data)
            done[seed, mixed] = {"top1_rlaifv_reward": r, "top1_policy_mean_logp": l}
            log(f"seed {seed}, {'mixed' if mixed else 'one_phrasing'} ({n} items): top-1 rlaifv reward {r:.3f}, "
                f"policy mean log-likelihood {l:.3f}")
        return done[seed, mixed]

    out = {f"{name}_{'mixed' if mixed else 'one_phrasing'}": acc(seed, mixed)
           for name, seed in SETS for mixed in (True, False)}
    sweep = {str(seed): {"mixed": acc(seed, True), "one_phrasing": acc(seed, False)} for seed in seeds}
    return out, sweep


def check_seeds(seeds):
    for s in seeds:
        if s in NOT_HELD_OUT:
            raise SystemExit(f"finish_demo: seed {s} is {NOT_HELD_OUT[s]}, not a held-out test seed")
    if len(set(seeds)) != len(seeds):
        raise SystemExit("finish_demo: a seed is listed twice")
    return list(seeds)


def finish(d, n, log=print, seeds=SWEEP_SEEDS):
    seeds = check_seeds(seeds)
    path = os.path.join(d, "training.json")
    tr = json.load(open(path))
    tr["heldout_items"] = n
    tr["heldout"], tr["heldout_seeds"] = measure(d, n, seeds, log)
    with open(path, "w") as f:
        json.dump(tr, f, indent=1)
    write_card(d, tr)


def write_card(d, tr):
    """The sample job and the model card, from the figures recorded in training.json."""
    n = tr["heldout_items"]
    seeds = [int(x) for x in tr["heldout_seeds"]]
    cfg = json.load(open(os.path.join(d, "policy", "config.json")))
    v = cfg["vision_config"]
    it = next(i for i in shapes.make_items(20, seed=shapes.TEST_SEED, mixed=True) if i["prompt"] == "Describe the image.")
    it["image"].save(os.path.join(d, "sample.png"))
    open(os.path.join(d, "sample_prompt.txt"), "w").write(it["prompt"] + "\n")
    open(os.path.join(d, "sample_candidates.txt"), "w").write("\n".join(it["hallucinated"][:1] + [it["truthful"]] +
                                                                       it["hallucinated"][1:]) + "\n")
    h, sw = tr["heldout"], tr["heldout_seeds"]
    st = summary(sw)
    typ = st["mixed"]["top1_rlaifv_reward"]["mean"]
    open(os.path.join(d, "README.md"), "w").write(CARD.format(
        hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"], heads=cfg["num_attention_heads"],
        kv=cfg["num_key_value_heads"], ffn=cfg["intermediate_size"], vocab=cfg["vocab_size"], vit=v["embed_dim"],
        blocks=v["depth"] - 1, nq=cfg["num_query"], size=cfg["image_size"], spv=cfg["vocab_size"] - 9,
        dpo_lr=tr["dpo_lr"], sft_weight=tr["sft_weight"], vision_steps=tr.get("vision_steps", 0),
        ref_steps=tr["reference_steps"], dpo_steps=tr["dpo_steps"], train=tr["train_items"], heldout=n,
        test_seed=shapes.TEST_SEED, val_seed=shapes.VALIDATION_SEED, minutes=tr["train_minutes"],
        house=" / ".join(f"{p:.2f}" for p in shapes.HOUSE),
        extra_seeds=", ".join(str(s) for s in seeds if s != shapes.TEST_SEED) or "(none)",
        seed_rows=seed_rows(sw, st, h, n), nseeds=len(seeds), one_item=1 / n, typ=typ,
        se=(typ * (1 - typ) / n) ** 0.5, seeds_arg=",".join(str(s) for s in seeds), verdict=verdict(st, len(seeds), n)))


R, L = "top1_rlaifv_reward", "top1_policy_mean_logp"


def mean_sd(xs):
    return {"mean": statistics.mean(xs), "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
            "min": min(xs), "max": max(xs)}


def summary(sw):
    """Per phrasing set: mean/sd/min/max over the seeds of each accuracy and of reward - likelihood,
    and how many seeds favour each (a tie = the same number of items right)."""
    out = {}
    for ph in ("mixed", "one_phrasing"):
        r = [v[ph][R] for v in sw.values()]
        l = [v[ph][L] for v in sw.values()]
        diff = [a - b for a, b in zip(r, l)]
        out[ph] = {R: mean_sd(r), L: mean_sd(l), "diff": mean_sd(diff),
                   "reward_ahead": sum(a > b for a, b in zip(r, l)),
                   "likelihood_ahead": sum(a < b for a, b in zip(r, l)),
                   "tied": sum(a == b for a, b in zip(r, l))}
    return out


def seed_rows(sw, st, h, n):
    def diff(x):
        return f"{x[R] - x[L]:+.4f} ({round((x[R] - x[L]) * n):+d})"

    def row(label, m, o):
        return f"| {label} | {m[R]:.3f} | {m[L]:.3f} | {diff(m)} | {o[R]:.3f} | {o[L]:.3f} | {diff(o)} |"
    rows = [row(s + (" (test)" if int(s) == shapes.TEST_SEED else ""), v["mixed"], v["one_phrasing"])
            for s, v in sw.items()]

    def ms(x):
        return f"{x['mean']:.3f} ± {x['sd']:.3f}"
    rows.append(f"| **mean ± sd, {len(sw)} seeds** | " + " | ".join(
        f"{ms(st[ph][R])} | {ms(st[ph][L])} | {st[ph]['diff']['mean']:+.4f} ± {st[ph]['diff']['sd']:.4f}"
        for ph in ("mixed", "one_phrasing")) + " |")
    rows.append("| **reward − likelihood: min … max** | | | " + " | | | ".join(
        f"{st[ph]['diff']['min']:+.4f} … {st[ph]['diff']['max']:+.4f}" for ph in ("mixed", "one_phrasing")) + " |")
    rows.append(row(f"{shapes.VALIDATION_SEED} (validation, not in the mean)", h["validation_mixed"],
                    h["validation_one_phrasing"]))
    return "\n".join(rows)


def verdict(st, nseeds, n):
    out = []
    for ph, label in (("mixed", "With phrasings mixed (the headline set)"), ("one_phrasing", "With one phrasing per item")):
        x = st[ph]
        d = x["diff"]
        sem = d["sd"] / nseeds ** 0.5
        t = d["mean"] / sem if sem else float("inf")
        consistent = x["reward_ahead"] == nseeds or x["likelihood_ahead"] == nseeds
        out.append(
            f"{label}, over {nseeds} held-out seeds, the RLAIF-V reward ranks the truthful answer first in "
            f"{x[R]['mean']:.3f} ± {x[R]['sd']:.3f} of the items and the plain likelihood in "
            f"{x[L]['mean']:.3f} ± {x[L]['sd']:.3f}. Reward − likelihood is {d['mean']:+.4f} ± {d['sd']:.4f} "
            f"(from {d['min']:+.4f} to {d['max']:+.4f}, i.e. {d['mean'] * n:+.1f} items of {n} on average); the "
            f"reward is ahead on {x['reward_ahead']} seeds, the likelihood on {x['likelihood_ahead']}, tied on "
            f"{x['tied']}. "
            + ("The sign is the same on every seed" if consistent else "Which of the two ranks better depends on the seed")
            + f", and the mean difference is {abs(t):.1f} standard errors of the mean ({sem:.4f}) from zero"
            + (": not distinguishable from no difference on these seeds." if abs(t) < 2 else "."))
    r = st["mixed"][R]
    out.append(f"Issue 8's target, reward >= 0.90 on mixed phrasings, holds on "
               f"{'every seed' if r['min'] >= 0.90 else 'not every seed'} (lowest {r['min']:.3f}).")
    return "\n\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("demo_dir")
    ap.add_argument("--seeds", default=",".join(str(s) for s in SWEEP_SEEDS),
                    help="comma-separated held-out scene seeds to measure beside the test and validation sets "
                         f"(default {','.join(str(s) for s in SWEEP_SEEDS)}; 1-4 are refused)")
    ap.add_argument("--card-only", action="store_true",
                    help="measure nothing: rewrite the card and the sample job from training.json's figures")
    a = ap.parse_args()
    if a.card_only:
        write_card(a.demo_dir, json.load(open(os.path.join(a.demo_dir, "training.json"))))
        return
    torch.set_num_threads(1)
    finish(a.demo_dir, json.load(open(os.path.join(a.demo_dir, "training.json")))["heldout_items"],
           seeds=[int(x) for x in a.seeds.split(",") if x.strip()])


if __name__ == "__main__":
    main()
