#!/usr/bin/env bash
# The domain-adaptation benchmark of BENCHMARKS.md: source-only, DANN, DAN, CORAL and CDAN on
# MNIST → optdigits and MNIST → MNIST-M-style, 3 seeds each, one run after the other.
#   bench/adapt_sweep.sh [TLKIT_BINARY] [OUT_DIR]
# Needs `tlkit data fetch mnist optdigits sklearn-digits` first.
set -euo pipefail
bin=${1:-target/release/tlkit}
out=${2:-runs/adapt-bench}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
for pair in mnist-optdigits mnist-mnistm; do
    start=$(date +%s)
    echo "== $pair: started $(date -u +%FT%TZ)"
    nice "$bin" adapt "$here/examples/adapt-$pair/config.toml" --quiet --out "$out"
    echo "== $pair: $(( $(date +%s) - start )) s wall"
done
