#!/bin/sh
# Retrain the shipped model in one command:
#   tools/train/retrain.sh [MINUTES] [train.py options but --state/--data...]
# installs PyTorch (Debian's python3-torch), builds the training set from
# Debian's photo packages (once), trains for MINUTES (default 120) from the
# last checkpoint or the shipped weights, and exports data/gric-model.bin
# plus the parity vectors.  Then `tools/test.sh` checks the C library
# against them.
set -eu
cd "$(dirname "$0")/../.."
minutes=${1:-120}
[ $# -gt 0 ] && shift
py=/usr/bin/python3
if ! $py -c "import torch, numpy, PIL" 2>/dev/null; then
    apt-get update
    apt-get install -y python3-torch python3-numpy python3-pil
fi
data=/var/tmp/gric/train_images
[ -n "$(ls "$data" 2>/dev/null)" ] || $py tools/train/prepare_data.py --out "$data"
# one data-parallel process per core (up to 4, 1.3 GB each): on 2 cores 5%
# more crops per second than one process with 2 threads
cores=$(nproc)
workers=$(( cores < 4 ? cores : 4 ))
# lr 3e-5: the shipped line's rate since step 159k (MODEL.md, training
# history); a later --lr in "$@" overrides it
$py tools/train/train.py --resume --data "$data" --minutes "$minutes" \
    --workers "$workers" --threads "$(( cores / workers ))" --lr 3e-5 "$@"
$py tools/train/export.py
