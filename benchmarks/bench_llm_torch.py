#!/usr/bin/env python3
"""bench_llm_torch.py — the decoder work of bench_llm.c [1] in PyTorch on CPU, same shapes.

usage: /usr/bin/python3 benchmarks/bench_llm_torch.py MODEL_DIR [THREADS=2]

Weights of the checkpoint's decoder widened to f32 once (torch's CPU bf16 matmul is far
slower), prefix 300 rows, 8 candidates x 128 tokens:
  (a) the official way: one full forward per candidate over prefix + candidate (8 sequences
      of 428 tokens in one batch, causal), lm_head only on the 8 x 128 scored rows;
  (b) the same packed work as bench_llm.c: the prefix KV once, then the 8 x 127 candidate
      rows in one batch with a block-diagonal causal mask over [prefix | batch].
Prints seconds and GFLOP/s for each ((b) counts the FLOPs bench_llm.c counts).
"""
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import ckpt_lib  # noqa: E402

P, N, T = 300, 8, 128


def main():
    d = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    torch.set_num_threads(threads)
    cfg, t = ckpt_lib.load_checkpoint(d)
    W = {k: v.float() for k, v in t.items()
         if k.startswith(("model.layers.", "model.embed_tokens", "model.norm", "lm_head"))}
    del t
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, L, eps, V, F = H // nh, cfg["num_hidden_layers"], cfg["rms_norm_eps"], cfg["vocab_size"], cfg["intermediate_size"]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))

    def rope(x, pos):  # x [..., n, hd]
        f = torch.outer(pos.float(), inv)
        e = torch.cat((f, f), -1)
        h = hd // 2
        return x * e.cos() + torch.cat((-x[..., h:], x[..., :h]), -1) * e.sin()

    def norm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def layers(x, pos, mask, past=None, keep=False):
        """x [B, n, H]; past: per layer (k, v) [B, nkv, P, hd] prepended; returns x, kv."""
        B, n, _ = x.shape
        kv = []
        for i in range(L):
            p = f"model.layers.{i}."
            h = norm(x, W[p + "input_layernorm.weight"])
            q = rope((h @ W[p + "self_attn.q_proj.weight"].T).view(B, n, nh, hd).transpose(1, 2), pos)
            k = rope((h @ W[p + "self_attn.k_proj.weight"].T).view(B, n, nkv, hd).transpose(1, 2), pos)
            v = (h @ W[p + "self_attn.v_proj.weight"].T).view(B, n, nkv, hd).transpose(1, 2)
            if keep:
                kv.append((k, v))
            if past is not None:
                k = torch.cat((past[i][0].expand(B, -1, -1, -1), k), 2)
                v = torch.cat((past[i][1].expand(B, -1, -1, -1), v), 2)
            k = k.repeat_interleave(nh // nkv, 1)
            v = v.repeat_interleave(nh // nkv, 1)
            s = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(hd) + mask, -1)
            x = x + (s @ v).transpose(1, 2).reshape(B, n, H) @ W[p + "self_attn.o_proj.weight"].T
            h = norm(x, W[p + "post_attention_layernorm.weight"])
            g = h @ W[p + "mlp.gate_proj.weight"].T
            x = x + (torch.nn.functional.silu(g) * (h @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
        return norm(x, W["model.norm.weight"]), kv

    gen = torch.Generator().manual_seed(1)
    prefix = torch.randint(3, 32000, (P,), generator=gen)
    cands = torch.randint(3, 32000, (N, T), generator=gen)
    emb = W["model.embed_tokens.weight"]
    lm = W["lm_head.weight"]
    with torch.no_grad():
        # (a) official: 8 full sequences
        ids = torch.cat((prefix.expand(N, P), cands), 1)
        n = P + T
        mask = torch.full((n, n), float("-inf")).triu(1)
        t0 = time.time()
        h, _ = layers(emb[ids], torch.arange(n), mask)
        lp = torch.log_softmax(h[:, P - 1:P - 1 + T] @ lm.T, -1)
        ta = time.time() - t0
        # (b) packed: prefix once, then 8 x 127 rows
        t0 = time.time()
        hp, kv = layers(emb[prefix][None], torch.arange(P), torch.full((P, P), float("-inf")).triu(1), keep=True)
        tp = time.time() - t0
        R = N * (T - 1)
        rows = cands[:, :T - 1].reshape(1, R)
        pos = torch.arange(T - 1).repeat(N) + P
        own = torch.full((R, R), float("-inf"))
        for c in range(N):
            s = c * (T - 1)
            own[s:s + T - 1, s:s + T - 1] = torch.full((T - 1, T - 1), float("-inf")).triu(1)
        mask = torch.cat((torch.zeros(R, P), own), 1)
        t0 = time.time()
        h, _ = layers(emb[rows], pos, mask, past=kv)
        lp = torch.log_softmax(h[0] @ lm.T, -1)
        tb = time.time() - t0
    qd, kvd = H, nkv * hd
    proj = 2 * R * (H * qd + 2 * H * kvd + qd * H + 3 * H * F)
    att = nh * 2.0 * (2 * R * P * hd + N * 2 * (T - 1) ** 2 * hd)
    fl = L * (proj + att) + 2 * R * H * V
    print(f"torch {torch.__version__}, {threads} threads, f32 weights; hidden {H}, {L} layers, vocab {V}")
    print(f"  (a) official, 8 full forwards of {P + T} tokens in one batch: {ta:.2f} s")
    print(f"  (b) packed like bench_llm [1]: prefix {tp:.2f} s, candidates {tb:.2f} s, {fl / tb * 1e-9:.1f} GFLOP/s")
    del lp


if __name__ == "__main__":
    main()
