#!/usr/bin/env python3
"""finish_demo.py DEMO_DIR — measures a trained pair on held-out scenes in PyTorch (top-1 accuracy
of the RLAIF-V reward and of the policy's mean log-likelihood, on the test and the validation
scenes, candidates in mixed phrasings and in one phrasing), records that in training.json, and
writes the sample job (a held-out image, its prompt, 1 truthful + 3 hallucinated candidates) and
the model card (README.md). train_demo.py calls it last; it can be rerun alone."""
import json
import os
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

The test scenes (seed {test_seed}) were never looked at before the recipe below was fixed; the
validation scenes (seed {val_seed}) were used to choose the DPO recipe (see "How the DPO recipe was
chosen"), so their figures lean in its favour.

| top-1 accuracy over {heldout} items (PyTorch, bf16 weights) | test, phrasings mixed | test, one phrasing | validation, mixed | validation, one phrasing |
|---|---|---|---|---|
| RLAIF-V reward (beta · mean log-ratio policy/reference) | {t_m_r:.3f} | {t_o_r:.3f} | {v_m_r:.3f} | {v_o_r:.3f} |
| plain mean log-likelihood of the policy | {t_m_l:.3f} | {t_o_l:.3f} | {v_m_l:.3f} | {v_o_l:.3f} |

{verdict}

The C engine repeats the test columns through the daemon on the same {heldout} items in
`tests/daemon/test_demo_model.py` (ctest `test_demo_model`: it asserts reward >= 0.90 and above the
likelihood on mixed phrasings), and `test_demo_ref` checks that C and PyTorch agree on these
checkpoints (per-token log-prob within 1e-4).

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


def measure(d, n, log):
    """Top-1 accuracies of the pair in d on n items of each held-out set, into a dict."""
    pol = omnilmm.load(os.path.join(d, "policy"), torch.float32)
    ref = omnilmm.load(os.path.join(d, "reference"), torch.float32)
    tok = spm_legacy.SpmLegacy(os.path.join(d, "policy"))
    cfg = pol.cfg
    out = {}
    for name, seed in SETS:
        for mixed in (True, False):
            data = train_demo.encode_items(tok, shapes.make_items(n, seed=seed, mixed=mixed), cfg["image_size"],
                                           cfg["num_query"])
            r, l = train_demo.evaluate(pol, ref, data)
            key = f"{name}_{'mixed' if mixed else 'one_phrasing'}"
            out[key] = {"top1_rlaifv_reward": r, "top1_policy_mean_logp": l}
            log(f"{key} (seed {seed}, {n} items): top-1 rlaifv reward {r:.3f}, policy mean log-likelihood {l:.3f}")
    return out


def finish(d, n, log=print):
    path = os.path.join(d, "training.json")
    tr = json.load(open(path))
    tr["heldout_items"] = n
    tr["heldout"] = measure(d, n, log)
    with open(path, "w") as f:
        json.dump(tr, f, indent=1)
    cfg = json.load(open(os.path.join(d, "policy", "config.json")))
    v = cfg["vision_config"]
    it = next(i for i in shapes.make_items(20, seed=shapes.TEST_SEED, mixed=True) if i["prompt"] == "Describe the image.")
    it["image"].save(os.path.join(d, "sample.png"))
    open(os.path.join(d, "sample_prompt.txt"), "w").write(it["prompt"] + "\n")
    open(os.path.join(d, "sample_candidates.txt"), "w").write("\n".join(it["hallucinated"][:1] + [it["truthful"]] +
                                                                       it["hallucinated"][1:]) + "\n")
    h = tr["heldout"]
    acc = {f"{a[0]}_{b[0]}_{c}": h[f"{a}_{b}"][k] for a in ("test", "validation") for b in ("mixed", "one_phrasing")
           for c, k in (("r", "top1_rlaifv_reward"), ("l", "top1_policy_mean_logp"))}
    open(os.path.join(d, "README.md"), "w").write(CARD.format(
        hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"], heads=cfg["num_attention_heads"],
        kv=cfg["num_key_value_heads"], ffn=cfg["intermediate_size"], vocab=cfg["vocab_size"], vit=v["embed_dim"],
        blocks=v["depth"] - 1, nq=cfg["num_query"], size=cfg["image_size"], spv=cfg["vocab_size"] - 9,
        dpo_lr=tr["dpo_lr"], sft_weight=tr["sft_weight"], vision_steps=tr.get("vision_steps", 0),
        ref_steps=tr["reference_steps"], dpo_steps=tr["dpo_steps"], train=tr["train_items"], heldout=n,
        test_seed=shapes.TEST_SEED, val_seed=shapes.VALIDATION_SEED, minutes=tr["train_minutes"],
        house=" / ".join(f"{p:.2f}" for p in shapes.HOUSE), verdict=verdict(h), **acc))


def main():
    d = sys.argv[1]
    torch.set_num_threads(1)
    finish(d, json.load(open(os.path.join(d, "training.json")))["heldout_items"])


def verdict(h):
    out = []
    for key, label in (("test_mixed", "On the test scenes with mixed phrasings"),
                       ("test_one_phrasing", "With one phrasing per item")):
        r, l = h[key]["top1_rlaifv_reward"], h[key]["top1_policy_mean_logp"]
        out.append(f"{label} the reward {'ranks above' if r > l else 'does NOT rank above'} the plain "
                   f"likelihood ({r:.3f} vs {l:.3f})")
    r, l = h["test_mixed"]["top1_rlaifv_reward"], h["test_mixed"]["top1_policy_mean_logp"]
    return (out[0] + "; issue 8's target is >= 0.90 and above. " + out[1] + ". So the two judge about "
            "equally well in this world; the reward's margin comes from the phrasing prior it cancels, "
            "and it is small (" + f"{r - l:+.3f}" + " on the test scenes).")

if __name__ == "__main__":
    main()
