#!/bin/sh
# One-command training run on a lent GPU machine.  Run here first:  /usr/bin/python3 tools/train/gpu_pack.py
# then through the device tool, carrying .gpudata:
#   sh tools/train/gpu_run.sh MINUTES
# It resumes from data/gric-model.bin, trains on CUDA, and leaves in $OUT the
# exported weight file and parity vectors (copy them to data/ here), plus the
# fp32 weights split into 15 MB parts: `cat weights.pt.part* > w.pt` and
# `train.py --init w.pt` continues on the CPU.
set -eu
minutes=${1:-8}
out=${OUT:-/tmp/gric-out}
mkdir -p "$out" /tmp/gric-state
PYTHONUNBUFFERED=1 python3 tools/train/train.py --device cuda --data .gpudata/train \
    --state /tmp/gric-state/train_state.pt --resume --minutes "$minutes" \
    --batch 16 --patch 256 --threads 8 --log-every 100 --save-every 1000 2>&1 | tee "$out/train.log"
python3 tools/train/export.py --state /tmp/gric-state/train_state.pt \
    --out "$out/gric-model.bin" --parity "$out/parity.bin"
python3 - "$out" <<'PY'
import sys, torch
sys.path.insert(0, "tools/train")
from train import AVERAGES
st = torch.load("/tmp/gric-state/train_state.pt", map_location="cpu")
averages = {k: st[k] for k in AVERAGES.values() if k in st}
torch.save(dict(model=st["model"], **averages, step=st["step"], history=st["history"],
                config=st["config"]), "/tmp/gric-state/weights.pt")
data = open("/tmp/gric-state/weights.pt", "rb").read()
for i in range(0, len(data), 15 << 20):
    open("%s/weights.pt.part%02d" % (sys.argv[1], i // (15 << 20)), "wb").write(data[i:i + (15 << 20)])
PY
ls -la "$out"
