#!/bin/bash
# CPU seconds per training step of each weighting method on MultiMNIST (BENCHMARKS.md,
# "Multi-task learning"): one epoch of 20 steps (5 120 images, batch 256) per method, each
# in its own process under /usr/bin/time, and one run of a single step for the fixed part
# (building the data, the network, evaluating 256 test images). CPU time (user + sys)
# rather than wall time, because the machine is shared: per step = (run - fixed) / 19.
#   bench/multitask_timing.sh target/debug/tlkit OUT_DIR
#   python3 bench/multitask_table.py --cpu OUT_DIR/times.txt STUDY...
set -e
tlkit=$(realpath "$1")
mkdir -p "$2" && cd "$2"
for m in ew uw dwa gradnorm pcgrad mgda mgda_ub cagrad; do
  /usr/bin/time -f "$m %e wall %U user %S sys" -a -o times.txt nice -n 10 "$tlkit" multitask \
    --benchmark multi-mnist --method $m --no-single-task --seeds 0 --epochs 1 \
    --train-limit 5120 --test-limit 256 --quiet --out . > log-$m.txt 2>&1
done
/usr/bin/time -f "fixed-ew-1step %e wall %U user %S sys" -a -o times.txt nice -n 10 "$tlkit" \
  multitask --benchmark multi-mnist --method ew --no-single-task --seeds 0 --epochs 1 \
  --train-limit 256 --test-limit 256 --quiet --out . > log-fixed.txt 2>&1
