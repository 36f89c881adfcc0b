#!/bin/sh
# Install dependencies, build gric, and encode + decode the sample photo.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
[ -d build ] || meson setup build
ninja -C build
export GRIC_MODEL="$PWD/data/gric-model.bin"
for q in 20 60 90; do
    build/tools/gric/gric encode -q $q data/sample.png build/sample-q$q.gric
    build/tools/gric/gric decode build/sample-q$q.gric build/sample-q$q.png
    build/tools/gric/gric info build/sample-q$q.gric
done
echo "decoded pictures: build/sample-q20.png build/sample-q60.png build/sample-q90.png"
