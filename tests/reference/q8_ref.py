#!/usr/bin/python3
"""q8_ref.py — the Python reference of the q8 format (docs/quantization.md), for the tests.

  q8_ref.py check [--keep=NAME,...] IN_DIR OUT_DIR [[--keep=...] IN_DIR OUT_DIR ...]
      OUT_DIR (written by `rlaifv convert --quantize q8`) must equal, bit for bit, what this
      script computes from IN_DIR (safetensors or pytorch_model.bin, sharded or not): int8 values,
      F16 scales, every other tensor unchanged, the same shard assignment, metadata, index and
      the copied non-weight files. Exit 1 naming the first difference. --keep= (for the pairs
      after it): the weights converted with `--keep`, expected as stored.
  q8_ref.py bad GOOD_Q8_DIR SUITE_DIR
      writes broken q8 checkpoints derived from GOOD_Q8_DIR (a single-file one) under SUITE_DIR:
      scale_shape, block_divide, nan_scale, neg_scale, missing_scale, stray_scale, i8_norm,
      scale_dtype, no_block.
  q8_ref.py dequant Q8_DIR OUT_DIR
      writes OUT_DIR: Q8_DIR with every I8 weight replaced by its F32 dequantised values
      (q * f32(scale), one f32 product each, as core/q8.c q8_dequantize_rows) and the scales
      dropped; other tensors, shards and files as they are. Scoring it must give what the q8
      checkpoint gives (tests/test_q8_score.py).
"""
import json
import os
import shutil
import struct
import sys

import numpy as np
import torch

NP = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I8": np.int8}
KEEP_2D = {"model.resampler.query", "model.resampler.pos_embed"}  # tables kept as stored


def q8_names(specs):
    return {n for n, shape in specs if len(shape) == 2 and n not in KEEP_2D}


def quantize(w, block):
    """The definition: s = f16(max|w| / 127) per block, q = clamp(rne(w / s), -127, 127)."""
    w = np.ascontiguousarray(w, dtype=np.float32)
    r, k = w.shape
    wb = w.reshape(r, k // block, block)
    s16 = (np.abs(wb).max(axis=2) / np.float32(127)).astype(np.float16)
    s = s16.astype(np.float32)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(s > 0, np.rint(wb / s), np.float32(0))
    return np.clip(q, -127, 127).astype(np.int8).reshape(r, k), s16


def read_st(path):
    """(metadata, {name: (dtype, shape, raw bytes)}) in file order."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        out[name] = (info["dtype"], list(info["shape"]), data[8 + n + a:8 + n + b])
    return meta, out


def write_st(path, meta, tensors):
    header, chunks, off = {}, [], 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


def to_f32(dt, shape, raw):
    a = np.frombuffer(raw, dtype=NP[dt]).reshape(shape)
    if dt == "BF16":
        return (a.astype(np.uint32) << 16).view(np.float32)
    return a.astype(np.float32)


TORCH_ST = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def load_input(d):
    """[[(name, (dtype, shape, raw))] per input weight file], in the order the C loader reads them."""
    def shard_order(index):
        with open(os.path.join(d, index)) as f:
            wm = json.load(f)["weight_map"]
        return list(dict.fromkeys(wm.values()))
    if os.path.exists(os.path.join(d, "model.safetensors.index.json")):
        files = shard_order("model.safetensors.index.json")
    elif os.path.exists(os.path.join(d, "model.safetensors")):
        files = ["model.safetensors"]
    elif os.path.exists(os.path.join(d, "pytorch_model.bin.index.json")):
        files = shard_order("pytorch_model.bin.index.json")
    else:
        files = ["pytorch_model.bin"]
    shards = []
    for fn in files:
        p = os.path.join(d, fn)
        if fn.endswith(".safetensors"):
            shards.append(list(read_st(p)[1].items()))
            continue
        sd = torch.load(p, map_location="cpu")
        ts = []
        for name, t in sd.items():
            t = t.contiguous()
            raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) \
                else t.numpy().tobytes()
            ts.append((name, (TORCH_ST[t.dtype], list(t.shape), raw)))
        shards.append(ts)
    return shards


def check(in_dir, out_dir, keep=frozenset()):
    import ckpt_lib as cl
    with open(os.path.join(in_dir, "config.json")) as f:
        qn = q8_names(cl.tensor_specs(json.load(f))) - keep
    shards = load_input(in_dir)
    n = len(shards)
    names = ["model.safetensors"] if n == 1 else [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    weight_map, total, n_q8 = {}, 0, 0
    for fn, ins in zip(names, shards):
        meta, out = read_st(os.path.join(out_dir, fn))
        block = int(meta.get("rlaifv.q8_block", "0"))
        if meta.get("rlaifv.quant") != "q8" or block < 1:
            return f"{fn}: metadata {meta}"
        want = []
        for name, (dt, shape, raw) in ins:
            if name in qn:
                q, s = quantize(to_f32(dt, shape, raw), block)
                want += [(name, ("I8", shape, q.tobytes())),
                         (name + "_scale", ("F16", [shape[0], shape[1] // block], s.tobytes()))]
                n_q8 += 1
            else:
                want.append((name, (dt, shape, raw)))
        if [w[0] for w in want] != list(out):
            return f"{fn}: tensors {list(out)[:4]}..., expected {[w[0] for w in want][:4]}... (order or set differs)"
        for name, (dt, shape, raw) in want:
            got = out[name]
            if (got[0], got[1]) != (dt, shape):
                return f"{fn}: '{name}' is {got[0]} {got[1]}, expected {dt} {shape}"
            if got[2] != raw:
                a, b = np.frombuffer(got[2], NP[dt]), np.frombuffer(raw, NP[dt])
                i = int(np.nonzero(a != b)[0][0])
                return f"{fn}: '{name}' differs first at flat index {i}: {a[i]} vs reference {b[i]}"
            weight_map[name] = fn
            total += len(raw)
    idx = os.path.join(out_dir, "model.safetensors.index.json")
    if n > 1:
        with open(idx) as f:
            j = json.load(f)
        if j["weight_map"] != weight_map or j["metadata"]["total_size"] != total:
            return f"{idx}: weight_map or total_size differs"
    elif os.path.exists(idx):
        return f"{idx}: written for a single-file checkpoint"
    for fn in os.listdir(in_dir):
        p = os.path.join(in_dir, fn)
        if os.path.isfile(p) and not fn.endswith((".safetensors", ".bin", ".index.json", ".pt", ".pth")):
            with open(p, "rb") as a, open(os.path.join(out_dir, fn), "rb") as b:
                if a.read() != b.read():
                    return f"{fn}: not copied unchanged"
    print(f"ok {out_dir}: {n_q8} q8 weights bit-identical to the reference, {n} shard(s), block {block}")
    return None


def bad(good, root):
    meta, t = read_st(os.path.join(good, "model.safetensors"))

    def make(name, m, tensors):
        d = os.path.join(root, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copy(os.path.join(good, "config.json"), d)
        write_st(os.path.join(d, "model.safetensors"), m, tensors)

    w = "model.layers.0.mlp.up_proj.weight"
    s = w + "_scale"
    x = dict(t)
    x[s] = ("F16", [t[s][1][0], t[s][1][1] - 1], t[s][2][:-2 * t[s][1][0]])
    make("scale_shape", meta, x)
    make("block_divide", dict(meta, **{"rlaifv.q8_block": "24"}), t)
    make("no_block", {"format": "pt"}, t)
    for case, val in (("nan_scale", 0x7e00), ("neg_scale", 0xbc00)):
        x = dict(t)
        raw = bytearray(t[s][2])
        raw[2 * 5:2 * 5 + 2] = struct.pack("<H", val)  # row 0, block 5
        x[s] = (t[s][0], t[s][1], bytes(raw))
        make(case, meta, x)
    x = dict(t)
    del x[s]
    make("missing_scale", meta, x)
    x = dict(t)
    x["model.norm.weight_scale"] = ("F16", [1, 8], b"\0" * 16)
    make("stray_scale", meta, x)
    x = dict(t)
    nm = "model.layers.0.input_layernorm.weight"
    x[nm] = ("I8", t[nm][1], b"\1" * t[nm][1][0])
    make("i8_norm", meta, x)
    x = dict(t)
    f32 = np.frombuffer(t[s][2], np.float16).astype(np.float32).tobytes()
    x[s] = ("F32", t[s][1], f32)
    make("scale_dtype", meta, x)


def dequant(q8_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for fn in sorted(os.listdir(q8_dir)):
        src = os.path.join(q8_dir, fn)
        if not fn.endswith(".safetensors"):
            if os.path.isfile(src):
                shutil.copy(src, out_dir)
            continue
        meta, ts = read_st(src)
        block = int(meta.get("rlaifv.q8_block", "0"))
        out = {}
        for name, (dt, shape, raw) in ts.items():
            if name.endswith("_scale") and name[:-len("_scale")] in ts:
                continue
            if dt == "I8":
                q = np.frombuffer(raw, dtype=np.int8).reshape(shape).astype(np.float32)
                sdt, sshape, sraw = ts[name + "_scale"]
                sc = np.frombuffer(sraw, dtype=np.float16).reshape(sshape).astype(np.float32)
                w = (q.reshape(shape[0], -1, block) * sc[..., None]).reshape(shape).astype(np.float32)
                out[name] = ("F32", shape, w.tobytes())
            else:
                out[name] = (dt, shape, raw)
        write_st(os.path.join(out_dir, fn), {"format": "pt"}, out)
    idx = os.path.join(out_dir, "model.safetensors.index.json")
    if os.path.exists(idx):  # the scales are gone
        with open(idx) as f:
            j = json.load(f)
        j["weight_map"] = {n: f for n, f in j["weight_map"].items() if not n.endswith("_scale")}
        with open(idx, "w") as f:
            json.dump(j, f, indent=2)


def main():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    args = sys.argv[2:]
    if len(args) >= 2 and sys.argv[1] == "check":
        fails, keep = 0, frozenset()
        while args:
            if args[0].startswith("--keep="):
                keep, args = frozenset(args[0][7:].split(",")), args[1:]
                continue
            if len(args) < 2:
                sys.exit(__doc__)
            msg = check(args[0], args[1], keep)
            if msg:
                print(f"FAIL {args[1]}: {msg}")
                fails += 1
            args = args[2:]
        sys.exit(1 if fails else 0)
    if len(sys.argv) == 4 and sys.argv[1] == "bad":
        bad(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) == 4 and sys.argv[1] == "dequant":
        dequant(sys.argv[2], sys.argv[3])
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main()
