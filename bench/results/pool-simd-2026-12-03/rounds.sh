#!/usr/bin/env bash
# Three rounds: the table with both sides (this commit's max-pool forward), then tlkit alone with
# the binary built before it (TLKIT_BIN=bench_train.before, the release build of f9cc837,
# whose kernels are those of HEAD before the change).
cd /work/main
out=bench/results/pool-simd-2026-12-03
for r in 1 2 3; do
  for side in new before; do
    f=$out/round$r-$side.md
    date -u +"%F %T UTC" > $f
    if [[ $side == new ]]; then sides="pytorch tlkit"; bin=target/release/examples/bench_train
    else sides=tlkit; bin=/tmp/scratch/bench_train.before; fi
    TLKIT_BIN=$bin SIDES="$sides" STEPS=200 MODELS=lenet bash bench/run.sh >> $f 2>>$f.log
    TLKIT_BIN=$bin SIDES="$sides" STEPS=1000 MODELS="ganin ganin-dann" bash bench/run.sh >> $f 2>>$f.log
    date -u +"%F %T UTC" >> $f
  done
done
echo finished
