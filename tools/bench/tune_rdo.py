#!/usr/bin/python3
"""Choose the encoder's rate-distortion slope on training photographs.

Encodes a spread of images from the training set (never Kodak: the benchmark
set must not steer the codec) at several qualities with each candidate slope
(`gric encode -r SLOPE`, 0 = plain rounding) and prints mean bpp, PSNR
and the BD-rate of every slope against plain rounding.

Example:
  /usr/bin/python3 tools/bench/tune_rdo.py --gric build/tools/gric/gric \\
      --model data/gric-model.bin --images /var/tmp/gric/train_images
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import bd_rate, load_rgb, psnr  # noqa: E402


def point(args, image, quality, slope, tmp):
    enc, dec = os.path.join(tmp, "x.gric"), os.path.join(tmp, "x.png")
    env = dict(os.environ, GRIC_MODEL=args.model)
    subprocess.run([args.gric, "encode", "-q", str(quality), "-r", str(slope), "-t",
                    str(args.threads), image, enc], check=True, env=env)
    subprocess.run([args.gric, "decode", "-t", str(args.threads), enc, dec], check=True, env=env)
    ref = load_rgb(image)
    return os.path.getsize(enc) * 8 / (ref.shape[0] * ref.shape[1]), psnr(ref, load_rgb(dec))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gric", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--images", required=True, help="training images (PNG)")
    ap.add_argument("--count", type=int, default=8, help="images, evenly spread over the sorted set")
    ap.add_argument("--pattern", default="*_640.png")
    ap.add_argument("--qualities", default="10,30,50,70,90")
    ap.add_argument("--slopes", default="0,10,20,30")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    images = sorted(glob.glob(os.path.join(args.images, args.pattern)))
    if not images:
        sys.exit("no images match %s in %s" % (args.pattern, args.images))
    images = [images[i * len(images) // args.count] for i in range(min(args.count, len(images)))]
    qualities = [int(q) for q in args.qualities.split(",")]
    slopes = [int(s) for s in args.slopes.split(",")]
    curves = {}
    with tempfile.TemporaryDirectory() as tmp:
        for s in slopes:
            # per image: one RD curve; BD-rate is averaged over images
            curves[s] = [[point(args, im, q, s, tmp) for q in qualities] for im in images]
            mean = np.mean(np.array(curves[s]), axis=0)
            print("slope %-5g " % s + "  ".join("q%d %.4f/%.2f" % (q, b, p)
                                               for q, (b, p) in zip(qualities, mean)), flush=True)
    base = slopes[0]
    for s in slopes[1:]:
        bd = [bd_rate(a, b) for a, b in zip(curves[base], curves[s])]
        print("slope %g vs %g: BD-rate %+.2f%% (per image %s)"
              % (s, base, np.mean(bd), " ".join("%+.1f" % v for v in bd)))


if __name__ == "__main__":
    main()
