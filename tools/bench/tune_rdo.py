#!/usr/bin/python3
"""Choose the encoder's rate-distortion slope and the decoder's
reconstruction shift on held-out photographs.

Encodes the images (by default the held-out set that
tools/train/prepare_data.py writes: never trained on, and never Kodak, as
the benchmark set must not steer the codec) at several qualities with each
candidate slope (`gric encode -r SLOPE`) and each model file (the same
weights exported with different `export.py --recon-shift`), and prints,
against the first model's plain rounding (-r 0), mean bpp and PSNR, the
bits at equal PSNR per quality (the number of images whose point falls
inside the plain curve in brackets) and the BD-rate.

Example:
  /usr/bin/python3 tools/bench/tune_rdo.py --gric build/tools/gric/gric \\
      --model data/gric-model.bin,/tmp/shift0.5.bin --slopes 0,10,20,40
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


def point(args, model, image, quality, slope, tmp):
    enc, dec = os.path.join(tmp, "x.gric"), os.path.join(tmp, "x.png")
    env = dict(os.environ, GRIC_MODEL=model)
    subprocess.run([args.gric, "encode", "-q", str(quality), "-r", str(slope), "-t",
                    str(args.threads), image, enc], check=True, env=env)
    subprocess.run([args.gric, "decode", "-t", str(args.threads), enc, dec], check=True, env=env)
    ref = load_rgb(image)
    return os.path.getsize(enc) * 8 / (ref.shape[0] * ref.shape[1]), psnr(ref, load_rgb(dec))


def rate_change(base, pt):
    """bpp of pt against plain rounding's curve (log bpp interpolated in PSNR)
    at pt's PSNR, in percent; None outside the curve."""
    x = np.array([p for _, p in base])
    y = np.log([b for b, _ in base])
    if not x[0] <= pt[1] <= x[-1]:
        return None
    return (pt[0] / np.exp(np.interp(pt[1], x, y)) - 1) * 100


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gric", required=True)
    ap.add_argument("--model", required=True, help="model files, comma-separated")
    ap.add_argument("--images", default="/var/tmp/gric/heldout")
    ap.add_argument("--count", type=int, default=8, help="images, evenly spread over the sorted set")
    ap.add_argument("--pattern", default="*.png")
    ap.add_argument("--qualities", default="10,30,50,70,90")
    ap.add_argument("--base-qualities", default="0,10,20,30,40,50,60,70,80,90,100",
                    help="plain rounding's curve, to compare each point with")
    ap.add_argument("--slopes", default="10,20,30")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    images = sorted(glob.glob(os.path.join(args.images, args.pattern)))
    if not images:
        sys.exit("no images match %s in %s" % (args.pattern, args.images))
    count = min(args.count, len(images))
    images = [images[i * len(images) // count] for i in range(count)]
    qualities = [int(q) for q in args.qualities.split(",")]
    base_q = [int(q) for q in args.base_qualities.split(",")]
    slopes = [int(s) for s in args.slopes.split(",")]
    models = args.model.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        # per image: one RD curve; BD-rate is averaged over images
        base = [[point(args, models[0], im, q, 0, tmp) for q in base_q] for im in images]
        mean = np.mean(np.array(base), axis=0)
        print("plain     " + "  ".join("q%d %.4f/%.2f" % (q, b, p) for q, (b, p) in zip(base_q, mean)))
        for model, s in [(m, s) for m in models for s in slopes]:
            curves = [[point(args, model, im, q, s, tmp) for q in qualities] for im in images]
            mean = np.mean(np.array(curves), axis=0)
            print("%s, slope %d\n          " % (model, s) + "  ".join(
                "q%d %.4f/%.2f" % (q, b, p) for q, (b, p) in zip(qualities, mean)))
            per_q = []
            for i in range(len(qualities)):
                v = [rate_change(b, c[i]) for b, c in zip(base, curves)]
                v = [x for x in v if x is not None]
                per_q.append("q%d %s" % (qualities[i], "%+.1f%% (%d)" % (np.mean(v), len(v)) if v else "-"))
            bd = [bd_rate(b, c) for b, c in zip(base, curves)]
            print("          bits at equal PSNR: " + "  ".join(per_q))
            print("          BD-rate %+.2f%% (per image %s)" % (np.mean(bd), " ".join("%+.1f" % v for v in bd)),
                  flush=True)


if __name__ == "__main__":
    main()
