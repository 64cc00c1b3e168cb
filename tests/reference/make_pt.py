#!/usr/bin/env python3
"""make_pt.py — torch.save checkpoints (pytorch_model.bin) and their safetensors twins, plus hostile files.

  make_pt.py --suite DIR      the set tests/test_pt.c uses (tiny config, real tensor names)
  make_pt.py --real-widths --layers 2 --vit-blocks 2 --out DIR   benchmark pair: DIR/bin and DIR/st

Every good .bin is written by the real torch.save (Debian python3-torch, default zip format);
its twin holds the same weights in safetensors (ckpt_lib.write_checkpoint). Hostile archives are
built with zipfile around data.pkl bytes made by pickle or by hand; nothing here is loaded back.
"""
import argparse
import collections
import io
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ckpt_lib as cl  # noqa: E402


def write_bin(out_dir, cfg, tensors, shards=1, protocol=2):
    """pytorch_model.bin (or shards + pytorch_model.bin.index.json) + config.json."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if shards <= 1:
        torch.save(collections.OrderedDict(tensors), os.path.join(out_dir, "pytorch_model.bin"),
                   pickle_protocol=protocol)
        return
    # each shard a plain dict, as transformers writes them
    cl.write_shards(out_dir, tensors, shards, "pytorch_model-{}-of-{}.bin", torch.save, "pytorch_model.bin.index.json")


def rezip(src, dst, edit=None, compress=(), drop=(), pad_names=False):
    """Rewrites a torch zip with zipfile: storages land at arbitrary (unaligned) offsets.
    edit(name, bytes) may change an entry; compress/drop name entries by suffix."""
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for i, info in enumerate(zi.infolist()):
            if any(info.filename.endswith(d) for d in drop):
                continue
            data = zi.read(info.filename)
            if edit:
                data = edit(info.filename, data)
            zinfo = zipfile.ZipInfo(info.filename)
            zinfo.compress_type = zipfile.ZIP_DEFLATED if any(info.filename.endswith(c) for c in compress) \
                else zipfile.ZIP_STORED
            if pad_names:
                k = 1 + i % 2  # an unknown extra field of odd, then even size
                zinfo.extra = b"\x99\x99" + struct.pack("<H", k) + b"x" * k
            zo.writestr(zinfo, data)


def pkl_zip(dst, pkl, extra=()):
    """A torch-shaped archive around given data.pkl bytes."""
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/version", "3\n")
        for name, data in extra:
            z.writestr("archive/" + name, data)


class Evil:
    """What a malicious checkpoint does: pickle calls os.system on load."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.marker}",))


def suite(root):
    shutil.rmtree(root, ignore_errors=True)
    cfg = cl.tiny_config(vocab_size=1000)  # real names and layout; a small vocab keeps the suite ~30 MB
    for dt in ("bf16", "f16", "f32"):
        w = cl.random_weights(cfg, seed=3, dtype=dt)
        write_bin(os.path.join(root, dt), cfg, w)
        cl.write_checkpoint(os.path.join(root, dt + "_st"), cfg, w)
    w = cl.random_weights(cfg, seed=3, dtype="bf16")
    write_bin(os.path.join(root, "sharded"), cfg, w, shards=3)
    write_bin(os.path.join(root, "proto4"), cfg, w, protocol=4)

    # Views: a storage shared by several tensors, served at offset; model.state_dict() (_metadata BUILD).
    base = torch.randn(64, generator=torch.Generator().manual_seed(5)).to(torch.bfloat16)
    mat = torch.randn(6, 8, generator=torch.Generator().manual_seed(6))
    lin = torch.nn.Linear(8, 4)
    views = collections.OrderedDict()
    views["head"] = base[0:16]
    views["tail"] = base[40:64].view(4, 6)
    views["whole"] = base
    views["rows"] = mat[2:5]           # contiguous rows, storage offset 16
    views["row_one"] = mat[4:5, :]     # size-1 dim
    views["scalar"] = mat[1, 3]        # 0-dim at offset 11
    views["empty"] = mat[6:6]          # numel 0
    sd = lin.state_dict()              # an OrderedDict with _metadata
    for k, v in views.items():
        sd[k] = v
    os.makedirs(os.path.join(root, "views"), exist_ok=True)
    torch.save(sd, os.path.join(root, "views", "pytorch_model.bin"))
    cl.write_checkpoint(os.path.join(root, "views_st"), cfg, {k: v.contiguous() for k, v in sd.items()})

    # Unaligned storages (zipfile does not pad): the loader must copy, not fail.
    os.makedirs(os.path.join(root, "unaligned"), exist_ok=True)
    rezip(os.path.join(root, "bf16", "pytorch_model.bin"), os.path.join(root, "unaligned", "pytorch_model.bin"),
          pad_names=True)
    good = os.path.join(root, "views", "pytorch_model.bin")  # small: the source of the broken copies

    h = os.path.join(root, "hostile")
    os.makedirs(h, exist_ok=True)
    torch.save({"t": mat.t()}, os.path.join(h, "noncontig.bin"))
    torch.save({"strided": mat[:, ::2]}, os.path.join(h, "strided.bin"))
    torch.save({"ids": torch.arange(4)}, os.path.join(h, "long_storage.bin"))
    with open(good, "rb") as f:
        raw = f.read()
    with open(os.path.join(h, "truncated.bin"), "wb") as f:
        f.write(raw[:len(raw) // 2])
    with open(os.path.join(h, "truncated_tail.bin"), "wb") as f:
        f.write(raw[:-10])
    with open(os.path.join(h, "not_zip.bin"), "wb") as f:
        f.write(b"\x80\x02}q\x00." + bytes(range(256)) * 4)
    rezip(good, os.path.join(h, "wrong_size.bin"), edit=lambda n, d: d[:-2] if n.endswith("/data/1") else d)
    rezip(good, os.path.join(h, "compressed.bin"), compress=("/data/0",))
    rezip(good, os.path.join(h, "missing_entry.bin"), drop=("/data/2",))
    pkl_zip(os.path.join(h, "big_endian.bin"), zipfile.ZipFile(good).read("pytorch_model/data.pkl"), [("byteorder", "big")])
    marker = os.path.join(h, "PWNED")
    pkl_zip(os.path.join(h, "os_system.bin"), pickle.dumps(Evil(marker), protocol=2))
    pkl_zip(os.path.join(h, "eval.bin"), pickle.dumps({"a": (eval, ("1+1",))}, protocol=2))
    pkl_zip(os.path.join(h, "deep_marks.bin"), b"\x80\x02" + b"(" * 100000 + b".")
    pkl_zip(os.path.join(h, "deep_tuples.bin"), b"\x80\x02)" + b"\x85" * 100000 + b".")
    pkl_zip(os.path.join(h, "deep_dicts.bin"), b"\x80\x02}" + b"X\x01\x00\x00\x00a}" * 30000 + b"s" * 30000 + b".")
    pkl_zip(os.path.join(h, "memo_huge.bin"), b"\x80\x02}r\xff\xff\xff\xff.")
    # an index under the memo limit but past the pickle's length (libFuzzer: a 40 MB memo for 15 bytes)
    pkl_zip(os.path.join(h, "memo_sparse.bin"), b"\x80\x02}r\x00\x00\x01\x00.")
    pkl_zip(os.path.join(h, "memo_unset.bin"), b"\x80\x02j\x00\x00\x10\x00.")
    pkl_zip(os.path.join(h, "huge_string.bin"), b"\x80\x02X\xff\xff\xff\x7f" + b"a" * 64 + b".")
    pkl_zip(os.path.join(h, "no_stop.bin"), b"\x80\x02}")
    pkl_zip(os.path.join(h, "not_tensor.bin"), pickle.dumps({"w": 3}, protocol=2))
    # A storage numel that disagrees with its entry, and a view past the end of its storage:
    # torch.save of a 4-float tensor, with bytes of its data.pkl changed.
    torch.save({"v": torch.zeros(4)}, os.path.join(h, "small.bin"))
    with zipfile.ZipFile(os.path.join(h, "small.bin")) as z:
        small_pkl, small_data = z.read("small/data.pkl"), z.read("small/data/0")
    assert small_pkl.count(b"K\x04t") == 1 and small_pkl.count(b"QK\x00") == 1
    pkl_zip(os.path.join(h, "numel_lie.bin"), small_pkl.replace(b"K\x04t", b"M\xe8\x03t"), [("data/0", small_data)])
    pkl_zip(os.path.join(h, "view_oob.bin"), small_pkl.replace(b"QK\x00", b"QK\x02"), [("data/0", small_data)])

def real_widths(out, layers, vit_blocks):
    cfg = cl.real_widths_config(layers, vit_blocks)
    w = cl.random_weights(cfg, seed=0, dtype="bf16")
    write_bin(os.path.join(out, "bin"), cfg, w)
    cl.write_checkpoint(os.path.join(out, "st"), cfg, w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite")
    ap.add_argument("--out")
    ap.add_argument("--real-widths", action="store_true")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vit-blocks", type=int, default=2)
    a = ap.parse_args()
    if a.suite:
        suite(a.suite)
    elif a.real_widths and a.out:
        real_widths(a.out, a.layers, a.vit_blocks)
    else:
        ap.error("--suite DIR or --real-widths --out DIR")


if __name__ == "__main__":
    main()
