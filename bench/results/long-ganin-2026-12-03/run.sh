#!/usr/bin/env bash
# Three rounds of the two MNIST-M rows (plain and with DANN) at 2000 timed steps, ten times the
# table's 200, both sides; tlkit's default pool. Run from the repository root on an idle machine.
set -euo pipefail
out=bench/results/long-ganin-2026-12-03
for r in 1 2 3; do
  f=$out/round$r.md
  date -u +"%F %T UTC" > "$f"
  STEPS=2000 MODELS="ganin ganin-dann" bash bench/run.sh >> "$f" 2>> "$f.log"
  date -u +"%F %T UTC" >> "$f"
done
echo finished
