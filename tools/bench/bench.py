#!/usr/bin/python3
"""Rate-distortion and speed benchmark: gric against JPEG, WebP, JPEG XL, AVIF
and HEIC (x265, the stand-in for BPG), using the Debian packages installed by
tools/bench/install-deps.sh.

For every codec and quality it encodes and decodes each PNG with the codec's own
command-line tools and reports bpp (from the real file size), RGB PSNR, MS-SSIM
(on BT.601 luma), encode/decode wall seconds per image and peak RSS; then
BD-rate of gric against every other codec, BENCHMARKS.md and an RD plot.

Example:
  /usr/bin/python3 tools/bench/bench.py --images ../shared/kodak \\
      --gric build/tools/gric/gric --model data/gric-model.bin
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

CACHE_DIR = "/var/tmp/gric/bench-cache"

# Command templates.  {q} quality, {png}/{ppm} source image, {enc} compressed
# file, {dec} decoded image (PNG or PPM as named by 'dec_ext').  All encoders
# and decoders are pinned to one thread where the tool allows it, so speed is
# comparable on a shared machine; everything else is the tool's default.
CODECS = {
    "gric": dict(
        label="gric", ext="gric", dec_ext="png",  # binary: --gric
        enc=["{bin}", "encode", "-q", "{q}", "-t", "1", "{png}", "{enc}"],
        dec=["{bin}", "decode", "{enc}", "{dec}"],
        version=None,  # a work in progress: keyed on binary and model hashes
        qualities="0,15,30,45,60,75,90,100"),
    "jpeg": dict(
        # libjpeg-turbo 2.1 cjpeg cannot read PNG, hence the PPM; default
        # settings (4:2:0, baseline, standard Huffman tables).
        label="JPEG (libjpeg-turbo)", bin="cjpeg", dec_bin="djpeg",
        ext="jpg", dec_ext="ppm",
        enc=["{bin}", "-quality", "{q}", "-outfile", "{enc}", "{ppm}"],
        dec=["{dec_bin}", "-outfile", "{dec}", "{enc}"],
        version=["cjpeg", "-version"],
        qualities="5,10,20,30,45,60,75,85,90,93"),
    "webp": dict(
        label="WebP", bin="cwebp", dec_bin="dwebp", ext="webp", dec_ext="ppm",
        enc=["{bin}", "-quiet", "-q", "{q}", "{png}", "-o", "{enc}"],
        dec=["{dec_bin}", "-quiet", "-ppm", "{enc}", "-o", "{dec}"],
        version=["cwebp", "-version"],
        qualities="0,10,25,40,55,70,80,88,92"),
    "jxl": dict(
        # Quality is the butteraugli distance (-d, lower is better); effort 7.
        # cjxl: --num_threads=0 means no threads; djxl: 0 means all cores.
        label="JPEG XL", bin="cjxl", dec_bin="djxl", ext="jxl", dec_ext="png",
        enc=["{bin}", "{png}", "{enc}", "-d", "{q}", "--num_threads=0",
             "--quiet"],
        dec=["{dec_bin}", "{enc}", "{dec}", "--num_threads=1",
             "--bits_per_sample=8", "--quiet"],
        version=["cjxl", "--version"],
        qualities="20,13,9,6,4.5,3.3,2.4,1.7,1.2,0.8"),
    "avif": dict(
        # avifenc 0.11 has no -q: quality is a fixed AV1 quantizer (min = max,
        # 0..63, lower is better).  aom at its default speed 6; 4:4:4 (the
        # avifenc default for PNG input).
        label="AVIF (aom)", bin="avifenc", dec_bin="avifdec", ext="avif",
        dec_ext="png",
        enc=["{bin}", "-c", "aom", "-j", "1", "--min", "{q}", "--max", "{q}",
             "{png}", "{enc}"],
        dec=["{dec_bin}", "-j", "1", "-d", "8", "{enc}", "{dec}"],
        version=["avifenc", "--version"],
        qualities="58,52,46,40,34,28,22,16,10"),
    "heic": dict(
        # libheif + x265 (default preset, 4:2:0), decoded with libde265.
        label="HEIC (x265)", bin="heif-enc", dec_bin="heif-convert",
        ext="heic", dec_ext="png",
        enc=["{bin}", "-q", "{q}", "-p", "x265:pools=1", "{png}", "-o",
             "{enc}"],
        dec=["{dec_bin}", "{enc}", "{dec}"],
        version=["heif-enc", "--list-encoders"],
        qualities="10,18,25,32,38,44,50,56,62"),
}

# The fast encoder: plain rounding instead of rate-distortion optimised
# quantisation, and no latent refinement (the same decoder).
CODECS["gric-plain"] = dict(CODECS["gric"], label="gric -r 0 -i 0 (fast encoder)",
                            enc=CODECS["gric"]["enc"][:4] + ["-r", "0", "-i", "0"]
                            + CODECS["gric"]["enc"][4:])

MSSSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
GAUSS = np.exp(-0.5 * (np.arange(11) - 5) ** 2 / 1.5 ** 2)
GAUSS /= GAUSS.sum()


# ---------------------------------------------------------------- metrics
def _blur(x):
    """Separable 11x11 Gaussian, 'valid' region only (as in Wang's code)."""
    h, w = x.shape[0] - 10, x.shape[1] - 10
    x = sum(GAUSS[k] * x[k:k + h] for k in range(11))
    return sum(GAUSS[k] * x[:, k:k + w] for k in range(11))


def _ssim_terms(a, b):
    """Mean luminance term and mean contrast-structure term of SSIM."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ma, mb = _blur(a), _blur(b)
    va, vb, cov = _blur(a * a) - ma * ma, _blur(b * b) - mb * mb, \
        _blur(a * b) - ma * mb
    lum = (2 * ma * mb + c1) / (ma * ma + mb * mb + c1)
    cs = (2 * cov + c2) / (va + vb + c2)
    return lum.mean(), cs.mean()


def ms_ssim(ref, dist):
    """Wang et al. 2003 5-scale MS-SSIM on BT.601 luma (float, 0..255)."""
    luma = np.array([0.299, 0.587, 0.114])
    a, b = ref.astype(np.float64) @ luma, dist.astype(np.float64) @ luma
    value = 1.0
    for i, w in enumerate(MSSSIM_WEIGHTS):
        lum, cs = _ssim_terms(a, b)
        value *= max(cs, 0.0) ** w  # cs < 0 only for garbage; clamp like TF
        if i == len(MSSSIM_WEIGHTS) - 1:
            value *= max(lum, 0.0) ** w
        else:  # 2x2 average, dropping an odd last row/column
            h, wd = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
            a = a[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean(axis=(1, 3))
            b = b[:h, :wd].reshape(h // 2, 2, wd // 2, 2).mean(axis=(1, 3))
    return value


def psnr(ref, dist):
    mse = np.mean((ref.astype(np.float64) - dist.astype(np.float64)) ** 2)
    return 100.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def load_rgb(path):
    im = Image.open(path)
    if im.mode not in ("RGB", "RGBA", "L", "P"):  # e.g. 16-bit: would be cut
        raise ValueError(f"{path}: unsupported mode {im.mode}")
    return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------- BD-rate
def _pchip(x, y, xq):
    """Monotone piecewise-cubic Hermite interpolation (Fritsch-Carlson, the
    same slopes as scipy's PchipInterpolator), evaluated at xq."""
    h, delta = np.diff(x), np.diff(y) / np.diff(x)
    d = np.zeros_like(y)
    if len(x) == 2:
        d[:] = delta[0]
    else:
        for k in range(1, len(x) - 1):
            if delta[k - 1] * delta[k] > 0:
                w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
                d[k] = (w1 + w2) / (w1 / delta[k - 1] + w2 / delta[k])
        for e, (h0, h1, d0, d1) in ((0, (h[0], h[1], delta[0], delta[1])),
                                    (-1, (h[-1], h[-2], delta[-1], delta[-2]))):
            s = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
            if np.sign(s) != np.sign(d0):
                s = 0.0
            elif np.sign(d0) != np.sign(d1) and abs(s) > 3 * abs(d0):
                s = 3 * d0
            d[e] = s
    k = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, len(x) - 2)
    t = (xq - x[k]) / h[k]
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * y[k] + (t3 - 2 * t2 + t) * h[k] * d[k]
            + (3 * t2 - 2 * t3) * y[k + 1] + (t3 - t2) * h[k] * d[k + 1])


def bd_rate(anchor, test):
    """Bjontegaard delta rate in percent of test against anchor; each is a
    list of (bpp, quality-in-dB).  Log-rate is interpolated as a piecewise
    cubic of the quality and integrated over the overlapping quality range.
    Negative means test needs fewer bits."""
    curves = []
    for pts in (anchor, test):
        pts = sorted(pts, key=lambda p: p[1])
        x = np.array([p[1] for p in pts])
        keep = np.concatenate(([True], np.diff(x) > 1e-9))  # need strict x
        curves.append((x[keep], np.log(np.array([p[0] for p in pts]))[keep]))
    lo = max(c[0][0] for c in curves)
    hi = min(c[0][-1] for c in curves)
    if min(len(c[0]) for c in curves) < 2 or hi - lo < 1e-6:
        return None
    grid = np.linspace(lo, hi, 2001)
    diff = _pchip(*curves[1], grid) - _pchip(*curves[0], grid)
    avg = np.sum((diff[1:] + diff[:-1]) / 2 * np.diff(grid)) / (hi - lo)
    return (np.exp(avg) - 1) * 100


# ---------------------------------------------------------------- running
def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gric_library(binary):
    """The libgric the CLI loads: the codec lives there, so results cached
    for an unchanged CLI binary must not outlive a rebuilt library."""
    out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("libgric") and "=>" in line:
            return line.split("=>")[1].split("(")[0].strip()
    return binary  # linked statically: the binary is the codec


def timed(argv, env, rss_file):
    """Runs argv under GNU time; returns (wall seconds, peak RSS in MB)."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv,
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = proc.stdout.decode(errors="replace").strip()[-800:]
        raise RuntimeError(f"exit {proc.returncode}: {shlex.join(argv)}\n{tail}")
    with open(rss_file) as f:
        return wall, int(f.read().split()[-1]) / 1024


def run_one(codec, q, image, env):
    """Encodes and decodes one image at one quality; returns its metrics."""
    spec = codec["spec"]
    with tempfile.TemporaryDirectory(prefix="gric-bench-") as tmp:
        ref = load_rgb(image)
        names = dict(codec["names"], q=q, png=image,
                     ppm=os.path.join(tmp, "src.ppm"),
                     enc=os.path.join(tmp, "img." + spec["ext"]),
                     dec=os.path.join(tmp, "dec." + spec["dec_ext"]))
        if "{ppm}" in spec["enc"]:
            Image.fromarray(ref).save(names["ppm"])
        fill = lambda argv: [a.format(**names) for a in argv]
        enc_s, enc_mb = timed(fill(spec["enc"]), env, os.path.join(tmp, "rss"))
        size = os.path.getsize(names["enc"])
        dec_s, dec_mb = timed(fill(spec["dec"]), env, os.path.join(tmp, "rss"))
        out = load_rgb(names["dec"])
    if out.shape != ref.shape:
        raise RuntimeError(f"decoded {out.shape[1]}x{out.shape[0]}, expected "
                           f"{ref.shape[1]}x{ref.shape[0]}: {image}")
    return dict(bpp=8 * size / (ref.shape[0] * ref.shape[1]),
                psnr=psnr(ref, out), msssim=ms_ssim(ref, out),
                enc_s=enc_s, dec_s=dec_s, enc_mb=enc_mb, dec_mb=dec_mb)


def setup_codec(name, args):
    """Resolves binaries and the cache key, or returns a reason to skip."""
    spec = CODECS[name]
    names = {}
    ours = name.startswith("gric")
    progs = {"bin": args.gric} if ours else {"bin": spec["bin"], "dec_bin": spec["dec_bin"]}
    for role, prog in progs.items():
        path = shutil.which(prog)
        if path is None:
            return None, f"binary not found: {prog}"
        names[role] = path
    if ours:
        if not args.model or not os.path.isfile(args.model):
            return None, f"model file not found: {args.model}"
        version = (f"binary sha256 {file_hash(names['bin'])}, "
                   f"library sha256 {file_hash(gric_library(names['bin']))}, "
                   f"model sha256 {file_hash(args.model)}")
    else:
        proc = subprocess.run(spec["version"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        version = proc.stdout.decode(errors="replace")
    key = json.dumps([name, spec["enc"], spec["dec"], version])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return dict(spec=spec, names=names, version=version,
                cache=os.path.join(CACHE_DIR, f"{name}-{digest}.json")), None


def bench_codec(name, codec, qualities, images, args):
    """Returns {quality: [per-image metrics]}, filling and using the cache."""
    cache = {}
    if os.path.exists(codec["cache"]):  # read even with --no-cache: we add to it
        with open(codec["cache"]) as f:
            cache = json.load(f)
    env = dict(os.environ)
    if name.startswith("gric"):
        env["GRIC_MODEL"] = os.path.abspath(args.model)
    keys = {(q, img): f"{q}|{h}" for q in qualities for img, h in images}
    todo = [k for k in keys if args.no_cache or keys[k] not in cache]
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {k: pool.submit(run_one, codec, k[0], k[1], env) for k in todo}
        for n, (k, fut) in enumerate(futures.items(), 1):
            try:
                cache[keys[k]] = fut.result()
            except Exception:
                for other in futures.values():
                    other.cancel()
                raise
            print(f"\r  {name}: {n}/{len(todo)} runs", end="", file=sys.stderr,
                  flush=True)
            if n % 10 == 0 or n == len(todo):  # keep progress if interrupted
                save_cache(codec["cache"], cache)
    if todo:
        print(file=sys.stderr)
    return {q: [cache[keys[(q, img)]] for img, _ in images] for q in qualities}


def save_cache(path, cache):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(cache, f)
    os.replace(path + ".tmp", path)


def summarise(per_quality):
    """Mean over images of each metric per quality, sorted by rate; peak
    memory is the maximum over images."""
    rows = []
    for q, runs in per_quality.items():
        row = {k: float(np.mean([r[k] for r in runs]))
               for k in ("bpp", "psnr", "msssim", "enc_s", "dec_s")}
        row.update(q=q, enc_mb=max(r["enc_mb"] for r in runs),
                   dec_mb=max(r["dec_mb"] for r in runs),
                   msssim_db=float(np.mean([-10 * np.log10(max(1 - r["msssim"], 1e-10))
                                            for r in runs])))
        rows.append(row)
    return sorted(rows, key=lambda r: r["bpp"])


# ---------------------------------------------------------------- reporting
def codec_table(rows):
    lines = ["| quality | bpp | PSNR (dB) | MS-SSIM | MS-SSIM (dB) | enc s | "
             "dec s | enc peak MB | dec peak MB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['q']} | {r['bpp']:.4f} | {r['psnr']:.3f} | "
                     f"{r['msssim']:.5f} | {r['msssim_db']:.3f} | "
                     f"{r['enc_s']:.3f} | {r['dec_s']:.3f} | {r['enc_mb']:.1f} | "
                     f"{r['dec_mb']:.1f} |")
    return lines


def bd_lines(results):
    if "gric" not in results:
        return ["gric was not benchmarked, so there is no BD-rate."]
    lines = ["BD-rate of gric against each codec (negative: gric needs fewer "
             "bits for the same quality; piecewise-cubic interpolation of "
             "log-rate over the overlapping quality range).", "",
             "| anchor | BD-rate (PSNR) | BD-rate (MS-SSIM dB) |",
             "|---|---:|---:|"]
    fmt = lambda v: "no overlap" if v is None else f"{v:+.2f} %"
    g = results["gric"]
    for name, rows in results.items():
        if name == "gric":
            continue
        bd = [bd_rate([(r["bpp"], r[m]) for r in rows],
                      [(r["bpp"], r[m]) for r in g]) for m in ("psnr", "msssim_db")]
        lines.append(f"| {CODECS[name]['label']} | {fmt(bd[0])} | {fmt(bd[1])} |")
    return lines


def run_speed(tool, model, image):
    """gric-speed on the first image and on 1920x1080 with 1 and 2 threads."""
    if not tool or not os.path.exists(tool):
        return []
    env = dict(os.environ, GRIC_MODEL=os.path.abspath(model))
    runs = []
    for target in (image, "1920x1080"):
        for threads in (1, 2):
            res = subprocess.run([tool, "-t", str(threads), target], env=env,
                                 capture_output=True, text=True)
            label = f"{os.path.basename(target)}, {threads} thread(s)"
            runs.append((label, res.stdout if res.returncode == 0 else res.stderr))
    return runs


def write_markdown(path, results, codecs, skipped, images, args, speed):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), platform.machine())
    out = ["# gric benchmarks", "",
           f"{len(images)} images from `{args.images}`; every number is the mean "
           "over images except peak memory (maximum over images).  bpp comes "
           "from the compressed file size; PSNR is on 8-bit RGB (MSE over all "
           "three channels, averaged per image in dB); MS-SSIM is Wang et "
           "al.'s 5-scale MS-SSIM on BT.601 luma; MS-SSIM (dB) is "
           "-10 log10(1 - MS-SSIM), averaged per image.  Times are wall "
           "seconds per image of the command-line tools (including PNG/PPM "
           "I/O and process start), one thread where the tool allows it; "
           "peak memory is the maximum resident set size reported by GNU "
           "time.", ""]
    for name, rows in results.items():
        codec, spec = codecs[name], codecs[name]["spec"]
        show = dict(q="Q", png="in.png", ppm="in.ppm", enc="out." + spec["ext"],
                    dec="dec." + spec["dec_ext"],
                    **{k: os.path.basename(v) for k, v in codec["names"].items()})
        command = lambda argv: shlex.join(a.format(**show) for a in argv)
        out += [f"## {spec['label']}", "",
                f"Encode: `{command(spec['enc'])}`  ",
                f"Decode: `{command(spec['dec'])}`  ",
                f"Version: {' '.join(codec['version'].split())}", ""]
        out += codec_table(rows) + [""]
    for name, why in skipped.items():
        out += [f"## {CODECS[name]['label']}", "", f"Skipped: {why}", ""]
    out += ["## BD-rate", ""] + bd_lines(results) + [""]
    if speed:
        out += ["## gric speed and memory", "",
                "`gric-speed` (tools/bench/speed.c): best of 3 per stage, in "
                "process; MAC/px counts the padded image.", ""]
        for label, text in speed:
            out += [f"{label}:", "", "```", text.strip(), "```", ""]
    if args.plot:
        out += [f"RD plot: `{args.plot}`", ""]
    out += ["## How this was made", "",
            "```", shlex.join([sys.executable] + sys.argv), "```", "",
            f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, "
            f"{cpu}, {os.cpu_count()} logical CPUs, --jobs {args.jobs}, "
            # OpenBLAS's kernels set gric's speed (README, Library)
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}.", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def write_plot(path, results):
    import matplotlib
    matplotlib.use("Agg")  # no display on the build machines
    import matplotlib.pyplot as plt
    xmax = 2.2  # the range the quality lists are chosen to cover
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for name, rows in results.items():
        style = {"gric": dict(linewidth=2.5, color="black"),
                 "gric-plain": dict(linewidth=1, color="black", linestyle="--")}.get(name, {})
        for ax, metric in zip(axes, ("psnr", "msssim_db")):
            ax.plot([r["bpp"] for r in rows], [r[metric] for r in rows],
                    marker="o", markersize=3, label=CODECS[name]["label"], **style)
    for ax, metric, ylabel in zip(axes, ("psnr", "msssim_db"),
                                  ("RGB PSNR (dB)", "MS-SSIM (dB), luma")):
        # Scale y to the curves inside the x range, not to off-plot points.
        seen = [v for rows in results.values() for v in
                [r[metric] for r in rows if r["bpp"] <= xmax]
                + [np.interp(xmax, [r["bpp"] for r in rows],
                             [r[metric] for r in rows])]]
        ax.set_ylim(min(seen) - 0.5, max(seen) + 0.5)
        ax.set_xlim(0, xmax)
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True, help="folder of PNGs")
    ap.add_argument("--gric", default="build/tools/gric/gric", help="gric CLI")
    ap.add_argument("--model", default="data/gric-model.bin",
                    help="gric model file (passed as GRIC_MODEL)")
    ap.add_argument("--qualities", help="gric qualities, comma-separated "
                    f"(default {CODECS['gric']['qualities']})")
    ap.add_argument("--codec-qualities", action="append", default=[],
                    metavar="CODEC=LIST", help="override another codec's "
                    "qualities, e.g. jpeg=10,50,90 (repeatable)")
    ap.add_argument("--codecs", default=",".join(CODECS),
                    help="comma-separated subset of the default")
    ap.add_argument("--limit", type=int, help="use only the first N images")
    ap.add_argument("--jobs", type=int, default=1,
                    help="parallel runs (more than 1 distorts the timings)")
    ap.add_argument("--speed-tool", default="build/tools/bench/gric-speed",
                    help="gric-speed binary for the speed section ('' to skip)")
    ap.add_argument("--out", default="BENCHMARKS.md")
    ap.add_argument("--plot", default="docs/rd.png")
    ap.add_argument("--no-cache", action="store_true",
                    help=f"ignore results cached in {CACHE_DIR} (fresh "
                    "ones are still written there)")
    args = ap.parse_args()

    qualities = {n: c["qualities"] for n, c in CODECS.items()}
    if args.qualities:
        qualities["gric"] = args.qualities
    for item in args.codec_qualities:
        name, _, value = item.partition("=")
        if name not in CODECS or not value:
            ap.error(f"--codec-qualities {item}: expected CODEC=LIST")
        qualities[name] = value
    names = args.codecs.split(",")
    if not set(names) <= set(CODECS):
        ap.error(f"--codecs {args.codecs}: known codecs are {', '.join(CODECS)}")
    if not os.path.isdir(args.images):
        ap.error(f"--images {args.images}: not a folder")
    paths = sorted(os.path.join(args.images, f) for f in os.listdir(args.images)
                   if f.lower().endswith(".png"))[:args.limit]
    if not paths:
        ap.error(f"no PNGs in {args.images}")
    images = [(os.path.abspath(p), file_hash(p)) for p in paths]

    results, codecs, skipped = {}, {}, {}
    for name in names:
        codec, why = setup_codec(name, args)
        if codec is not None:
            try:
                qs = [q.strip() for q in qualities[name].split(",")]
                results[name] = summarise(bench_codec(name, codec, qs, images, args))
                codecs[name] = codec
                continue
            except Exception as e:  # a codec that fails is skipped, not fatal
                why = f"failed: {e}"
        skipped[name] = why
        print(f"SKIPPING {name}: {why}", file=sys.stderr)

    for name, rows in results.items():
        print(f"\n{CODECS[name]['label']}")
        print("\n".join(codec_table(rows)))
    print("\n" + "\n".join(bd_lines(results)))
    speed = run_speed(args.speed_tool, args.model, images[0][0]) if "gric" in results else []
    for label, text in speed:
        print(f"\ngric-speed, {label}\n{text}")
    write_markdown(args.out, results, codecs, skipped, images, args, speed)
    if args.plot and results:
        write_plot(args.plot, results)
    print(f"\nwrote {args.out}" + (f" and {args.plot}" if args.plot else ""))


if __name__ == "__main__":
    main()
