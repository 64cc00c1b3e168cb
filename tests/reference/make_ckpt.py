#!/usr/bin/env python3
"""make_ckpt.py — writes small random OmniLMM/RLAIF-V checkpoints in the real HF layout.

  make_ckpt.py --out DIR [--dtype bf16|f16|f32] [--shards N] [--seed S] [--set key=value ...]
  make_ckpt.py --real-widths --layers 2 --vit-blocks 2 --out DIR     (benchmark checkpoint)
  make_ckpt.py --suite DIR     (the set the foundation tests use, see below)
"""
import argparse
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_lib as cl  # noqa: E402


def suite(root):
    """single/ sharded/ f32/ f16/ and two broken ones: missing_tensor/ bad_shape/."""
    cfg = cl.tiny_config()
    w = cl.random_weights(cfg, seed=1, dtype="bf16")
    cl.write_checkpoint(os.path.join(root, "single"), cfg, w)
    cl.write_checkpoint(os.path.join(root, "sharded"), cfg, w, shards=3)
    cl.write_checkpoint(os.path.join(root, "f32"), cfg, cl.random_weights(cfg, seed=1, dtype="f32"))
    cl.write_checkpoint(os.path.join(root, "f16"), cfg, cl.random_weights(cfg, seed=1, dtype="f16"), shards=2)
    broken = dict(w)
    del broken["model.layers.1.mlp.up_proj.weight"]
    del broken["model.resampler.query"]
    broken["model.extra.weight"] = torch.zeros(4, dtype=torch.bfloat16)
    cl.write_checkpoint(os.path.join(root, "missing_tensor"), cfg, broken)
    bad = dict(w)
    bad["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(32, 256, dtype=torch.bfloat16)
    cl.write_checkpoint(os.path.join(root, "bad_shape"), cfg, bad)
    # An index naming a shard that is not there.
    ms = os.path.join(root, "shard_missing")
    shutil.rmtree(ms, ignore_errors=True)
    shutil.copytree(os.path.join(root, "sharded"), ms)
    os.remove(os.path.join(ms, "model-00002-of-00003.safetensors"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out")
    ap.add_argument("--suite")
    ap.add_argument("--dtype", default="bf16", choices=sorted(cl.DTYPES))
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--real-widths", action="store_true")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vit-blocks", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="config key=json-value override")
    ap.add_argument("--tokenizer", action="store_true",
                    help="also write tokenizer.json: Mistral's vocabulary + OmniLMM's 9 added tokens")
    a = ap.parse_args()
    if a.suite:
        suite(a.suite)
        return
    if not a.out:
        ap.error("--out or --suite is required")
    cfg = cl.real_widths_config(a.layers, a.vit_blocks) if a.real_widths else cl.tiny_config()
    for kv in a.set:
        k, v = kv.split("=", 1)
        v = json.loads(v)
        if k == "vision_config":
            cfg["vision_config"] = dict(cfg["vision_config"], **v)
        else:
            cfg[k] = v
    cl.write_checkpoint(a.out, cfg, cl.random_weights(cfg, seed=a.seed, dtype=a.dtype), shards=a.shards)
    if a.tokenizer:
        cl.write_tokenizer_json(a.out)


if __name__ == "__main__":
    main()
