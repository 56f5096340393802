#!/usr/bin/env bash
# Builds the two versions and runs them alternately, three times per model, 2 threads:
#   bash bench/burn-versions/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${CARGO_TARGET_DIR:-/tmp/burn-versions-target}"
cd "$here"
CARGO_TARGET_DIR="$target" cargo build --release --quiet
cp "$target/release/burn-versions" "$target/bv-022"
CARGO_TARGET_DIR="$target" cargo build --release --quiet --no-default-features --features burn023
cp "$target/release/burn-versions" "$target/bv-023"
export RAYON_NUM_THREADS=2
for round in 1 2 3; do
    for v in 022 023; do
        "$target/bv-$v" --model mlp --steps 1000 --warmup 20
        "$target/bv-$v" --model lenet --steps 200 --warmup 20
    done
done
