#!/usr/bin/python3
"""Pack the training images small enough to travel to a lent GPU machine.

The device tool carries at most 64 MiB with the repository (about 14 MB),
so the downsampled training PNGs are re-encoded as JPEG, 4:4:4, into
.gpudata/train/, at the highest quality (95 at most, visually lossless at
these sizes) that keeps them within BUDGET.
"""
import glob
import os
import shutil
import sys

from PIL import Image

BUDGET = 46e6

src = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/gric/train_images"
dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".gpudata", "train")
for quality in (95, 92, 90, 87, 85):
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    total = 0
    for path in sorted(glob.glob(os.path.join(src, "*.png"))):
        out = os.path.join(dst, os.path.basename(path)[:-4] + ".jpg")
        Image.open(path).convert("RGB").save(out, quality=quality, subsampling=0)
        total += os.path.getsize(out)
    if total <= BUDGET:
        break
print("packed %.1f MB into %s (JPEG quality %d)" % (total / 1e6, dst, quality))
if total > BUDGET:
    sys.exit("over the %.0f MB budget: the device tool would refuse the carry" % (BUDGET / 1e6))
