#!/usr/bin/env python3
"""panel_meta.py IN_DIR OUT_DIR NAME[,NAME...] — copies a panel checkpoint directory (rlaifv convert
--panels) and adds NAMEs to its single weight file's "rlaifv.panel_tensors", bytes unchanged: a
file the converter would never write, for the engine's refusal of weights read row by row
(docs/panels.md). Standard library only."""
import json
import os
import shutil
import struct
import sys


def main():
    src, dst, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    shutil.copytree(src, dst)
    fn = os.path.join(dst, "model.safetensors")
    with open(fn, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    md = head["__metadata__"]
    md["rlaifv.panel_tensors"] = ",".join(md["rlaifv.panel_tensors"].split(",") + names)
    h = json.dumps(head, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(fn, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


if __name__ == "__main__":
    main()
