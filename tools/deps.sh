#!/bin/sh
# Debian packages gric needs to build, test and run (Debian 12); with
# --test also those of the training pipeline's tests (PyTorch).
# Installs only what is missing; uses sudo when not root.
set -eu
pkgs="build-essential meson ninja-build pkg-config python3 libopenblas-dev libpng-dev
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good clang libclang-rt-14-dev"
[ "${1:-}" = --test ] && pkgs="$pkgs python3-torch python3-numpy python3-pil"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends $missing
