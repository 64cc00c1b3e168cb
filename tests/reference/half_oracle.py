#!/usr/bin/env python3
"""half_oracle.py OUT — numpy's float16 -> float32 for all 65536 bit patterns (u32 bits, little-endian)."""
import sys

import numpy as np

h = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
h.astype(np.float32).view(np.uint32).astype("<u4").tofile(sys.argv[1])
