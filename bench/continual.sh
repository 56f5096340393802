#!/usr/bin/env bash
# The continual-learning benchmarks of BENCHMARKS.md ("Continual learning"):
#   1. Hsu et al. 2018's Split MNIST table: 7 methods x 3 scenarios + PNN, 3 seeds each, with
#      `tlkit continual --benchmark split-mnist` (MLP 2x400, Adam 1e-3, batch 128, 4 epochs/task);
#   2. Permuted MNIST, 10 tasks, examples/continual-permuted-mnist/*.toml.
# Each run's folder (summary.json with R per seed, ACC/BWT/FWT, wall time) goes under $OUT;
# bench/continual_table.py turns them into the tables. Usage:
#   cargo build --release -p tlkit-cli && nice bash bench/continual.sh [split|permuted|all]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${TLKIT_BIN:-$root/target/release/tlkit}"
OUT="${OUT:-$root/runs/continual-bench}"
SEEDS="${SEEDS:-0,1,2}"
what="${1:-all}"
mkdir -p "$OUT"
if [[ $what == split || $what == all ]]; then
  for scenario in task domain class; do
    for method in naive ewc online_ewc si lwf replay joint; do
      echo "== split-mnist $scenario $method" >&2
      /usr/bin/time -f "wall %e s" "$BIN" continual --benchmark split-mnist --scenario "$scenario" \
        --method "$method" --seeds "$SEEDS" --out "$OUT/split-mnist" | tail -3
    done
  done
  echo "== split-mnist task pnn" >&2
  /usr/bin/time -f "wall %e s" "$BIN" continual --benchmark split-mnist --scenario task --method pnn \
    --seeds "$SEEDS" --out "$OUT/split-mnist" | tail -3
fi
if [[ $what == permuted || $what == all ]]; then
  for cfg in "$root"/examples/continual-permuted-mnist/*.toml; do
    echo "== $cfg" >&2
    /usr/bin/time -f "wall %e s" "$BIN" continual "$cfg" --seeds "$SEEDS" --out "$OUT/permuted-mnist" | tail -3
  done
fi
