#!/bin/sh
# Installs the reference codecs and Python modules used by tools/bench/bench.py
# (Debian 12 "bookworm"). Run as root.
#
# libheif1 1.15 on bookworm links x265 (encode) and libde265 (decode) directly;
# the separate libheif-plugin-* packages only exist from libheif 1.16 (trixie).
set -eu
apt-get update
apt-get install -y --no-install-recommends \
    libjpeg-turbo-progs \
    webp \
    libjxl-tools \
    libavif-bin \
    libheif-examples \
    python3-numpy \
    python3-pil \
    python3-matplotlib \
    time
