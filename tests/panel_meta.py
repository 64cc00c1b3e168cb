#!/usr/bin/env python3
"""panel_meta.py IN_DIR OUT_DIR NAME[,NAME...] — copies a panel checkpoint directory (rlaifv convert
--panels) and adds NAMEs to its single weight file's "rlaifv.panel_tensors", tensors' bytes
unchanged: a file the converter would never write, for the engine's refusal of weights read row
by row (docs/panels.md). The file is read and written by q8_ref's read_st / write_st."""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
from q8_ref import read_st, write_st  # noqa: E402


def main():
    src, dst, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    shutil.copytree(src, dst)
    fn = os.path.join(dst, "model.safetensors")
    meta, tensors = read_st(fn)
    meta["rlaifv.panel_tensors"] = ",".join(meta["rlaifv.panel_tensors"].split(",") + names)
    write_st(fn, meta, tensors)


if __name__ == "__main__":
    main()
