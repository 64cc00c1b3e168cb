#!/usr/bin/env python3
"""ref_vision.py — reference image embeddings (docs/model.md §3 step 3, §4, §6) for test_vision.c.

  ref_vision.py OUT_DIR

Functional PyTorch in float64 straight from the checkpoint tensors (ckpt_lib.load_checkpoint), with
torch.nn.functional.interpolate for the two position-table kernels (antialias=True for the ViT,
plain bicubic for the resampler keys). Cross-checked against the nn.Module model in omnilmm.py
(which uses nn.MultiheadAttention with the packed weights) before anything is written.

For each weight dtype (bf16, f32) it writes OUT_DIR/<dtype>/ (a tiny checkpoint, ckpt_lib's default
tiny config: hidden 256, ViT 96 wide, 4 heads, depth 3, base_grid 4, image 112 -> ViT grid 8, so both
tables are real 4 -> 8 upsamplings; num_query 16) and, as little-endian float32:
  pixels.f32    [3, S, S]          a normalised random image (input of the C forward)
  vit_<dt>.f32  [grid^2, D]        ViT features for pixels.f32
  emb_<dt>.f32  [num_query, H]     image embedding for pixels.f32
  image.png + png_emb_<dt>.f32     an encoded PNG and its embedding through the whole of docs/model.md §3
  e2e_<dt>.bin  a prefix with the image slots and 3 candidates, and their per-token log-probs under
                the whole model (omnilmm.py, float64) with the PNG's embedding in the slots:
                int32 P, s (<im_start> position), n, lens[n], prefix ids[P], candidate ids...,
                then float64 log-probs [sum lens]
"""
import io
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_lib as cl  # noqa: E402
import omnilmm  # noqa: E402

D64 = torch.float64


def layer_norm(x, w, b, eps=1e-6):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def vit(cfg, T, px):
    """px [3, S, S] -> [grid^2, D] (docs/model.md §4)."""
    v = cl.vision_config(cfg)
    D, P, G, nh = v["embed_dim"], v["patch_size"], v["base_grid"], v["num_heads"]
    p = "model.vision_tower."
    S = px.shape[-1]
    pad = (-S) % P
    x = F.pad(px[None], (0, pad, 0, pad)) if pad else px[None]
    x = F.conv2d(x, T[p + "patch_embed.proj.weight"], T[p + "patch_embed.proj.bias"], stride=P)
    g = x.shape[-1]
    x = x.flatten(2).transpose(1, 2)[0]  # [g*g, D], row-major tokens
    pos = T[p + "pos_embed"][0]
    grid = pos[1:].reshape(1, G, G, D).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(g, g), mode="bicubic", antialias=True, align_corners=False)
    pos = torch.cat((pos[:1], grid.permute(0, 2, 3, 1).reshape(g * g, D)), 0)
    x = torch.cat((T[p + "cls_token"].reshape(1, D), x), 0) + pos
    hd = D // nh
    for j in range(v["depth"] - 1):
        b = f"{p}blocks.{j}."
        bias = torch.cat((T[b + "attn.q_bias"], torch.zeros(D, dtype=D64), T[b + "attn.v_bias"]))
        qkv = (x @ T[b + "attn.qkv.weight"].T + bias).reshape(-1, 3, nh, hd).permute(1, 2, 0, 3)
        q, k, vv = qkv[0], qkv[1], qkv[2]
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), -1) @ vv  # [nh, N, hd]
        a = a.transpose(0, 1).reshape(-1, D) @ T[b + "attn.proj.weight"].T + T[b + "attn.proj.bias"]
        x = x + layer_norm(a, T[b + "norm1.weight"], T[b + "norm1.bias"])
        m = F.gelu(x @ T[b + "mlp.fc1.weight"].T + T[b + "mlp.fc1.bias"])
        m = m @ T[b + "mlp.fc2.weight"].T + T[b + "mlp.fc2.bias"]
        x = x + layer_norm(m, T[b + "norm2.weight"], T[b + "norm2.bias"])
    return layer_norm(x, T[p + "norm.weight"], T[p + "norm.bias"])[1:]


def resampler(cfg, T, x):
    """x [N, Dv] -> [num_query, H] (docs/model.md §6)."""
    r = "model.resampler."
    E, Q = cfg["hidden_size"], cfg["num_query"]
    nh = E // 128
    hd = E // nh
    qg, kg = int(math.isqrt(Q)), int(math.isqrt(x.shape[0]))
    pos_q = T[r + "pos_embed"]
    pk = pos_q.reshape(1, qg, qg, E).permute(0, 3, 1, 2)
    pk = F.interpolate(pk, size=(kg, kg), mode="bicubic", align_corners=False)
    pos_k = pk.permute(0, 2, 3, 1).reshape(kg * kg, E)
    kv = layer_norm(x @ T[r + "kv_proj.weight"].T, T[r + "ln_kv.weight"], T[r + "ln_kv.bias"])
    q = layer_norm(T[r + "query"], T[r + "ln_q.weight"], T[r + "ln_q.bias"])
    W, bW = T[r + "attn.in_proj_weight"], T[r + "attn.in_proj_bias"]
    Qp = (q + pos_q) @ W[:E].T + bW[:E]
    Kp = (kv + pos_k) @ W[E:2 * E].T + bW[E:2 * E]
    Vp = kv @ W[2 * E:].T + bW[2 * E:]
    Qh, Kh, Vh = (t.reshape(-1, nh, hd).transpose(0, 1) for t in (Qp, Kp, Vp))
    o = (torch.softmax(Qh @ Kh.transpose(-1, -2) / math.sqrt(hd), -1) @ Vh).transpose(0, 1).reshape(Q, E)
    o = o @ T[r + "attn.out_proj.weight"].T + T[r + "attn.out_proj.bias"]
    return layer_norm(o, T[r + "ln_post.weight"], T[r + "ln_post.bias"]) @ T[r + "proj"]


def write_e2e(path, cfg, mod, rows):
    """Per-token log-probs of candidates after a prefix whose <im_patch> slots hold rows."""
    g = np.random.default_rng(13)
    Q = cfg["num_query"]
    head = [1] + g.integers(3, 32000, 9).tolist()
    s = len(head)
    prefix = head + [32001] + [32000] * Q + [32002] + g.integers(3, 32000, 7).tolist()
    cands = [g.integers(3, 32000, n).tolist() + [2] for n in (4, 0, 9)]
    lps = []
    with torch.no_grad():
        for c in cands:
            lps += omnilmm.candidate_logps(mod, prefix + c, len(prefix), rows[None], s).tolist()
    with open(path, "wb") as f:
        f.write(np.array([len(prefix), s, len(cands)] + [len(c) for c in cands], dtype="<i4").tobytes())
        f.write(np.array(prefix + sum(cands, []), dtype="<i4").tobytes())
        f.write(np.array(lps, dtype="<f8").tobytes())


def save(path, t):
    with open(path, "wb") as f:
        f.write(t.to(torch.float32).contiguous().numpy().tobytes())


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    cfg = cl.tiny_config()
    S = cfg["image_size"]
    img = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    px32 = omnilmm.normalise(img)  # float32, as torchvision makes it
    src = rng.integers(0, 256, (83, 141, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(src, "RGB").save(buf, "PNG")
    png = buf.getvalue()
    res = np.asarray(Image.open(io.BytesIO(png)).convert("RGB").resize((S, S), Image.BICUBIC))
    png32 = omnilmm.normalise(np.ascontiguousarray(res))
    for dt in ("bf16", "f32"):
        d = os.path.join(out, dt)
        cl.write_checkpoint(d, cfg, cl.random_weights(cfg, seed=3, dtype=dt))
        c2, T = cl.load_checkpoint(d)
        T = {k: v.to(D64) for k, v in T.items()}
        with torch.no_grad():
            f = vit(c2, T, px32.to(D64))
            e = resampler(c2, T, f)
            e_png = resampler(c2, T, vit(c2, T, png32.to(D64)))
            mod = omnilmm.load(d, D64)
            e_mod = mod.image_embedding(px32.to(D64)[None])[0]
        err = (e - e_mod).abs().max().item() / e.abs().max().item()
        if err > 1e-10:
            sys.exit(f"ref_vision: functional and nn.Module references differ by {err:.3g} ({dt})")
        save(os.path.join(out, "pixels.f32"), px32)
        save(os.path.join(d, f"vit_{dt}.f32"), f)
        save(os.path.join(d, f"emb_{dt}.f32"), e)
        save(os.path.join(d, f"png_emb_{dt}.f32"), e_png)
        write_e2e(os.path.join(d, f"e2e_{dt}.bin"), c2, mod, e_png)
    with open(os.path.join(out, "image.png"), "wb") as fh:
        fh.write(png)


if __name__ == "__main__":
    main()
