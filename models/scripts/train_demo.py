#!/usr/bin/env python3
"""train_demo.py — builds the embedded demo model pair (models/demo/{reference,policy}).

  /usr/bin/python3 models/scripts/train_demo.py [--out models/demo] [--quick]

1. A SentencePiece-BPE tokenizer with byte fallback (the family of Mistral's), trained on the
   demo world's text, shipped as tokenizer.model + tokenizer_config.json +
   special_tokens_map.json (RLAIF-V-12B's own layout), with OmniLMM's 9 added tokens.
2. The reference model: OmniLMM architecture (tests/reference/omnilmm.py, real tensor names),
   small widths, trained on truthful answers (supervised, loss on the answer + </s>).
3. The policy: initialised from the reference, trained with DPO (beta 0.1, summed log-probs, as
   RLAIF-V's llava15_train.sh) on (truthful, hallucinated) pairs, plus the NLL of the truthful
   answer; the vision tower and resampler stay frozen, so those tensors are bit-identical in both
   checkpoints.
4. finish_demo.py: held-out evaluation in PyTorch (top-1 accuracy of the RLAIF-V reward and of
   the policy's mean log-likelihood over 1 truthful + 3 hallucinated candidates; the C engine
   repeats it through the daemon in tests/daemon/test_demo_model.py), sample job, model card.
Deterministic: fixed seeds, 1 thread (--threads). Weights are saved in bf16.
"""
import argparse
import contextlib
import copy
import json
import math
import os
import random
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "reference"))
import ckpt_lib  # noqa: E402
import omnilmm  # noqa: E402
import shapes  # noqa: E402
import spm_legacy  # noqa: E402

SYSTEM = ("You are an artificial intelligence assistant, which gives helpful, detailed, and polite answers "
          "to the human's questions.")
ADDED = ckpt_lib.OMNILMM_ADDED
BETA = 0.1
SP_VOCAB = 640


def demo_config(vocab):
    cfg = ckpt_lib.tiny_config(hidden_size=128, intermediate_size=384, num_attention_heads=2, num_key_value_heads=1,
                               num_hidden_layers=2, num_query=64, image_size=112, vocab_size=vocab)
    cfg["_name_or_path"] = "rlaifv-demo"
    cfg["vision_config"] = {"embed_dim": 128, "num_heads": 4, "depth": 4, "mlp_dim": 256, "patch_size": 14,
                            "base_grid": 8}
    return cfg


# ------------------------------------------------------------------ tokenizer

def train_tokenizer(out_dir, items):
    lines = [SYSTEM, "<|system|>", "<|user|>", "<|assistant|>"] * 5000  # frequent enough to merge into words
    for it in items:
        lines += [it["prompt"], it["truthful"]] + it["hallucinated"]
    path = os.path.join(out_dir, "corpus.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")  # no piece can hold a newline: '\n' is byte fallback, as in Mistral
    with contextlib.chdir(out_dir):  # relative paths: the trainer_spec inside tokenizer.model records them
        spm.SentencePieceTrainer.train(
            input="corpus.txt", model_prefix="tokenizer", model_type="bpe", vocab_size=SP_VOCAB,
            byte_fallback=True, character_coverage=1.0, add_dummy_prefix=True, remove_extra_whitespaces=False,
            normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1, split_digits=True,
            allow_whitespace_only_pieces=True, num_threads=1, minloglevel=2, seed_sentencepiece_size=100000)
    os.remove(path)
    os.remove(os.path.join(out_dir, "tokenizer.vocab"))


def write_tokenizer_files(d, src_model):
    import shutil
    shutil.copyfile(src_model, os.path.join(d, "tokenizer.model"))
    dec = {}
    for i, c in [(0, "<unk>"), (1, "<s>"), (2, "</s>")] + [(SP_VOCAB + k, t) for k, t in enumerate(ADDED)]:
        dec[str(i)] = {"content": c, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False,
                       "special": True}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": dec,
                   "additional_special_tokens": ADDED[:3], "bos_token": "<s>", "clean_up_tokenization_spaces": False,
                   "eos_token": "</s>", "legacy": True, "model_max_length": 2048, "pad_token": "</s>",
                   "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>"}, f, indent=2)
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump({"additional_special_tokens": ADDED[:3], "bos_token": "<s>", "eos_token": "</s>",
                   "pad_token": "</s>", "unk_token": "<unk>"}, f, indent=2)


def build_ids(tok, prompt, answer, Q):
    """(ids, P, image_start): the whole conversation tokenised as one string (BOS added); P = first
    scored position (after '\\n<|assistant|>\\n'); image_start = index of <im_start>."""
    head = f"<|system|>\n{SYSTEM}</s>\n<|user|>\n<im_start>" + "<im_patch>" * Q + f"<im_end>\n{prompt}</s>"
    ids_head = tok.encode(head)
    tail_hdr = tok.encode("\n<|assistant|>\n", add_bos=False)
    tail = tok.encode("\n<|assistant|>\n" + answer + "</s>", add_bos=False)
    assert tail[:len(tail_hdr)] == tail_hdr, "the assistant header must tokenise the same alone"
    return ids_head + tail, len(ids_head) + len(tail_hdr), ids_head.index(SP_VOCAB + 1)


# ------------------------------------------------------------------ data

def pixels_of(img, size):
    arr = np.array(img.convert("RGB").resize((size, size), 3))  # 3 = BICUBIC, as the official transform
    return omnilmm.normalise(arr)


def encode_items(tok, items, size, Q):
    out = []
    for it in items:
        px = pixels_of(it["image"], size)
        cands = [it["truthful"]] + it["hallucinated"]
        seqs = [build_ids(tok, it["prompt"], c, Q) for c in cands]
        out.append({"px": px, "seqs": seqs})
    return out


def batch_logps(model, px, seqs, rows=None):
    """Per-sequence (sum, count) of log p over the scored tokens; seqs: [(ids, P, start)], one px per
    seq (or the image rows already computed, when the vision side is frozen)."""
    L = max(len(s[0]) for s in seqs)
    ids = torch.full((len(seqs), L), 2, dtype=torch.long)
    mask = torch.zeros(len(seqs), L)
    for b, (s, P, _) in enumerate(seqs):
        ids[b, :len(s)] = torch.tensor(s)
        mask[b, P:len(s)] = 1
    if rows is None:
        rows = model.image_embedding(px)
    logits = model(ids, rows, [s[2] for s in seqs])
    lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(2, ids[:, 1:, None])[..., 0]
    m = mask[:, 1:]
    return (lp * m).sum(1), m.sum(1)


# ------------------------------------------------------------------ training

def scene_targets(objs):
    """4 slots (circle, square, triangle, star): 0 = absent, 1 + colour index = present in that colour."""
    t = [0] * len(shapes.SHAPES)
    for s, c, *_ in objs:
        t[shapes.SHAPES.index(s)] = 1 + list(shapes.COLOURS).index(c)
    return t


def freeze_vision(model):
    """Vision tower + resampler stop learning: the language stages train over their fixed rows."""
    for p in list(model.model.vision_tower.parameters()) + list(model.model.resampler.parameters()):
        p.requires_grad_(False)


def pretrain_vision(model, steps, bs, lr, size, log):
    """Stage 0, as the real model's vision encoder is pretrained before the language model sees it:
    the vision tower + resampler learn the scene (which shape is present in which colour) through a
    linear probe on the mean image row, on freshly drawn scenes (seed 3, never the training or held-out
    items). The probe is thrown away; only the tower and resampler weights remain."""
    vis = list(model.model.vision_tower.parameters()) + [p for p in model.model.resampler.parameters()
                                                           if p.requires_grad]
    probe = torch.nn.Linear(model.cfg["hidden_size"], len(shapes.SHAPES) * (1 + len(shapes.COLOURS)))
    opt = torch.optim.AdamW(vis + list(probe.parameters()), lr=lr, weight_decay=0.0)
    rng = random.Random(3)
    K = 1 + len(shapes.COLOURS)

    def scenes(n, r):
        px, y = [], []
        for _ in range(n):
            objs, bg = shapes.sample_scene(r)
            px.append(pixels_of(shapes.draw(objs, bg, r), size))
            y.append(scene_targets(objs))
        return torch.stack(px), torch.tensor(y)

    probe_px, probe_y = scenes(300, random.Random(4))
    for step in range(steps):
        px, y = scenes(bs, rng)
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * step / steps))
        loss = F.cross_entropy(probe(model.image_embedding(px).mean(1)).view(-1, K), y.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vis, 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            with torch.no_grad():
                pred = probe(model.image_embedding(probe_px).mean(1)).view(-1, len(shapes.SHAPES), K).argmax(-1)
            log(f"vision step {step}: loss {loss.item():.4f}, probe: whole scene right "
                f"{(pred == probe_y).all(1).float().mean().item():.3f} of 300 fresh scenes")
    freeze_vision(model)


def image_rows(model, data):
    """The frozen vision side's rows for every item, computed once."""
    with torch.no_grad():
        for i in range(0, len(data), 64):
            chunk = data[i:i + 64]
            rows = model.image_embedding(torch.stack([d["px"] for d in chunk]))
            for d, r in zip(chunk, rows):
                d["rows"] = r


def train_reference(model, data, steps, bs, lr, log):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    rng = random.Random(11)
    model.train()
    for step in range(steps):
        batch = [data[rng.randrange(len(data))] for _ in range(bs)]
        s, n = batch_logps(model, None, [b["seqs"][0] for b in batch], torch.stack([b["rows"] for b in batch]))
        loss = -(s.sum() / n.sum())
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / steps))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"reference step {step}: loss {loss.item():.4f}")
    model.eval()


def train_policy(policy, ref, data, steps, bs, lr, sft, log):
    """DPO (beta 0.1, summed log-probs) on every (truthful, hallucinated) pair of bs items per step,
    plus sft x the mean NLL of the truthful answers. The NLL term keeps the policy from lowering the
    truthful answers along with the hallucinated ones (without it, DPO here pushed a truthful
    answer's log-prob down by 15-40 nats, mostly on the token after the content word, and the
    log-ratio turned into noise). The RLHF-V/RLAIF-V family of DPO trainers has the same knob
    (SFT_weight, default 0)."""
    opt = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    rng = random.Random(12)
    policy.train()
    for step in range(steps):
        batch = [data[rng.randrange(len(data))] for _ in range(bs)]
        pairs = [(b, k) for b in batch for k in (1, 2, 3)]
        rows = torch.stack([b["rows"] for b, _ in pairs] * 2)
        seqs = [b["seqs"][0] for b, _ in pairs] + [b["seqs"][k] for b, k in pairs]
        with torch.no_grad():
            rs, _ = batch_logps(ref, None, seqs, rows)
        ps, cnt = batch_logps(policy, None, seqs, rows)
        n = len(pairs)
        margin = BETA * ((ps[:n] - rs[:n]) - (ps[n:] - rs[n:]))
        loss = -F.logsigmoid(margin).mean() + sft * (-(ps[:n].sum() / cnt[:n].sum()))
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 50)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step == steps - 1:
            log(f"policy step {step}: loss {loss.item():.4f}, reward margin {margin.mean().item() / BETA:.3f}")
    policy.eval()


def evaluate(policy, ref, data):
    """Top-1 accuracy (truthful = candidate 0) of the RLAIF-V reward and of the policy's mean log-prob."""
    hit_r = hit_l = 0
    with torch.no_grad():
        for it in data:
            px = it["px"].unsqueeze(0).expand(4, -1, -1, -1)
            ps, n = batch_logps(policy, px, it["seqs"])
            rs, _ = batch_logps(ref, px, it["seqs"])
            reward = BETA * (ps - rs) / n
            hit_r += int(torch.argmax(reward).item() == 0)
            hit_l += int(torch.argmax(ps / n).item() == 0)
    return hit_r / len(data), hit_l / len(data)


def bf16_roundtrip(model):
    m = copy.deepcopy(model)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "demo"))
    ap.add_argument("--quick", action="store_true", help="a few steps only (to test the script)")
    ap.add_argument("--reference", help="start from this already-trained reference (skips stages 0-1: "
                                        "to iterate on the DPO stage; same result as a whole run that made it)")
    ap.add_argument("--train", type=int, default=6000)
    ap.add_argument("--heldout", type=int, default=600)
    ap.add_argument("--vision-steps", type=int, default=600)
    ap.add_argument("--ref-steps", type=int, default=3000)
    ap.add_argument("--dpo-steps", type=int, default=1500)
    ap.add_argument("--dpo-lr", type=float, default=2e-4)
    ap.add_argument("--sft-weight", type=float, default=1.0, help="NLL of the truthful answer added to the DPO loss")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the shipped pair: 1; others change the bits)")
    a = ap.parse_args()
    if a.quick:
        a.train, a.heldout, a.vision_steps, a.ref_steps, a.dpo_steps = 200, 40, 10, 20, 10
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    t0 = time.time()
    log_lines = []

    def log(s):
        s = f"[{time.time() - t0:7.1f}s] {s}"
        print(s, flush=True)
        log_lines.append(s)

    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    train_items = shapes.make_items(a.train, seed=shapes.TRAIN_SEED)
    train_tokenizer(out, train_items)
    tok_dir = os.path.join(out, "tokenizer")
    os.makedirs(tok_dir, exist_ok=True)
    write_tokenizer_files(tok_dir, os.path.join(out, "tokenizer.model"))
    tok = spm_legacy.SpmLegacy(tok_dir)
    cfg = demo_config(SP_VOCAB + len(ADDED))
    Q, S = cfg["num_query"], cfg["image_size"]
    train = encode_items(tok, train_items, S, Q)
    log(f"data: {len(train)} train items; vocab {cfg['vocab_size']}")

    if a.reference:
        ref = omnilmm.load(a.reference, torch.float32)
        freeze_vision(ref)
        image_rows(ref, train)
        ref.eval()
        log(f"reference loaded from {a.reference}")
    else:
        ref = omnilmm.OmniLMM(cfg)
        init = ckpt_lib.random_weights(cfg, seed=3, dtype="f32")
        ref.load_state_dict(init)
        pretrain_vision(ref, a.vision_steps, 32, 1e-3, S, log)
        ref = bf16_roundtrip(ref)  # the rows the language model learns from are the shipped (bf16) tower's
        image_rows(ref, train)
        train_reference(ref, train, a.ref_steps, 16, 3e-3, log)
        ref = bf16_roundtrip(ref)
    policy = copy.deepcopy(ref)
    train_policy(policy, ref, train, a.dpo_steps, 8, a.dpo_lr, a.sft_weight, log)
    policy = bf16_roundtrip(policy)
    for name, m in (("reference", ref), ("policy", policy)):
        d = os.path.join(out, name)
        c = dict(cfg, _name_or_path=f"rlaifv-demo-{name}")
        ckpt_lib.write_checkpoint(d, c, {k: v.to(torch.bfloat16) for k, v in m.state_dict().items()})
        write_tokenizer_files(d, os.path.join(out, "tokenizer.model"))
    os.remove(os.path.join(out, "tokenizer.model"))
    import shutil
    shutil.rmtree(tok_dir)
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump({"heldout_items": a.heldout, "train_items": len(train), "vision_steps": a.vision_steps,
                   "reference_steps": a.ref_steps, "dpo_steps": a.dpo_steps, "dpo_lr": a.dpo_lr,
                   "sft_weight": a.sft_weight, "threads": a.threads, "train_minutes": (time.time() - t0) / 60,
                   "log": log_lines}, f, indent=1)
    import finish_demo
    finish_demo.finish(out, a.heldout, log)  # adds the held-out figures to training.json


if __name__ == "__main__":
    main()
