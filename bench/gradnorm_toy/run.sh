#!/usr/bin/env bash
# The GradNorm-toy diagnosis of BENCHMARKS.md ("Why t0 resists loss weighting"): tlkit's
# generated sets exported, the closed-form least-squares bar, and the PyTorch arms on the same
# data (results/ holds each run's per-epoch log). Run from the repository root.
set -euo pipefail
P=${PYTHON:-/work/main/bench/.venv/bin/python}
EXPORT=${TLKIT_TOY_EXPORT:-/tmp/toy2-export}
R=bench/gradnorm_toy/results
T=bench/gradnorm_toy/torch_toy.py
D=$EXPORT/gradnorm-toy
TLKIT_TOY_EXPORT=$EXPORT cargo test -p tlkit --lib export_named_toys -- --ignored
$P $T $D --arm linear > $R/linear-2task.txt
$P $T $EXPORT/gradnorm-toy-10 --arm linear > $R/linear-10task.txt
run() { local name=$1; shift; nice -n 10 $P $T "$@" --json $R/torch-$name.json > $R/torch-$name.txt; }
run single-t0-adam $D --arm single:0
run single-t1-adam $D --arm single:1
run ew-adam $D --arm ew
run uw-adam $D --arm uw
run gradnorm-adam $D --arm gradnorm
run gradnorm-softmax-adam $D --arm gradnorm --wparam softmax
for s in 0 1 2; do run static-adam-seed$s $D --arm static --weights 1,1e-4 --seed $s; done
for s in 1 2; do run ew-adam-seed$s $D --arm ew --seed $s; done
run ew-adam-120 $D --arm ew --epochs 120
run uw-adam-120 $D --arm uw --epochs 120
run single-t0-sgd0.1 $D --arm single:0 --opt sgd --lr 0.1
nice -n 10 $P $T $D --arm single:1 --opt sgd --lr 0.1 --epochs 3 | tail -2   # NaN
run ew-sgd1e-5 $D --arm ew --opt sgd --lr 1e-5
run gradnorm-sgd1e-5 $D --arm gradnorm --opt sgd --lr 1e-5
# Unit-norm inputs (one reproduction's x): numpy's own draw of the same distributions.
$P bench/gradnorm_toy/unit_norm_x.py
run unitx-single-t0-adam /tmp/toy-unit --arm single:0
run unitx-ew-adam /tmp/toy-unit --arm ew
python3 bench/gradnorm_toy/per_epoch.py t0 runs/gradnorm-toy-alpha012-<time> $R/torch-*-adam.json
