#!/usr/bin/env bash
# GradNorm's α on the two-task GradNorm toy: one 3-seed study (GradNorm alone) per α. Each
# config is gradnorm-alpha12.toml with its `name` and `alpha` lines changed, written to a
# temporary folder (the run folder keeps the config that ran). From the repository root:
#   OUT=/work/runs bash bench/gradnorm_toy/alpha/sweep.sh [ALPHA ...]   # default: 0.12 1.5 3 6 12 24 48
# then the table: python3 bench/gradnorm_toy/alpha/alpha_sweep.py <the run folders>
set -euo pipefail
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
alphas=("$@")
[ $# -gt 0 ] || alphas=(0.12 1.5 3 6 12 24 48)
for a in "${alphas[@]}"; do
  [[ $a == *.* ]] || a=$a.0            # a TOML float
  tag=${a%.0}; tag=${tag//./}          # 0.12 -> 012, 1.5 -> 15, 12.0 -> 12
  config=$tmp/gradnorm-alpha$tag.toml
  sed -e "s/^name = \"gradnorm-alpha12-/name = \"gradnorm-alpha$tag-/" \
      -e "s/^alpha = 12.0$/alpha = $a/" "$here/gradnorm-alpha12.toml" > "$config"
  target/release/tlkit multitask "$config" --no-single-task --quiet --out "${OUT:-runs}"
done
