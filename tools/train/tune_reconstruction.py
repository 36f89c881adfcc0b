#!/usr/bin/python3
"""Measure the decoder's reconstruction shift on training crops only.

  tune_reconstruction.py [--weights data/gric-model.bin] [--shifts 0,0.3,0.5,0.7,1]

For each shift (0: decode y_hat as is; 1: the bin's mean under the mixture)
prints bpp/PSNR of evaluate.py's crops at its qualities and the BD-rate
against shift 0.  The rate does not depend on the shift; export.py writes
model.RECON_SHIFT into the weight file.
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from bench import bd_rate  # noqa: E402
from evaluate import crops, evaluate  # noqa: E402
import weightfile  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", default=os.path.join(HERE, "..", "..", "data", "gric-model.bin"))
    ap.add_argument("--images", default="/var/tmp/gric/train_images")
    ap.add_argument("--every", type=int, default=12)
    ap.add_argument("--shifts", default="0,0.3,0.5,0.7,1")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = weightfile.load_model(args.weights)[0].eval()
    images = crops(args.images, args.every, 0.0)
    base = None
    for shift in (float(s) for s in args.shifts.split(",")):
        model.recon_shift = shift
        with torch.no_grad():
            rows = evaluate(model, images)
        curve = [(b, p) for _, b, p in rows]
        base = base or curve
        print("shift %.2f  " % shift + "  ".join("q%d %.3f/%.2f" % r for r in rows) +
              "  BD-rate %+.2f%% vs 0" % bd_rate(base, curve), flush=True)


if __name__ == "__main__":
    main()
