#!/usr/bin/python3
"""Build the training set from photographs that Debian packages ship.

Downloads the packages with `apt-get download` (no install, no root needed
for the unpack), keeps every colour image whose short side is at least
720 px (one file per multi-resolution wallpaper folder), and writes
downsampled copies: downsampling by 2x or more removes the packages' own
JPEG artefacts so the codec does not learn to reproduce them.  Photos of
400-720 px (OpenCV's, scikit-image's and scikit-learn's samples,
Stellarium's landscape panoramas) and Scratch's 480x360 photo backgrounds
(streets, buildings, parks, landscapes; its drawings left out) are kept at
their own size.  Grey-scale images (ultrasound,
scanned text, test charts) are dropped: the codec is judged on colour photos.
Enlightenment's 4K photo backgrounds come inside Edje files; `edje_decc`
(Debian's libedje-bin, installed when missing) unpacks them.  GCompris
keeps its photos (animals, monuments, instruments) as lossy WebP inside Qt
resource bundles: they are cut out of the bundles, the near-duplicates
between activities dropped, and each halved (at least) like the others.

It also writes a small held-out set (--heldout): the photographs of a
package that is never trained on (palapeli-data's puzzle collection, 5
camera photos), downsampled to a 512 px short side and cut to at most 768
px.  Parameters that are chosen rather than trained
(the encoder's RDO slope, the decoder's reconstruction shift) are chosen on
it with tools/bench/tune_rdo.py: the training photos flatter whatever
fits the trained entropy model best, and the benchmark set must not steer
the codec.

Usage: prepare_data.py [--out DIR] [--heldout DIR] [--work DIR]
"""
import argparse
import glob
import io
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
from PIL import Image

PACKAGES = [
    "mate-backgrounds", "ukui-wallpapers", "plasma-workspace-wallpapers",
    "gnome-backgrounds", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04",
    "python3-skimage", "lxqt-themes", "stellarium-data", "opencv-doc", "digikam-data",
    "enlightenment-data", "gcompris-qt-data", "scratch", "python3-sklearn",
]
# GCompris activities whose bundles hold photographs (the rest: drawings).
GCOMPRIS_PHOTO_SETS = ("erase", "explore_monuments", "explore_world_animals",
                       "explore_farm_animals", "explore_world_music")
GCOMPRIS_MIN_SHORT_SIDE = 512
# Enlightenment backgrounds that are drawings, not photos.
EDJE_DRAWINGS = ("Dunes", "Flat-", "Paper-Flower", "Squiggle", "Sunset-Hills")
# Inside those packages, paths that hold drawings, screenshots or maps
# (lower case: they are looked for in the lower-cased path).
EXCLUDED_PATHS = ("/doc/html/", "/opencv4/html/", "/skycultures/", "/nebulae/", "/plymouth/",
                  "/grub/", "/lxqt/themes/", "/textures/", "/scenery3d/", "/webroot/",
                  "/digikam/data/", "/digikam/themes/", "screenshot",
                  "/indoors/party-room", "/indoors/room", "/indoors/spotlight-stage",
                  "/outdoors/brick-wall1", "/outdoors/school2", "/woods-and-bench",
                  "/basketball-court2")   # Scratch's drawings
# Short sides (px) of the downsampled copies; each is at most half the source.
TARGET_SHORT_SIDES = (1024, 640, 400)
MIN_SHORT_SIDE = 720
# Sources of smaller photos, used at their own size, and their least short side.
NATIVE_SOURCES = {"skimage": 400, "/opencv-doc/examples/": 400, "/stellarium/landscapes/": 400,
                  "/sklearn/datasets/images/": 400, "/scratch/Media/Backgrounds/": 360}
MIN_CHROMA = 4.0                # mean |channel - grey| of a colour image, 0-255
HELDOUT_PACKAGE = "palapeli-data"
HELDOUT_GLOB = "usr/share/palapeli/collection/*.jpg"
HELDOUT_SHORT_SIDE, HELDOUT_MAX_SIDE = 512, 768


def download_and_unpack(packages, debs, root):
    """Downloads the packages not yet in debs/ and unpacks all of debs/ into root/."""
    os.makedirs(debs, exist_ok=True)
    os.makedirs(root, exist_ok=True)
    missing = [p for p in packages if not glob.glob(os.path.join(debs, p + "_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download"] + missing, cwd=debs, check=True)
    for deb in sorted(glob.glob(os.path.join(debs, "*.deb"))):
        subprocess.run(["dpkg", "-x", deb, root], check=True)


def unpack(work):
    root = os.path.join(work, "root")
    download_and_unpack(PACKAGES, os.path.join(work, "debs"), root)
    unpack_edje(root)
    unpack_gcompris(root)
    return root


def write_heldout(work, out):
    """The held-out photos, unpacked apart from the training packages."""
    root = os.path.join(work, "heldout_root")
    download_and_unpack([HELDOUT_PACKAGE], os.path.join(work, "heldout_debs"), root)
    os.makedirs(out, exist_ok=True)
    paths = sorted(glob.glob(os.path.join(root, HELDOUT_GLOB)))
    for path in paths:
        im = Image.open(path).convert("RGB")
        scale = HELDOUT_SHORT_SIDE / min(im.size)
        im = im.resize((round(im.size[0] * scale), round(im.size[1] * scale)), Image.LANCZOS)
        w, h = min(im.size[0], HELDOUT_MAX_SIDE), min(im.size[1], HELDOUT_MAX_SIDE)
        x, y = (im.size[0] - w) // 2, (im.size[1] - h) // 2
        name = os.path.splitext(os.path.basename(path))[0] + ".png"
        im.crop((x, y, x + w, y + h)).save(os.path.join(out, name))
    print("wrote %d held-out images to %s" % (len(paths), out), file=sys.stderr)


def unpack_edje(root):
    """Each Edje background's largest image, as root/edje/NAME/img.png."""
    files = glob.glob(os.path.join(root, "usr/share/enlightenment/data/backgrounds/*.edj"))
    files = [f for f in files if not os.path.basename(f).startswith(EDJE_DRAWINGS)]
    if files and not shutil.which("edje_decc"):
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "libedje-bin"],
                       check=True)
    out = os.path.join(root, "edje")
    os.makedirs(out, exist_ok=True)
    for f in sorted(files):
        name = os.path.splitext(os.path.basename(f))[0]
        if not os.path.isdir(os.path.join(out, name)):
            subprocess.run(["edje_decc", f], cwd=out, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)   # D-Bus noise from EFL
        # img.png is the full-size original; the img-WxH.png copies are its downscales
        for extra in glob.glob(os.path.join(out, name, "img-*.png")):
            os.remove(extra)


def unpack_gcompris(root):
    """The photo activities' WebP images, as root/gcompris/SET_K.png; of
    near-duplicates (the same photo in two activities) the largest."""
    out = os.path.join(root, "gcompris")
    if os.path.isdir(out):
        return
    kept = []   # (16x16 grey thumbnail, pixels, image, name)
    for name in GCOMPRIS_PHOTO_SETS:
        path = os.path.join(root, "usr/share/gcompris-qt/rcc/%s.rcc" % name)
        if not os.path.exists(path):
            continue
        for k, blob in enumerate(webp_blobs(open(path, "rb").read())):
            try:
                im = Image.open(io.BytesIO(blob)).convert("RGB")
            except OSError:
                continue
            if min(im.size) < GCOMPRIS_MIN_SHORT_SIDE:
                continue
            thumb = np.asarray(im.convert("L").resize((16, 16), Image.BILINEAR), np.float64)
            same = [i for i, other in enumerate(kept) if np.abs(other[0] - thumb).mean() < 6]
            if same and kept[same[0]][1] >= im.size[0] * im.size[1]:
                continue
            entry = (thumb, im.size[0] * im.size[1], im, "%s_%03d" % (name, k))
            if same:
                kept[same[0]] = entry
            else:
                kept.append(entry)
    os.makedirs(out)
    for _, _, im, name in kept:
        im.save(os.path.join(out, name + ".png"))


def webp_blobs(data):
    """Every RIFF/WEBP file stored in a Qt resource bundle (stored as is:
    rcc does not compress what is already compressed)."""
    i = data.find(b"RIFF")
    while i >= 0:
        size = struct.unpack("<I", data[i + 4:i + 8])[0] + 8 if i + 8 <= len(data) else 0
        if data[i + 8:i + 12] == b"WEBP" and i + size <= len(data):
            yield data[i:i + size]
            i += size
        else:
            i += 4
        i = data.find(b"RIFF", i)


def candidates(root):
    """Largest image of each folder of size variants, every other image."""
    best = {}
    for path in glob.glob(os.path.join(root, "**", "*"), recursive=True):
        if not path.lower().endswith((".jpg", ".jpeg", ".png")):
            continue
        if any(e in path.lower() for e in EXCLUDED_PATHS):
            continue
        folder = os.path.dirname(path)
        key = folder if "/wallpapers/" in path and "/contents/" in path else path
        key = key.replace("images_dark", "images")
        try:
            with Image.open(path) as im:
                w, h = im.size
        except Exception:
            continue
        native = next((side for src, side in NATIVE_SOURCES.items() if src in path), None)
        lower = GCOMPRIS_MIN_SHORT_SIDE if "/gcompris/" in path else MIN_SHORT_SIDE
        if min(w, h) < (native or lower):
            continue
        if key not in best or w * h > best[key][0]:
            best[key] = (w * h, path)
    return sorted(p for _, p in best.values())


def target_short_sides(path, short):
    """Short sides to write a source at: the TARGET_SHORT_SIDES at most half
    its own (GCompris's smaller photos: half its own); the small native
    photos at (at most) the smallest target."""
    sides = [t for t in TARGET_SHORT_SIDES if 2 * t <= short]
    if "/gcompris/" in path:
        return sides or [short // 2]
    return [TARGET_SHORT_SIDES[-1]] if short < MIN_SHORT_SIDE else sides


def chroma(im):
    """Mean distance of a thumbnail's pixels from grey."""
    a = np.asarray(im.resize((64, 64))).astype(np.float64)
    return np.abs(a - a.mean(2, keepdims=True)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="/var/tmp/gric/data_work")
    ap.add_argument("--out", default="/var/tmp/gric/train_images")
    ap.add_argument("--heldout", default="/var/tmp/gric/heldout")
    args = ap.parse_args()
    write_heldout(args.work, args.heldout)
    root = unpack(args.work)
    os.makedirs(args.out, exist_ok=True)
    for old in glob.glob(os.path.join(args.out, "img*.png")):   # a previous run's
        os.remove(old)
    n = 0
    for i, path in enumerate(candidates(root)):
        im = Image.open(path).convert("RGB")
        if chroma(im) < MIN_CHROMA:
            continue
        short = min(im.size)
        for target in target_short_sides(path, short):
            scale = min(1.0, target / short)
            size = (max(256, round(im.size[0] * scale)), max(256, round(im.size[1] * scale)))
            small = im.resize(size, Image.LANCZOS) if scale < 1 else im
            arr = np.asarray(small)
            if arr.std() < 8:  # flat artwork teaches nothing
                continue
            small.save(os.path.join(args.out, "img%04d_%d.png" % (i, target)))
            n += 1
    print("wrote %d training images to %s" % (n, args.out), file=sys.stderr)


if __name__ == "__main__":
    main()
