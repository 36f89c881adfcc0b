#!/bin/sh
# The whole test suite: dependencies, the release build with every test
# (unit, parity, codec, determinism, GStreamer, the training pipeline's),
# then the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, then a short fuzzing run.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh --test
[ -d build ] || meson setup build
ninja -C build
meson test -C build --print-errorlogs

[ -d build-asan ] || CC=clang meson setup build-asan -Db_sanitize=address,undefined \
    -Db_lundef=false -Dbuildtype=debugoptimized -Dgstreamer=disabled -Dfuzzing=true
ninja -C build-asan
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C build-asan --print-errorlogs
tests/fuzz/run.sh build-asan 30
