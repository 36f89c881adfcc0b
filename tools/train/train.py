#!/usr/bin/python3
"""Train the gric Global Reference model (CPU or CUDA).

  train.py --minutes 120 --resume            # continue where the last run stopped
  train.py --resume --workers 2 --threads 1  # two data-parallel processes, one per core
  train.py --device cuda --minutes 50 --batch 16 --patch 256
  train.py --init weights.pt                 # continue from gpu_run.sh's weights

The checkpoint (weights + optimiser + RNG state) lives in --state
(default /var/tmp/gric/train_state.pt).  Without it, --resume starts from the
shipped weight file in data/ so training never restarts from scratch.
Each sample of a batch draws one of the K rate points; the loss is
lambda_k * 255^2 * MSE + bpp, weighted by rate_weights (--rate-weighting)
and averaged over the batch.  The checkpoint also
keeps exponential moving averages of the parameters: one with --ema-decay
(what export.py ships) and a slower one with --slow-ema-decay, so that
evaluate.py can tell which of them (and not the last step's noisy weights)
is better to ship (export.py --average slow).
"""
import argparse
import datetime
import glob
import os
import signal
import socket
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GlobalReferenceModel, relative_lambdas  # noqa: E402
import weightfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WEIGHTS = os.path.join(HERE, "..", "..", "data", "gric-model.bin")
GAIN_LR_SCALE = 10


def texture(crop):
    """Mean absolute horizontal plus vertical difference of the grey image (0-255)."""
    grey = crop.mean(2, dtype=np.float32)
    return np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean()


AVERAGES = {"fast": "ema", "slow": "ema_slow"}   # name -> checkpoint key


def checkpoint_model(st, average="fast"):
    """The model a checkpoint holds: one of its parameter averages
    (AVERAGES; "fast" is what export.py ships by default) or, with
    average=None, the last step's parameters."""
    cfg = st["config"]
    model = GlobalReferenceModel(cfg["N"], cfg["M"], cfg["H"],
                                 tuple(st["model"]["lambdas"].tolist()))
    model.load_state_dict(dict(st["model"], **st[AVERAGES[average]]) if average else st["model"])
    return model


def native_bfloat16(dev):
    """True where bfloat16 convolutions run natively: CUDA GPUs that support
    them, CPUs with AVX512-BF16 or AMX (elsewhere autocast emulates them slowly)."""
    if dev.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class PatchSampler:
    """Random crops (with flips) from every training image held in memory.

    Half of all crops of the wallpaper photos are nearly flat (sky, bokeh,
    gradients: texture below 3.5, where the camera photo samples reach
    20-50), and flat crops teach the transforms little.  A crop is kept
    with probability min(1, texture / full_texture), so detailed crops
    dominate while flat ones still appear (5% of the kept ones).
    """

    def __init__(self, folder, patch, seed, full_texture):
        from PIL import Image
        files = sorted(glob.glob(os.path.join(folder, "*.png")) +
                       glob.glob(os.path.join(folder, "*.jpg")))
        if not files:
            sys.exit("no training images in %s: run tools/train/prepare_data.py" % folder)
        self.images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
        self.images = [im for im in self.images if min(im.shape[:2]) >= patch]
        self.patch = patch
        self.full_texture = full_texture
        self.rng = np.random.default_rng(seed)

    def batch(self, n):
        out = np.empty((n, self.patch, self.patch, 3), dtype=np.uint8)
        for i in range(n):
            # every file equally likely: the small photo samples count as
            # much as the large (mostly artwork) wallpapers
            while True:
                im = self.images[self.rng.integers(len(self.images))]
                y = self.rng.integers(0, im.shape[0] - self.patch + 1)
                x = self.rng.integers(0, im.shape[1] - self.patch + 1)
                crop = im[y:y + self.patch, x:x + self.patch]
                if self.rng.random() * self.full_texture <= texture(crop):
                    break
            if self.rng.random() < 0.5:
                crop = crop[:, ::-1]
            out[i] = crop
        return torch.from_numpy(out).permute(0, 3, 1, 2).float() / 255.0


def rate_weights(lambdas, exponent):
    """Loss weight of each rate point: (lambda_k / geometric mean of lambdas)^-exponent.

    Unweighted, a sample at the top rate point has a 200x larger gradient
    than one at the bottom (its loss is 27x larger), and the gradient is
    clipped to norm 1 every step, so the low rate points hardly steer the
    shared transforms.  With exponent 0.5 every point's loss is about the
    same size (measured: loss ~ lambda^0.48), so each counts by its relative
    improvement, as a BD-rate does.
    """
    return relative_lambdas(lambdas) ** -exponent


def exchange(params, stats, world):
    """Sums stats (a float32 vector) and replaces every gradient by its mean
    over the world's processes, in one all-reduce of a flat buffer.  All
    processes then take the same optimiser step and stay identical."""
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params] + [stats])
    dist.all_reduce(flat)
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset:offset + n].view(p.shape) / world)
        offset += n
    return flat[offset:]


def check_in_step(params):
    """Fails if the processes' parameters have drifted apart."""
    total = sum(p.detach().double().sum() for p in params).view(1)
    spread = torch.cat([total, -total])
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    if spread[0] != -spread[1]:
        raise RuntimeError("data-parallel processes hold different parameters")


def free_port():
    """A TCP port on 127.0.0.1 that no one listens on, for processes to meet on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/var/tmp/gric/train_images")
    ap.add_argument("--state", default="/var/tmp/gric/train_state.pt")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--init", help="weights-only checkpoint (e.g. from gpu_run.sh) to start from")
    # 2 crops of 256² (not 8 of 128²: the same pixels per step) since step
    # 131.5k: latents of 16x16 teach context and reference search at sizes
    # nearer real images (MODEL.md §7)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--patch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--full-texture", type=float, default=12.0,
                    help="crops at least this detailed are always kept, flatter ones less often (0: all)")
    ap.add_argument("--threads", type=int, default=2, help="per process")
    ap.add_argument("--workers", type=int, default=1,
                    help="data-parallel processes (CPU): each draws --batch crops and the "
                    "gradients are averaged, so a step learns from workers x batch crops")
    ap.add_argument("--steps", type=int, default=0,
                    help="stop at this step count, the checkpoint's included (0: --minutes only)")
    ap.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                    help="of the analysis and synthesis transforms (model.transform); "
                    "auto: bfloat16 where the hardware computes it natively")
    ap.add_argument("--rate-weighting", type=float, default=0.5,
                    help="weight rate point k's loss by (lambda_k / geometric mean lambda)^-W")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--ema-decay", type=float, default=0.999,
                    help="per-step decay of the shipped parameter average")
    ap.add_argument("--slow-ema-decay", type=float, default=0.9998,
                    help="per-step decay of the slower average kept beside it")
    # sizes of a new model; a resumed one keeps its own
    ap.add_argument("--N", type=int, default=96)
    ap.add_argument("--M", type=int, default=160)
    ap.add_argument("--H", type=int, default=192)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--save-every", type=float, default=10.0, help="minutes between checkpoints")
    args = ap.parse_args()
    if args.workers < 1 or (args.workers > 1 and args.device != "cpu"):
        sys.exit("--workers: at least 1, and more only on the CPU")
    if args.workers == 1:
        train(0, args, None)
        return
    mp.start_processes(train, (args, free_port()), nprocs=args.workers, start_method="fork")


def train(rank, args, port):
    """One training process; rank 0 logs, keeps the averages and saves."""
    world = args.workers
    log = print if rank == 0 else (lambda *a, **k: None)
    if world > 1:
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % port, rank=rank,
                                world_size=world, timeout=datetime.timedelta(minutes=5))
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    st = None
    if args.resume and os.path.exists(args.state):
        st = torch.load(args.state, map_location="cpu")
    elif args.init:
        st = torch.load(args.init, map_location="cpu")
    elif args.resume and os.path.exists(DEFAULT_WEIGHTS):
        shipped, meta = weightfile.load_model(DEFAULT_WEIGHTS)
        st = dict(model=shipped.state_dict(), step=int(meta.get("train_steps", 0)),
                  config=dict(N=meta["N"], M=meta["M"], H=meta["H"]))
        log("starting from %s (fresh optimiser)" % DEFAULT_WEIGHTS, flush=True)
    if st is not None:
        args.N, args.M, args.H = st["config"]["N"], st["config"]["M"], st["config"]["H"]
    model = GlobalReferenceModel(args.N, args.M, args.H)
    model.bf16_transforms = (args.precision == "bfloat16" or
                             (args.precision == "auto" and native_bfloat16(dev)))
    log("transforms in %s" % ("bfloat16" if model.bf16_transforms else "float32"), flush=True)
    # the gains and the transforms' rate scales are few and must move far:
    # they learn GAIN_LR_SCALE times faster
    gains = model.rate_parameters()
    rest = [p for p in model.parameters() if all(p is not g for g in gains)]
    opt = torch.optim.Adam([dict(params=rest), dict(params=gains, scale=GAIN_LR_SCALE)], lr=args.lr)
    step, history = 0, []
    averages = {}
    if st is not None:
        gain_ids = st["opt"]["param_groups"][1]["params"] if "opt" in st else ()
        migrated = model.migrate_rate_points(st["model"], model.lambdas, st.get("opt"), gain_ids)
        if migrated:
            log("rate points moved to %s" % model.lambdas.tolist(), flush=True)
        model.load_state_dict(st["model"])
        if not migrated:
            averages = {key: st[key] for key in AVERAGES.values() if key in st}
        step, history = st["step"], st.get("history", [])
        if "opt" in st:
            opt.load_state_dict(st["opt"])
            torch.set_rng_state(st["torch_rng"])
        log("resumed at step %d (%s optimiser)" % (step, "saved" if "opt" in st else "fresh"),
            flush=True)
    if rank > 0:   # the other processes draw other crops and noise
        torch.manual_seed(args.seed * 7919 + step + rank)
    if world > 1:
        log("%d data-parallel processes: %d crops per step" % (world, world * args.batch),
            flush=True)
    # channels-last convolutions: 0.247 -> 0.229 s/step on the 2-core CPU
    layout = torch.channels_last
    model.to(dev, memory_format=layout)
    decays = {AVERAGES["fast"]: args.ema_decay, AVERAGES["slow"]: args.slow_ema_decay}
    # a missing average starts from the other one, or else from the weights
    initial = (averages.get(AVERAGES["fast"]) or averages.get(AVERAGES["slow"])
               or dict(model.named_parameters()))
    averages = {key: {k: v.detach().clone().to(dev) for k, v in averages.get(key, initial).items()}
                for key in decays}
    tracked = [(decays[key], [(avg[k], p) for k, p in model.named_parameters()])
               for key, avg in averages.items()]
    for g in opt.param_groups:
        g["lr"] = args.lr * g.get("scale", 1)
    # process 0 draws what a single process would
    seeds = [s if rank == 0 else [s, rank] for s in (args.seed + step, args.seed * 7919 + step)]
    sampler = PatchSampler(args.data, args.patch, seeds[0], args.full_texture)
    K = model.lambdas.numel()
    weights = rate_weights(model.lambdas, args.rate_weighting)
    rate_rng = np.random.default_rng(seeds[1])
    params = list(model.parameters())

    def save():
        if world > 1:
            check_in_step(params)
        if rank > 0:
            return
        tmp = args.state + ".tmp"
        torch.save(dict(model=model.state_dict(), **averages, opt=opt.state_dict(), step=step,
                        history=history, torch_rng=torch.get_rng_state(),
                        config=dict(N=args.N, M=args.M, H=args.H)), tmp)
        os.replace(tmp, args.state)

    os.makedirs(os.path.dirname(args.state), exist_ok=True)
    stop = []  # SIGTERM/SIGINT end the run at the next step, with a checkpoint
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    start = last_save = t_log = time.time()
    acc = np.zeros(3)
    n_acc = 0
    while True:
        x = sampler.batch(args.batch).to(dev, memory_format=layout)
        k = torch.from_numpy(rate_rng.integers(0, K, args.batch)).to(dev)
        x_hat, bpp = model(x, k)
        mse = ((x_hat - x) ** 2).mean((1, 2, 3))
        sample_loss = model.lambdas[k] * 255 ** 2 * mse + bpp
        loss = (weights[k] * sample_loss).mean()
        opt.zero_grad()
        loss.backward()
        step += 1
        psnr = (10 * torch.log10(1 / mse.clamp(min=1e-10))).mean().item()
        # every process stops (or checkpoints) at the same step: when any of
        # them is told to stop, when process 0's clock says so
        over = (bool(stop) or time.time() - start >= args.minutes * 60
                or 0 < args.steps <= step)
        due = rank == 0 and time.time() - last_save > args.save_every * 60
        stats = torch.tensor([sample_loss.mean().item(), bpp.mean().item(), psnr, over, due])
        if world > 1:
            stats = exchange(params, stats, world)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if rank == 0:
            with torch.no_grad():
                for decay, pairs in tracked:
                    for a, p in pairs:
                        a.mul_(decay).add_(p, alpha=1 - decay)
            acc += stats[:3].double().numpy() / world
            n_acc += 1
        if rank == 0 and step % args.log_every == 0:
            l, b, p = acc / n_acc
            now = time.time()
            print("step %d  loss %.4f  bpp %.4f  psnr %.2f  (%.2f s/step, %.1f min)"
                  % (step, l, b, p, (now - t_log) / n_acc, (now - start) / 60), flush=True)
            t_log = now
            history.append((step, l, b, p))
            acc[:] = 0
            n_acc = 0
        if stats[3].item() > 0:
            break
        if stats[4].item() > 0:
            save()
            last_save = time.time()
    save()
    log("saved %s at step %d" % (args.state, step), flush=True)


if __name__ == "__main__":
    main()
