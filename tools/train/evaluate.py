#!/usr/bin/python3
"""Rate-distortion of a training checkpoint on fixed crops, without C.

  evaluate.py [--state /var/tmp/gric/train_state.pt] [--images DIR]
              [--crop 256] [--weights data/gric-model.bin]

Codes 256x256 (--crop) centre crops of every 12th training image at qualities
0, 25, 50, 75 and 100 with `forward_coding` (hard rounding, the model's own
bit estimate) and prints bpp and PSNR for the last step's weights and for
their moving averages (export.py ships one), and with --weights for an
exported weight file too (with its BD-rate against the last step's
weights), so a run can be watched, and two ways of training compared,
between benchmarks.
"""
import argparse
import glob
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
from bench import bd_rate  # noqa: E402
from train import AVERAGES, checkpoint_model, texture  # noqa: E402
import weightfile  # noqa: E402

QUALITIES = (0, 25, 50, 75, 100)
CROP = 256


def crops(folder, every, min_texture, size=CROP):
    from PIL import Image
    files = sorted(glob.glob(os.path.join(folder, "*.png")))[::every]
    out = []
    for f in files:
        im = np.asarray(Image.open(f).convert("RGB"))
        y, x = (im.shape[0] - size) // 2, (im.shape[1] - size) // 2
        if min(y, x) >= 0 and texture(im[y:y + size, x:x + size]) >= min_texture:
            out.append(im[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).float() / 255.0


def evaluate(model, images):
    rows = []
    for q in QUALITIES:
        bpp, psnr = [], []
        for x in images.split(1):
            out = model.forward_coding(x, q)
            mse = ((out["x_hat"].clamp(0, 1) - x) ** 2).mean().item()
            bpp.append(out["bits"].item() / (x.shape[2] * x.shape[3]))
            psnr.append(10 * np.log10(1 / mse))
        rows.append((q, np.mean(bpp), np.mean(psnr)))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", default="/var/tmp/gric/train_state.pt")
    ap.add_argument("--images", default="/var/tmp/gric/train_images")
    ap.add_argument("--every", type=int, default=12)
    ap.add_argument("--crop", type=int, default=CROP,
                    help="side of the centre crops (images smaller than that are skipped)")
    ap.add_argument("--min-texture", type=float, default=0.0,
                    help="only crops at least this detailed (train.texture)")
    ap.add_argument("--weights", help="also evaluate this exported weight file")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    st = torch.load(args.state, map_location="cpu")
    images = crops(args.images, args.every, args.min_texture, args.crop)
    print("step %d, %d crops of %dx%d" % (st["step"], len(images), args.crop, args.crop))
    models = [("last step", checkpoint_model(st, average=None))]
    models += [("%s avg" % name, checkpoint_model(st, name)) for name, key in AVERAGES.items()
               if key in st]
    if args.weights:
        models.append(("file", weightfile.load_model(args.weights)[0]))
    first = None
    for name, model in models:
        model.eval()
        with torch.no_grad():
            rows = evaluate(model, images)
        curve = [(b, p) for _, b, p in rows]
        first = first or curve
        versus = "" if curve is first else "  BD-rate %+.1f%% vs last step" % bd_rate(first, curve)
        print("%-9s " % name + "  ".join("q%d %.3f/%.2f" % r for r in rows) + versus, flush=True)


if __name__ == "__main__":
    main()
