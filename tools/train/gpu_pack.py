#!/usr/bin/python3
"""Pack the training images small enough to travel to a lent GPU machine.

The device tool carries at most 64 MiB with the repository, so the
downsampled training PNGs are re-encoded as JPEG quality 95, 4:4:4
(visually lossless at these sizes) into .gpudata/train/.
"""
import glob
import os
import sys

from PIL import Image

src = sys.argv[1] if len(sys.argv) > 1 else "/var/tmp/gric/train_images"
dst = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".gpudata", "train")
os.makedirs(dst, exist_ok=True)
total = 0
for path in sorted(glob.glob(os.path.join(src, "*.png"))):
    out = os.path.join(dst, os.path.basename(path)[:-4] + ".jpg")
    Image.open(path).convert("RGB").save(out, quality=95, subsampling=0)
    total += os.path.getsize(out)
print("packed %.1f MB into %s" % (total / 1e6, dst))
