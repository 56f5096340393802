#!/usr/bin/env bash
# The UFLDL self-taught learning exercise (ufldl.stanford.edu, "Exercise: Self-Taught
# Learning"): features learned without labels on MNIST training digits 5-9; the training
# digits 0-4 split in half, in MNIST's order, into a labeled training and test set; softmax
# regression (lambda = 1e-4) on the features. Arms: raw pixels, PCA-200, sparse codes
# (200 atoms) and the exercise's sparse autoencoder (784 -> 200, rho = 0.1, beta = 3,
# lambda = 3e-3). Writes $W/table.md (accuracy and times per arm).
# Usage: TLKIT_HOME=... bench/selftaught_ufldl.sh [tlkit binary] [work folder]
# AE_EPOCHS, AE_LR, AE_BATCH, SOFTMAX_EPOCHS and ARMS (default "raw pca200 sc200 sae200")
# change the budget.
set -euo pipefail
T=${1:-target/debug/tlkit}
W=${2:-/tmp/selftaught-ufldl}
AE_EPOCHS=${AE_EPOCHS:-100}
AE_LR=${AE_LR:-3e-3}
AE_BATCH=${AE_BATCH:-256}
SOFTMAX_EPOCHS=${SOFTMAX_EPOCHS:-300}
ARMS=${ARMS:-raw pca200 sc200 sae200}
mkdir -p "$W"
UNLABELED=(--data mnist --classes 5,6,7,8,9)
LABELED=(--data mnist --classes 0,1,2,3,4)
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc | xargs printf '%.1f'; }
declare -A LEARN ENCODE
for arm in $ARMS; do
  t=$(now)
  case $arm in
    raw) ;;
    pca200) $T features learn --method pca "${UNLABELED[@]}" --atoms 200 --out "$W/pca200" ;;
    sc200) $T features learn --method sparse-coding "${UNLABELED[@]}" --limit 10000 \
      --atoms 200 --alpha 0.2 --iterations 100 --batch-size 256 --out "$W/sc200" ;;
    sae200) $T features learn --method sparse-autoencoder "${UNLABELED[@]}" --atoms 200 \
      --rho 0.1 --beta 3 --weight-decay 3e-3 --epochs "$AE_EPOCHS" --lr "$AE_LR" \
      --batch-size "$AE_BATCH" --schedule cosine --out "$W/sae200" ;;
    *) echo "unknown arm $arm" >&2; exit 2 ;;
  esac
  LEARN[$arm]=$(since "$t")
  basis=$W/$arm
  [ "$arm" = raw ] && { basis=raw; mkdir -p "$W/raw"; }
  t=$(now)
  $T features encode --basis "$basis" "${LABELED[@]}" --part 1/2 --out "$W/$arm/train.npz"
  $T features encode --basis "$basis" "${LABELED[@]}" --part 2/2 --out "$W/$arm/test.npz"
  ENCODE[$arm]=$(since "$t")
done
# Softmax regression: cross-entropy + lambda/2 ||W||^2 (lambda = 1e-4, biases not decayed),
# Adam with a cosine schedule to reach the optimum of this convex problem.
softmax() { # arm
  cat > "$W/$1.toml" <<TOML
name = "ufldl-$1"
seed = 0
[data.train]
format = "npz"
path = "$W/$1/train.npz"
x_key = "x"
y_key = "y"
[data.test]
format = "npz"
path = "$W/$1/test.npz"
x_key = "x"
y_key = "y"
[model]
arch = "mlp"
hidden = []
[train]
epochs = $SOFTMAX_EPOCHS
batch_size = 256
valid_every = 0
[train.schedule]
name = "cosine"
[train.optimizer]
name = "adam"
lr = 0.003
weight_decay = 0.0001
[[train.optimizer.groups]]
params = ["*.bias"]
weight_decay = 0.0
TOML
  $T train "$W/$1.toml" --quiet --out "$W/runs" | tail -1
}
{
  echo "| features | width | test accuracy | learn time | encode time (15 298 + 15 298) | softmax time |"
  echo "|---|---:|---:|---:|---:|---:|"
} > "$W/table.md"
for arm in $ARMS; do
  t=$(now)
  line=$(softmax "$arm")
  echo "$arm: $line"
  acc=$(ls -td "$W"/runs/ufldl-"$arm"* | head -1 | xargs -I{} python3 -c \
    "import json;print('%.2f%%' % (100*json.load(open('{}/summary.json'))['test_accuracy']))")
  width=200; [ "$arm" = raw ] && width=784
  echo "| $arm | $width | $acc | ${LEARN[$arm]} s | ${ENCODE[$arm]} s | $(since "$t") s |" >> "$W/table.md"
done
cat "$W/table.md"
