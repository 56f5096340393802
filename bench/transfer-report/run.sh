#!/usr/bin/env bash
# The quick zoo and the two transfer reports of BENCHMARKS.md ("The negative-transfer report").
# Run from an empty folder with TLKIT_HOME holding mnist and fashion-mnist.
set -euo pipefail
T=${TLKIT:-tlkit}
mk() { # name dataset epochs extra-data-lines
  printf 'name = "%s"\nseed = 0\n[data]\ndataset = "%s"\n%b\n[model]\narch = "mlp"\nhidden = [256, 256]\ndropout = 0.1\n[train]\nepochs = %s\nbatch_size = 32\n[train.optimizer]\nname = "adam"\nlr = 0.002\n' \
    "$1" "$2" "$4" "$3" > "$1.toml"
  $T train "$1.toml" --quiet --out "runs/$1"
}
mk all10 optdigits-embedded 5 ""
mk d04 optdigits-embedded 10 "classes = [0, 1, 2, 3, 4]"
mk fashion fashion-mnist 2 "train_limit = 6000"
mk mnist mnist 2 "train_limit = 6000"
cat > zoo.toml <<'ZOO'
[models]
all10 = "runs/all10/*"
d04 = "runs/d04/*"
fashion = "runs/fashion/*"
mnist = "runs/mnist/*"
random = "mlp"
ZOO
S=logme,leep,nce,hscore,hscore-shrunk,transrate
time $T transfer-report --models zoo.toml --target mnist --per-class 100 --test-limit 2000 \
  --seeds 0,1,2 --epochs 5 --scratch mlp --scores $S --name report-mnist --out reports
time $T transfer-report --models zoo.toml --target optdigits-embedded --per-class 10 --batch-size 10 \
  --seeds 0,1,2 --epochs 5 --scratch mlp --scores $S --name report-optdigits --out reports
