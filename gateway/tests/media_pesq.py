#!/usr/bin/env python3
"""Narrow-band PESQ (ITU-T P.862) of a degraded 8 kHz s16le recording against its reference."""
import sys

import numpy as np
from pesq import pesq

ref = np.fromfile(sys.argv[1], dtype="<i2").astype(np.float32)
deg = np.fromfile(sys.argv[2], dtype="<i2").astype(np.float32)
n = min(len(ref), len(deg))
print(f"{pesq(8000, ref[:n], deg[:n], 'nb'):.3f}")
