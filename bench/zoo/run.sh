#!/usr/bin/env bash
# The issue's model zoo and the two negative-transfer reports of BENCHMARKS.md ("The
# negative-transfer report: the issue's zoo"). Run from an empty folder with TLKIT_HOME holding
# mnist, fashion-mnist, sklearn-digits, skimage-photos (`tlkit data fetch ...`) and the
# efficientnet-lite0 weights (`tlkit weights fetch efficientnet-lite0`).
# Budget: the zoo's recipes (crates/tlkit/configs/zoo/); every report arm is trained 3 epochs
# (MNIST, 100 per class, batch 32) or 10 epochs (optdigits, 10 per class, batch 10) with Adam
# 1e-3, over seeds 0, 1, 2; scratch is the zoo's LeNet re-initialised per seed.
set -euo pipefail
T=${TLKIT:-tlkit}
: "${TLKIT_HOME:?set TLKIT_HOME}"
Z=$TLKIT_HOME/zoo
S=logme,leep,nce,hscore,hscore-shrunk,transrate
lscpu | grep -E 'Model name|^CPU\(s\)'
time nice -n 10 $T zoo build --quiet
time nice -n 10 $T transfer-report --models "$Z/zoo.toml" --target mnist --per-class 100 \
  --test-limit 1000 --seeds 0,1,2 --epochs 3 --scratch "$Z/lenet-random" --scores $S \
  --name zoo-mnist --out reports > report-mnist.txt &
time nice -n 10 $T transfer-report --models "$Z/zoo.toml" --target optdigits-embedded \
  --per-class 10 --batch-size 10 --seeds 0,1,2 --epochs 10 --scratch "$Z/lenet-random" \
  --scores $S --name zoo-optdigits --out reports > report-optdigits.txt &
wait
cat report-mnist.txt report-optdigits.txt
python3 "$(dirname "$0")/table.py" reports/zoo-mnist-*/summary.json reports/zoo-optdigits-*/summary.json
