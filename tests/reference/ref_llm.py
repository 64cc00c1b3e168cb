#!/usr/bin/env python3
"""ref_llm.py — reference per-token log-probs of candidates under the Mistral decoder.

Written from docs/model.md §8 / §9, the way the official code scores: ONE full
forward per candidate over prefix + candidate (no KV cache, no packing), in float64 on the
checkpoint's weights (bf16/f16/f32 widened exactly). Embeddings, RMSNorm, rotate_half RoPE
with theta from config.json, GQA through repeat_kv, causal softmax, SwiGLU, final norm,
lm_head, log_softmax; logp(c_j) = log_softmax(logits[P-1+j])[c_j].

Prefix rows may be given as embedding rows instead of ids (the image slots): a float32
[n, hidden] matrix spliced at given positions.

  ref_llm.py --suite DIR      writes checkpoints + cases for tests/test_llm_ref.c
  ref_llm.py --ckpt DIR --case FILE      recomputes one case file and prints max |diff|

Case file (text, whitespace separated), read by tests/test_llm_ref.c:
  ckpt <dir>
  prefix <P> <P ids>                (ids at embedding positions are placeholders)
  emb <n> <file|-> <n positions>    (file: n*hidden float32, row i goes to position i)
  ncand <N>
  N times:  cand <T> <T ids>  logp <T values, %.17g>
"""
import argparse
import os
import random
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_lib  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


def rms_norm(x, w, eps):
    # float64 end to end here; the official code normalises in fp32, exact math is the judge
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def repeat_kv(x, n_rep):
    # [nkv, L, hd] -> [nkv * n_rep, L, hd], head j uses kv head j // n_rep
    if n_rep == 1:
        return x
    nkv, L, hd = x.shape
    return x[:, None].expand(nkv, n_rep, L, hd).reshape(nkv * n_rep, L, hd)


class Decoder:
    def __init__(self, ckpt_dir):
        self.cfg, t = ckpt_lib.load_checkpoint(ckpt_dir)
        c = self.cfg
        self.W = {k: v.to(torch.float64) for k, v in t.items()
                  if k.startswith(("model.layers.", "model.embed_tokens", "model.norm", "lm_head"))}
        self.H, self.nh, self.nkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = self.H // self.nh
        self.eps = c["rms_norm_eps"]
        self.theta = c.get("rope_theta", 10000.0)
        self.L = c["num_hidden_layers"]

    def embed(self, ids, emb_rows=None, emb_pos=()):
        x = self.W["model.embed_tokens.weight"][torch.tensor(ids, dtype=torch.long)].clone()
        for i, p in enumerate(emb_pos):
            x[p] = emb_rows[i]
        return x

    def hidden(self, x):
        """Final-normed hidden states [L, H] for embedded rows x, positions 0..L-1, causal."""
        W, hd, nh, nkv = self.W, self.hd, self.nh, self.nkv
        n = x.shape[0]
        pos = torch.arange(n, dtype=torch.float64)
        inv = 1.0 / (self.theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        freqs = torch.outer(pos, inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
        for i in range(self.L):
            p = f"model.layers.{i}."
            h = rms_norm(x, W[p + "input_layernorm.weight"], self.eps)
            q = (h @ W[p + "self_attn.q_proj.weight"].T).view(n, nh, hd).transpose(0, 1)
            k = (h @ W[p + "self_attn.k_proj.weight"].T).view(n, nkv, hd).transpose(0, 1)
            v = (h @ W[p + "self_attn.v_proj.weight"].T).view(n, nkv, hd).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
            s = q @ k.transpose(1, 2) / (hd ** 0.5) + mask
            a = torch.softmax(s, dim=-1) @ v
            x = x + a.transpose(0, 1).reshape(n, nh * hd) @ W[p + "self_attn.o_proj.weight"].T
            h = rms_norm(x, W[p + "post_attention_layernorm.weight"], self.eps)
            g = h @ W[p + "mlp.gate_proj.weight"].T
            u = h @ W[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(g) * u) @ W[p + "mlp.down_proj.weight"].T
        return rms_norm(x, W["model.norm.weight"], self.eps)

    def cand_logps(self, prefix_ids, cand, emb_rows=None, emb_pos=()):
        """Per-token log-probs of cand after the prefix: one full forward, no cache."""
        P = len(prefix_ids)
        x = self.embed(list(prefix_ids) + list(cand), emb_rows, emb_pos)
        h = self.hidden(x)
        # logits[:, :-1] against labels[:, 1:]; masked (prefix) rows would not change the scored ones
        rows = h[P - 1:P - 1 + len(cand)]
        lp = torch.log_softmax(rows @ self.W["lm_head.weight"].T, dim=-1)
        return [lp[j, c].item() for j, c in enumerate(cand)]


# ---------------------------------------------------------------- case files

def write_case(path, ckpt_dir, dec, prefix, emb_pos, emb_rows, cands):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    emb_file = "-"
    if len(emb_pos):
        emb_file = path[:-4] + ".emb.f32"
        emb_rows.to(torch.float32).numpy().tofile(emb_file)
    with open(path, "w") as f:
        f.write(f"ckpt {ckpt_dir}\n")
        f.write(f"prefix {len(prefix)} " + " ".join(map(str, prefix)) + "\n")
        f.write(f"emb {len(emb_pos)} {emb_file} " + " ".join(map(str, emb_pos)) + "\n")
        f.write(f"ncand {len(cands)}\n")
        er = emb_rows.to(torch.float64) if emb_rows is not None else None
        for c in cands:
            lp = dec.cand_logps(prefix, c, er, emb_pos)
            f.write(f"cand {len(c)} " + " ".join(map(str, c)) + "\n")
            f.write(f"logp {len(c)} " + " ".join("%.17g" % v for v in lp) + "\n")


def read_case(path):
    tok = open(path).read().split()
    i = 0

    def take(n=1):
        nonlocal i
        v = tok[i:i + n]
        i += n
        return v
    assert take()[0] == "ckpt"
    ckpt_dir = take()[0]
    assert take()[0] == "prefix"
    P = int(take()[0])
    prefix = list(map(int, take(P)))
    assert take()[0] == "emb"
    n = int(take()[0])
    emb_file = take()[0]
    emb_pos = list(map(int, take(n)))
    assert take()[0] == "ncand"
    cands, exp = [], []
    for _ in range(int(take()[0])):
        take()
        T = int(take()[0])
        cands.append(list(map(int, take(T))))
        take(2)
        exp.append(list(map(float, take(T))))
    return ckpt_dir, prefix, emb_file, emb_pos, cands, exp


def make_ckpt(out, dtype, seed, **over):
    cfg = ckpt_lib.tiny_config(**over)
    ckpt_lib.write_checkpoint(out, cfg, ckpt_lib.random_weights(cfg, seed=seed, dtype=dtype))
    return out


def prefix_with_slots(rng, V, P, slot0, n_slots, H, gen):
    ids = [1] + [rng.randrange(3, V) for _ in range(P - 1)]
    pos = list(range(slot0, slot0 + n_slots))
    for p in pos:
        ids[p] = min(32000, V - 1)  # placeholder, like <im_patch>; replaced by the rows
    rows = torch.randn(n_slots, H, generator=gen, dtype=torch.float32) * 0.5
    return ids, pos, rows


def suite(root):
    """Small checkpoints (seconds under ASan) and the cases test_llm_ref.c checks."""
    rng = random.Random(4)
    gen = torch.Generator().manual_seed(4)
    ck = os.path.join(root, "ckpt")
    # GQA ratio 4, bf16, the real vocabulary size 32009
    a = make_ckpt(os.path.join(ck, "bf16_gqa4"), "bf16", 11, num_attention_heads=4, num_key_value_heads=1,
                  hidden_size=256, intermediate_size=512, num_hidden_layers=2)
    # GQA ratio 1, f32, small vocabulary, 3 layers, head_dim 32
    b = make_ckpt(os.path.join(ck, "f32_gqa1"), "f32", 12, num_attention_heads=4, num_key_value_heads=4,
                  hidden_size=128, intermediate_size=384, num_hidden_layers=3, vocab_size=700, rope_theta=500000.0)
    # GQA ratio 2, f16; intermediate 4160 > 2 x llm.c's 2048-column MLP blocks (a partial third)
    c = make_ckpt(os.path.join(ck, "f16_gqa2"), "f16", 13, num_attention_heads=4, num_key_value_heads=2,
                  hidden_size=128, intermediate_size=4160, num_hidden_layers=2, vocab_size=1000)
    # bf16, GQA ratio 1, a long candidate (a few hundred tokens)
    d = make_ckpt(os.path.join(ck, "bf16_gqa1"), "bf16", 14, num_attention_heads=2, num_key_value_heads=2,
                  hidden_size=128, intermediate_size=256, num_hidden_layers=2, vocab_size=4000)
    # a checkpoint with one wrong shape (k_proj rows) for the validation test
    cfg = ckpt_lib.tiny_config(hidden_size=128, intermediate_size=256, num_attention_heads=4,
                               num_key_value_heads=2, vocab_size=300)
    w = ckpt_lib.random_weights(cfg, seed=15, dtype="bf16")
    w["model.layers.1.self_attn.k_proj.weight"] = w["model.layers.1.self_attn.k_proj.weight"][:32].clone()
    ckpt_lib.write_checkpoint(os.path.join(ck, "bad_kshape"), cfg, w)

    def case(name, ck_dir, P, slot0, n_slots, lens):
        dec = Decoder(ck_dir)
        V, H = dec.cfg["vocab_size"], dec.H
        ids, pos, rows = prefix_with_slots(rng, V, P, slot0, n_slots, H, gen) if n_slots else \
            ([1] + [rng.randrange(3, V) for _ in range(P - 1)], [], None)
        cands = [[rng.randrange(0, V) for _ in range(t - 1)] + [2] for t in lens]
        write_case(os.path.join(root, name + ".txt"), ck_dir, dec, ids, pos, rows, cands)

    # 16 candidates (the test also scores the first N for N = 1..16), lengths 1..40 and one of 150
    case("bf16_gqa4_n16", a, 40, 3, 16, [5, 1, 12, 2, 40, 7, 150, 3, 9, 21, 1, 33, 4, 17, 8, 26])
    case("f32_gqa1_n4", b, 60, 10, 16, [300, 1, 17, 64])
    case("f16_gqa2_n8", c, 25, 1, 9, [3, 5, 8, 13, 21, 34, 2, 1])
    case("bf16_gqa1_long", d, 30, 0, 0, [400, 250])
    case("bf16_gqa4_prefix1", a, 1, 0, 0, [6, 1])  # prefix = BOS only
    case("f32_gqa1_allslots", b, 16, 0, 16, [10, 3])  # the whole prefix is embedding rows


def check(ckpt_dir, case_path):
    ck, prefix, emb_file, emb_pos, cands, exp = read_case(case_path)
    dec = Decoder(ckpt_dir or ck)
    rows = None
    if emb_pos:
        import numpy as np
        rows = torch.from_numpy(np.fromfile(emb_file, dtype=np.float32).reshape(len(emb_pos), dec.H)).double()
    worst = 0.0
    for c, e in zip(cands, exp):
        got = dec.cand_logps(prefix, c, rows, emb_pos)
        worst = max([worst] + [abs(a - b) for a, b in zip(got, e)])
    print(f"max |diff| = {worst:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite")
    ap.add_argument("--ckpt")
    ap.add_argument("--case")
    a = ap.parse_args()
    if a.suite:
        suite(a.suite)
    elif a.case:
        check(a.ckpt, a.case)
    else:
        ap.error("--suite or --case is required")


if __name__ == "__main__":
    main()
