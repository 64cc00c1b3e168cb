#!/usr/bin/python3
"""q8_drift.py — chooses the q8 block size: relative error of x.W^T with q8 weights vs bf16 weights.

  python3 benchmarks/q8_drift.py [--rows 512] [--tokens 32] [--seed 0]

Weights at the real RLAIF-V-12B input widths (rows subsampled, the error is per output row) with
realistic outliers: Student-t (df 3) entries, log-normal row scales (heavy-tailed rows) and 0.5% of
the input channels scaled x10..x30 (the "outlier features" of real LLM weights). Activations:
Gaussian with 0.5% outlier channels x20..x60 and one x100 "massive" channel, since plain Gaussian
inputs and weights flatter any quantiser. Reference: W rounded to bf16, y = x.W^T in float64.
q8: the definition of docs/quantization.md (scale = max|w|/127 per block, q = rne(w/scale)), with
the scale stored as f32 or rounded to f16 (as q8_0 does); both are reported.
Prints a markdown table: rel = ||y_q8 - y_bf16||_F / ||y_bf16||_F, max = max|dy| / rms(y_bf16),
and bytes per weight. Also reports bf16 itself against the f32 weights, for scale."""
import argparse

import numpy as np

SHAPES = [  # (what, input width)
    ("decoder q/k/v/gate/up, lm_head, embed (k=4096)", 4096),
    ("decoder down_proj (k=14336)", 14336),
    ("ViT qkv/proj/fc1 (k=1792)", 1792),
    ("ViT fc2 (k=15360)", 15360),
]


def bf16(a):
    """Round-to-nearest-even float32 -> bf16, returned as float32."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16 << 16
    return u.astype(np.uint32).view(np.float32)


def quant(w, block, scale_f16):
    r, k = w.shape
    wb = w.reshape(r, k // block, block)
    s = (np.abs(wb).max(axis=2) / np.float32(127)).astype(np.float32)
    if scale_f16:
        s = s.astype(np.float16).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s[..., None] > 0, np.rint(wb / s[..., None]), 0)
    q = np.clip(q, -127, 127).astype(np.int8)
    return (q.astype(np.float32) * s[..., None]).reshape(r, k)


def weights(rng, rows, k):
    w = rng.standard_t(3, size=(rows, k)).astype(np.float32)
    w *= np.exp(rng.normal(0, 0.5, size=(rows, 1))).astype(np.float32)   # heavy-tailed rows
    cols = rng.choice(k, size=max(1, k // 200), replace=False)
    w[:, cols] *= rng.uniform(10, 30, size=cols.size).astype(np.float32)  # outlier input channels
    return w * np.float32(0.02 / np.sqrt(3))


def acts(rng, tokens, k):
    x = rng.normal(size=(tokens, k))
    cols = rng.choice(k, size=max(2, k // 200), replace=False)
    x[:, cols] *= rng.uniform(20, 60, size=cols.size)
    x[:, cols[0]] *= 100 / 60
    return x


def err(y, ref):
    d = y - ref
    return np.linalg.norm(d) / np.linalg.norm(ref), np.abs(d).max() / np.sqrt(np.mean(ref * ref))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=512)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    blocks = [32, 64, 128]
    print("| weights | bf16 vs f32 rel | " + " | ".join(
        f"B={b} {sd} rel / max" for b in blocks for sd in ("f32", "f16")) + " |")
    print("|---|---|" + "---|" * (2 * len(blocks)))
    for what, k in SHAPES:
        w = weights(rng, a.rows, k)
        wr = bf16(w)
        x = acts(rng, a.tokens, k)
        ref = x @ wr.astype(np.float64).T
        cells = [f"{err(x @ w.astype(np.float64).T, ref)[0]:.2e}"]
        for b in blocks:
            for sf16 in (False, True):
                rel, mx = err(x @ quant(wr, b, sf16).astype(np.float64).T, ref)
                cells.append(f"{rel:.2e} / {mx:.2e}")
        print(f"| {what} | " + " | ".join(cells) + " |")
    print("\nbytes per weight: " + ", ".join(
        f"B={b}: {1 + 4 / b:.4f} (f32 scale) / {1 + 2 / b:.4f} (f16 scale)" for b in blocks) + "; bf16: 2")


if __name__ == "__main__":
    main()
