#!/bin/sh
# Decodable everywhere: a stream encoded by one build/configuration must
# decode, with the entropy coder ending exactly where the encoder started,
# under every other: -O2 and -O0 builds, 1 and 2 threads, and OpenBLAS
# kernels for different CPUs (OPENBLAS_CORETYPE).  The probabilities never
# touch BLAS, so any divergence would desynchronise the decoder and fail.
# Pixels go through the BLAS synthesis, so across CPU kernels they are
# compared by PSNR; with the same kernels they must be identical.
# usage: determinism.sh GRIC_O2 GRIC_O0 IMAGE.png
set -eu
fast=$1 slow=$2 image=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

OPENBLAS_CORETYPE=Haswell "$fast" encode -q 40 -t 1 "$image" "$tmp/a.gric"
# b: the faster encoder without rate-distortion optimised quantisation
OPENBLAS_CORETYPE=Prescott "$slow" encode -q 40 -r 0 -t 2 "$image" "$tmp/b.gric"

for enc in a b; do
    OPENBLAS_CORETYPE=Haswell "$fast" decode -t 2 "$tmp/$enc.gric" "$tmp/$enc-fast.ppm"
    OPENBLAS_CORETYPE=Haswell "$slow" decode -t 1 "$tmp/$enc.gric" "$tmp/$enc-slow.ppm"
    OPENBLAS_CORETYPE=Prescott "$fast" decode -t 1 "$tmp/$enc.gric" "$tmp/$enc-prescott.ppm"
    cmp "$tmp/$enc-fast.ppm" "$tmp/$enc-slow.ppm"
done
# same latents, different BLAS kernels: only float rounding may differ
python3 - "$tmp/a-fast.ppm" "$tmp/a-prescott.ppm" <<'PY'
import math, sys
def load(p):
    d = open(p, "rb").read()
    return d[d.index(b"255\n") + 4:]
a, b = load(sys.argv[1]), load(sys.argv[2])
assert len(a) == len(b)
se = sum((x - y) ** 2 for x, y in zip(a, b))
psnr = 99 if se == 0 else 10 * math.log10(255 ** 2 * len(a) / se)
print("Haswell vs Prescott synthesis: PSNR %.1f dB" % psnr)
sys.exit(0 if psnr > 50 else 1)
PY
echo "determinism OK"
