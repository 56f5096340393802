#!/usr/bin/env bash
# Raina et al. 2007's self-taught setting: features learned on patches of natural photos only
# (scikit-learn's and scikit-image's eight photos, in grey; no digits), a linear classifier on
# 10 and 100 labeled digits per class of MNIST and of optdigits; raw pixels vs PCA vs sparse
# codes, 3 seeds. Each study's table is printed, and its folder kept under the work folder.
# Usage: TLKIT_HOME=... bench/selftaught_raina.sh [tlkit binary] [work folder]
set -euo pipefail
T=${1:-target/release/tlkit}
W=${2:-/tmp/selftaught-raina}
mkdir -p "$W"
for b in raina-optdigits raina-mnist; do
  start=$(date +%s)
  nice -n 10 "$T" selftaught --benchmark "$b" --quiet --out "$W/runs"
  echo "$b: $(( $(date +%s) - start )) s"
done
