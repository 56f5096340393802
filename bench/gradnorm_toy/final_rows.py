"""Rows of the GradNorm toy (two or ten tasks) at one epoch, seeds merged over several study folders
(`tlkit multitask --benchmark gradnorm-toy-10` runs that split the seeds between them).

    python3 bench/gradnorm_toy/final_rows.py EPOCH FOLDER [FOLDER ...]

Reads each arm's `seed-*/metrics.jsonl` (so an unfinished study counts with the epochs it
has: an arm that has not reached EPOCH is left out) and prints test MSE/σ² of t0, t4 and t9
(of t0 and t1 for two tasks), the worst task (of the mean over seeds), the seeds, and the weights of t0 / t9.
"""
import json
import statistics
import sys
from pathlib import Path

epoch = int(sys.argv[1])
cells = {}
for folder in map(Path, sys.argv[2:]):
    for log in sorted(folder.glob("*/seed-*/metrics.jsonl")):
        lines = log.read_text().splitlines()
        if len(lines) < epoch:
            continue
        e = json.loads(lines[epoch - 1])
        tasks = e["tasks"]
        n = len(tasks)
        sig2 = [(100.0 ** (i / (n - 1))) ** 2 for i in range(n)]
        v = [tasks[f"t{i}"]["valid_metric"] / sig2[i] for i in range(n)]
        w = (tasks["t0"].get("weight", 1.0), tasks[f"t{n - 1}"].get("weight", 1.0))
        cells.setdefault(log.parent.parent.name, []).append((log.parent.name, v, w))


def ms(xs):
    return f"{statistics.mean(xs):.4f}" + (f" ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else "")


shown = [0, 4, 9] if len(next(iter(cells.values()))[0][1]) == 10 else [0, 1]
print(f"| arm (epoch {epoch}) | seeds | " + " | ".join(f"t{i}" for i in shown)
      + f" | worst task | weights t0 / t{shown[-1]} |")
print("|---|---|" + "---:|" * len(shown) + "---|---|")
for arm, runs in cells.items():
    vs = [v for _, v, _ in runs]
    means = [statistics.mean(col) for col in zip(*vs)]
    worst = max(range(len(means)), key=lambda i: means[i])
    seeds = ",".join(s.removeprefix("seed-") for s, _, _ in runs)
    w0 = statistics.mean(w[0] for _, _, w in runs)
    w9 = statistics.mean(w[1] for _, _, w in runs)
    print(f"| {arm} | {seeds} | " + " | ".join(ms([v[i] for v in vs]) for i in shown)
          + f" | t{worst} {means[worst]:.4f} | {w0:.3f} / {w9:.3f} |")
