#!/usr/bin/env bash
# Self-taught features on the UFLDL split: bases learned without labels on MNIST training
# digits 5-9, a linear classifier (softmax regression, the common trainer) on digits 0-4
# (a subset of the training digits 0-4; tested on MNIST's test digits 0-4).
# Usage: TLKIT_HOME=... bench/selftaught_ufldl.sh [tlkit binary] [work folder]
set -euo pipefail
T=${1:-target/debug/tlkit}
W=${2:-/tmp/selftaught-ufldl}
LABELED=${LABELED:-5000}
mkdir -p "$W"
$T features learn --method pca --data mnist --classes 5,6,7,8,9 --atoms 200 --out "$W/pca200"
$T features learn --method sparse-coding --data mnist --classes 5,6,7,8,9 --limit 10000 \
  --atoms 200 --alpha 0.2 --iterations 100 --batch-size 256 --out "$W/sc200"
for b in pca200 sc200; do
  $T features encode --basis "$W/$b" --data mnist --classes 0,1,2,3,4 --limit "$LABELED" --out "$W/$b/train.npz"
  $T features encode --basis "$W/$b" --data mnist --classes 0,1,2,3,4 --split test --out "$W/$b/test.npz"
done
probe() { # name, [data] table
  cat > "$W/$1.toml" <<TOML
name = "ufldl-$1"
seed = 0
$2
[model]
arch = "mlp"
hidden = []
[train]
epochs = 30
batch_size = 128
[train.optimizer]
name = "adam"
lr = 0.001
weight_decay = 0.0001
TOML
  $T train "$W/$1.toml" --quiet --out "$W/runs" | tail -3
}
probe raw "[data]
dataset = \"mnist\"
classes = [0, 1, 2, 3, 4]
train_limit = $LABELED"
for b in pca200 sc200; do
  probe "$b" "[data.train]
format = \"npz\"
path = \"$W/$b/train.npz\"
x_key = \"x\"
y_key = \"y\"
[data.test]
format = \"npz\"
path = \"$W/$b/test.npz\"
x_key = \"x\"
y_key = \"y\""
done
