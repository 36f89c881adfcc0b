#!/usr/bin/python3
"""Export the trained model to data/gric-model.bin and write parity vectors.

  export.py [--state /var/tmp/gric/train_state.pt] [--out data/gric-model.bin]
            [--parity data/parity.bin] [--parity-image IMG]

The parity vectors come from the exported file loaded back into a fresh
reference model, so they hold exactly what the C library sees (fp16 weights).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import RECON_SHIFT  # noqa: E402
from train import AVERAGES, checkpoint_model  # noqa: E402
import weightfile  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PARITY_QUALITY = 60
PAD_MULTIPLE = 64


def pad_replicate(x):
    h, w = x.shape[2:]
    ph = (-h) % PAD_MULTIPLE
    pw = (-w) % PAD_MULTIPLE
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def parity_image(path):
    """A 184x88 crop of the sample photo: odd sizes exercise padding, and a
    latent grid wider than tall (12x8, z 3x2) catches any swapped axis."""
    from PIL import Image
    im = np.asarray(Image.open(path).convert("RGB"))
    return np.ascontiguousarray(im[100:188, 150:334])


def write_parity(model, path, image, quality, model_id):
    x = torch.from_numpy(image).permute(2, 0, 1).float().unsqueeze(0) / 255.0
    out = model.forward_coding(pad_replicate(x), quality)
    h, w = image.shape[:2]
    x_hat = out["x_hat"][:, :, :h, :w].clamp(0, 1)
    f32 = lambda t: t.detach().float().squeeze(0).numpy().astype("<f4")  # noqa: E731
    tensors = dict(image=image.astype("u1"), x_hat=f32(x_hat), bits=np.array([out["bits"]], "<f4"),
                   z_bits=np.array([out["z_bits"]], "<f4"))
    for key in ("y", "z", "z_hat", "hyper", "y_hat", "weights", "mu", "sigma", "similarity", "u", "y_rec"):
        tensors[key] = f32(out[key])
    tensors["ref_index"] = out["ref_index"].squeeze(0).numpy().astype("<i4")
    meta = dict(quality=quality, model_id_lo=model_id & 0xFFFFFFFF, model_id_hi=model_id >> 32)
    weightfile.write(path, meta, tensors)
    return out["bits"].item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", default="/var/tmp/gric/train_state.pt")
    ap.add_argument("--out", default=os.path.join(ROOT, "data", "gric-model.bin"))
    ap.add_argument("--parity", default=os.path.join(ROOT, "data", "parity.bin"))
    ap.add_argument("--parity-image", default=os.path.join(ROOT, "data", "sample.png"))
    ap.add_argument("--average", choices=sorted(AVERAGES), default="fast",
                    help="which parameter average to ship (evaluate.py compares them)")
    ap.add_argument("--recon-shift", type=float, default=RECON_SHIFT,
                    help="the decoder's reconstruction shift (MODEL.md §1), 0-1")
    args = ap.parse_args()
    if not 0 <= args.recon_shift <= 1:
        ap.error("--recon-shift must lie in [0, 1]")

    st = torch.load(args.state, map_location="cpu")
    model = checkpoint_model(st, args.average)
    model.recon_shift = args.recon_shift
    model_id = weightfile.export(model, args.out, train_steps=st["step"])
    print("wrote %s (model id %016x, step %d, %s average)" % (args.out, model_id, st["step"],
                                                             args.average))

    reloaded, _ = weightfile.load_model(args.out)
    bits = write_parity(reloaded.eval(), args.parity, parity_image(args.parity_image),
                        PARITY_QUALITY, model_id)
    print("wrote %s (estimated %.0f bits)" % (args.parity, bits))


if __name__ == "__main__":
    main()
