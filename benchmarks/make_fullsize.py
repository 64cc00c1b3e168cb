#!/usr/bin/env python3
"""make_fullsize.py — streams a random RLAIF-V-12B-sized checkpoint to disk in the real layout.

  make_fullsize.py --out DIR [--seed 0] [--layers 32] [--blocks 63] [--shard-gb 5]
  make_fullsize.py --out DIR --reference-of POLICY_DIR [--share-vision] [--seed 1]

Writes config.json, generation_config.json, model-0000k-of-0000N.safetensors (bf16, shards of
at most --shard-gb GB as Hugging Face's max_shard_size="5GB" cuts them), the index, and the
tokenizer (Mistral's tokenizer.json + OmniLMM's 9 added tokens, as make_ckpt.py --tokenizer).
Names, shapes and config keys come from tests/reference/ckpt_lib.py (docs/model.md §2):
the defaults give the 1130 tensors, 23.23 GB, of the real model; --layers / --blocks give
full-width variants with fewer decoder layers / ViT blocks for quick checks.

--reference-of POLICY_DIR writes a reference model of the same config with another seed (its
decoder differs); with --share-vision its vision tower and resampler tensors are copied byte
for byte from the policy's shards, so the engine serves them from the policy's mapping.

Values: norm weights 1, norm biases 0, the resampler's sin-cos table as the official code
builds it, everything else random with mean 0 and a std of about 1/sqrt(fan_in) for matrices
(0.5 for token embeddings and resampler queries, 0.02 for other biases and position tables),
so activations stay finite through all layers. Random bf16 is made cheaply from integer bits:
random sign, 7 random mantissa bits and an exponent drawn from 4 consecutive values — the
magnitude is log-uniform over 4 octaves, finite by construction (std = 7.04 * 2^e_min).

Memory: one 64 MB chunk is generated while the previous one is written (a writer thread);
peak RSS stays below 1 GB (most of it the torch import of ckpt_lib). Each shard is
fdatasync'ed and dropped from the page cache, so the GB/s printed include the disk.
"""
import argparse
import json
import math
import os
import queue
import resource
import sys
import threading
import time
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import ckpt_lib as cl  # noqa: E402

CHUNK = 32 << 20  # bf16 values per chunk (64 MB)
BF16_ONE = 0x3F80
NORM_WEIGHTS = ("norm.weight", "layernorm.weight", "norm1.weight", "norm2.weight")
NORM_BIASES = ("norm.bias", "norm1.bias", "norm2.bias")
VISION = ("model.vision_tower.", "model.resampler.")


def full_config(layers, blocks, seed):
    """RLAIF-V-12B's config.json; with the real depths it has no "vision_config" (like the real
    file: the tower is sized by mm_vision_tower), otherwise the vision_config override of docs/model.md §1."""
    cfg = cl.real_widths_config(layers, blocks)
    if layers == 32 and blocks == 63:
        del cfg["vision_config"]
    cfg["_name_or_path"] = "rlaifv-fullsize-random seed=%d" % seed
    return cfg


def value_kind(name, shape):
    """('const', bits) | ('sincos', None) | ('rand', std) for one tensor."""
    if name.endswith("resampler.pos_embed"):
        return "sincos", None
    if name.endswith(NORM_WEIGHTS) or (".ln_" in name and name.endswith("weight")):
        return "const", BF16_ONE
    if name.endswith(NORM_BIASES) or (".ln_" in name and name.endswith("bias")):
        return "const", 0
    if name.endswith(("embed_tokens.weight", "resampler.query")):
        return "rand", 0.5
    if len(shape) == 1 or name.endswith(("bias", "cls_token", "pos_embed")):
        return "rand", 0.02
    fan_in = shape[0] if name.endswith("resampler.proj") else int(np.prod(shape[1:]))
    return "rand", 1.0 / math.sqrt(fan_in)


def exponent_base(std):
    """Biased bf16 exponent e0 such that exponents e0..e0+3 give a std within √2 of std:
    E[x²] = E[m²]·E[4^e] = 7/3 · 4^(e0-127) · 85/4, so std = 7.04 · 2^(e0-127)."""
    return 127 + int(round(math.log2(std / math.sqrt(7 / 3 * 85 / 4))))


def random_bf16(gen, n, e0):
    """n random bf16 bit patterns (uint16): sign, exponent e0 + (0..3), 7 mantissa bits."""
    r = gen.integers(0, 1 << 16, n, dtype=np.uint16)
    np.bitwise_and(r, 0x81FF, out=r)  # sign, 2 exponent bits, mantissa
    np.add(r, np.uint16(e0 << 7), out=r)  # e0 + (0..3) < 255: no carry into the sign
    return r


def tensor_chunks(name, shape, seed):
    """Yields the tensor's bf16 bytes as uint16 arrays of at most CHUNK values."""
    n = int(np.prod(shape))
    kind, arg = value_kind(name, shape)
    if kind == "sincos":
        t = torch.from_numpy(cl.sincos_pos_embed(shape[1], math.isqrt(shape[0])))
        yield t.to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
        return
    if kind == "const":
        block = np.full(min(n, CHUNK), arg, dtype=np.uint16)
        for off in range(0, n, CHUNK):
            yield block[:min(CHUNK, n - off)]
        return
    gen = np.random.Generator(np.random.PCG64DXSM(np.random.SeedSequence([seed, zlib.crc32(name.encode())])))
    e0 = exponent_base(arg)
    for off in range(0, n, CHUNK):
        yield random_bf16(gen, min(CHUNK, n - off), e0)


def plan_shards(specs, shard_bytes):
    """[[(name, shape, nbytes)]] cut greedily as transformers' max_shard_size does."""
    shards, cur, size = [], [], 0
    for name, shape in specs:
        nb = 2 * int(np.prod(shape))
        if cur and size + nb > shard_bytes:
            shards.append(cur)
            cur, size = [], 0
        cur.append((name, shape, nb))
        size += nb
    if cur:
        shards.append(cur)
    return shards


def read_st_header(path):
    """(header dict, data offset) of a safetensors file, reading only its header."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        return json.loads(f.read(n)), 8 + n


class PolicySource:
    """Byte ranges of the policy's tensors (for --share-vision), read from its shards."""

    def __init__(self, d):
        with open(os.path.join(d, "model.safetensors.index.json")) as f:
            wm = json.load(f)["weight_map"]
        self.loc = {}
        for fn in sorted(set(wm.values())):
            hdr, base = read_st_header(os.path.join(d, fn))
            for name, info in hdr.items():
                if name != "__metadata__":
                    a, b = info["data_offsets"]
                    self.loc[name] = (os.path.join(d, fn), base + a, b - a, info["dtype"], info["shape"])

    def chunks(self, name, shape):
        path, off, nb, dt, shp = self.loc[name]
        if dt != "BF16" or list(shp) != list(shape):
            raise SystemExit("%s: %s is %s %s in the policy, expected BF16 %s" % (path, name, dt, shp, list(shape)))
        with open(path, "rb") as f:
            f.seek(off)
            while nb > 0:
                b = f.read(min(nb, 2 * CHUNK))
                if not b:
                    raise SystemExit("%s: truncated in %s" % (path, name))
                nb -= len(b)
                yield np.frombuffer(b, dtype=np.uint16)


class Writer:
    """A thread that writes the chunks the main thread generates (queue depth 2)."""

    def __init__(self):
        self.q = queue.Queue(maxsize=2)
        self.err = None
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            fd, buf = item
            try:
                mv = memoryview(buf).cast("B")
                while len(mv):
                    mv = mv[os.write(fd, mv):]
            except OSError as e:
                self.err = e
            finally:
                self.q.task_done()

    def put(self, fd, buf):
        if self.err:
            raise SystemExit("write failed: %s" % self.err)
        self.q.put((fd, buf))

    def drain(self):
        self.q.join()
        if self.err:
            raise SystemExit("write failed: %s" % self.err)

    def stop(self):
        self.q.put(None)
        self.t.join()


def write_shards(out, shards, seed, share):
    """Writes every shard; returns (bytes, seconds, CPU seconds the main thread spent generating)."""
    w = Writer()
    total, t_gen, weight_map, t0 = 0, 0.0, {}, time.time()
    for k, part in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        header, off = {}, 0
        for name, shape, nb in part:
            header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + nb]}
            weight_map[name] = fn
            off += nb
        tmp = os.path.join(out, fn + ".partial")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        ts = time.time()
        w.put(fd, cl.st_header_bytes(header))
        for name, shape, nb in part:
            src = share.chunks(name, shape) if share and name.startswith(VISION) else tensor_chunks(name, shape, seed)
            while True:
                g = time.thread_time()
                c = next(src, None)
                t_gen += time.thread_time() - g
                if c is None:
                    break
                w.put(fd, c)
        w.drain()
        os.fdatasync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        os.replace(tmp, os.path.join(out, fn))
        dt = time.time() - ts
        print("  %s  %d tensors  %.2f GB  %.1f s  %.2f GB/s" % (fn, len(part), off / 1e9, dt, off / 1e9 / dt),
              flush=True)
        total += off
    w.stop()
    cl.write_index(out, total, weight_map)
    return total, time.time() - t0, t_gen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, help="default 0, or 1 with --reference-of")
    ap.add_argument("--layers", type=int, default=32, help="decoder layers (32)")
    ap.add_argument("--blocks", type=int, default=63, help="stored ViT blocks (63)")
    ap.add_argument("--shard-gb", type=float, default=5.0)
    ap.add_argument("--reference-of", metavar="POLICY_DIR", help="write a reference model for this policy")
    ap.add_argument("--share-vision", action="store_true", help="with --reference-of: the policy's vision bytes")
    a = ap.parse_args()
    if a.share_vision and not a.reference_of:
        ap.error("--share-vision needs --reference-of")
    seed = a.seed if a.seed is not None else (1 if a.reference_of else 0)
    share = None
    if a.reference_of:
        with open(os.path.join(a.reference_of, "config.json")) as f:
            cfg = json.load(f)
        cfg["_name_or_path"] = "rlaifv-fullsize-random-reference seed=%d%s" % (
            seed, " vision-of=" + cfg.get("_name_or_path", "?") if a.share_vision else "")
        if a.share_vision:
            share = PolicySource(a.reference_of)
    else:
        if a.layers < 1 or a.blocks < 1:
            ap.error("--layers and --blocks must be >= 1")
        cfg = full_config(a.layers, a.blocks, seed)
    specs = cl.tensor_specs(cfg)
    shards = plan_shards(specs, int(a.shard_gb * 1e9))
    os.makedirs(a.out, exist_ok=True)
    cl.write_configs(a.out, cfg)
    try:
        cl.write_tokenizer_json(a.out)
    except FileNotFoundError as e:
        raise SystemExit("tokenizer: %s (run scripts/setup.sh: it installs tests/node)" % e)
    print("make_fullsize: %s: %d tensors, %d shards, seed %d%s" % (
        a.out, len(specs), len(shards), seed, ", vision copied from " + a.reference_of if share else ""), flush=True)
    total, dt, t_gen = write_shards(a.out, shards, seed, share)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("make_fullsize: %.2f GB in %.1f s = %.2f GB/s to disk (fdatasync'ed); generating %.1f CPU s = %.2f GB/s per core; "
          "peak RSS %.0f MB" % (total / 1e9, dt, total / 1e9 / dt, t_gen, total / 1e9 / max(t_gen, 1e-9), rss))


if __name__ == "__main__":
    main()
