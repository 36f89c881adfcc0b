#!/bin/sh
# Run both fuzzers for SECONDS each, seeded from real files: frames encoded
# now (with the current model) from a photo crop, and a tiny weight file.  Crashes land
# in BUILD/fuzz-artifacts.  usage: run.sh BUILD_DIR [SECONDS]
set -eu
build=$(cd "$1" && pwd)
seconds=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
export GRIC_MODEL="$root/data/gric-model.bin"
work="$build/fuzz-work"
mkdir -p "$work/decode" "$work/model" "$build/fuzz-artifacts"
cp "$root/tests/fuzz/corpus/model/"* "$work/model/"
for q in 0 50 100; do
    "$build/tools/gric/gric" encode -q $q "$root/tests/fuzz/corpus/crop.ppm" \
        "$work/decode/crop-q$q.gric"
done
"$build/tests/fuzz/fuzz_decode" -max_total_time="$seconds" -max_len=65536 \
    -artifact_prefix="$build/fuzz-artifacts/" "$work/decode"
"$build/tests/fuzz/fuzz_model" -max_total_time="$seconds" -max_len=200000 \
    -artifact_prefix="$build/fuzz-artifacts/" "$work/model"
echo "fuzzing OK"
