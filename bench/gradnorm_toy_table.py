"""The GradNorm toy table of BENCHMARKS.md from `tlkit multitask --benchmark gradnorm-toy`
(or `gradnorm-toy-10`) study folders.

    python3 bench/gradnorm_toy_table.py runs/multitask-gradnorm-toy-<time> [more folders]

One markdown row per arm: each task's test MSE divided by σ² of the task (σ = 1, 100 for two
tasks; 100^(i/(T-1)) for T tasks, as `crates/tlkit/src/data/toy.rs` draws them), mean ±
sample std over seeds; the worst task's normalised MSE; each task's final loss weight and
its training-loss ratio L(last epoch) / L(first epoch) (means over seeds); the epoch time
against equal weighting. A normalised MSE of about 0.97 is what predicting 0 scores.
"""
import json
import statistics
import sys
from pathlib import Path


def sigmas(t):
    return [1.0, 100.0] if t == 2 else [100.0 ** (i / (t - 1)) for i in range(t)]


def ms(v):
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


rows, ratios, tasks = {}, {}, []
for folder in map(Path, sys.argv[1:]):
    s = json.loads((folder / "summary.json").read_text())
    for t in s["tasks"]:
        if t["task"] not in tasks:
            tasks.append(t["task"])
        for r in t["rows"]:
            arm = r["arm"]
            cells = [json.loads((folder / arm / f"seed-{seed}" / "result.json").read_text())
                     for seed in s["seeds"]]
            rows.setdefault(arm, {}).setdefault(t["task"], (r, cells))
    for arm, ratio in s["epoch_time_vs_ew"].items():
        ratios.setdefault(arm, ratio)
sig = dict(zip(tasks, sigmas(len(tasks))))
print("| arm | " + " | ".join(f"{t} MSE/σ² (σ = {sig[t]:.3g})" for t in tasks)
      + " | worst task | final weights | loss ratio L(last)/L(first) | epoch time vs ew |")
print("|---|" + "---:|" * len(tasks) + "---:|---|---|---:|")
singles = {t: rows[f"single-{t}"][t][0] for t in tasks if f"single-{t}" in rows}
if singles:
    cells = [f"{singles[t]['mean'] / sig[t] ** 2:.4f} ± {singles[t]['std'] / sig[t] ** 2:.4f}"
             for t in tasks]
    worst = max(tasks, key=lambda t: singles[t]["mean"] / sig[t] ** 2)
    ratio = []
    for t in tasks:
        c = rows[f"single-{t}"][t][1]
        ratio.append(f"{statistics.mean(x['train_loss'][t][-1] / x['train_loss'][t][0] for x in c):.3f}"
                     if all("train_loss" in x for x in c) else "—")
    print("| single-task (each alone) | " + " | ".join(cells)
          + f" | {worst} {singles[worst]['mean'] / sig[worst] ** 2:.4f} | — | {' / '.join(ratio)} | — |")
for arm, by_task in rows.items():
    if arm.startswith("single-"):
        continue
    cells, norm = [], {}
    for t in tasks:
        r, _ = by_task[t]
        norm[t] = r["mean"] / sig[t] ** 2
        cells.append(f"{norm[t]:.4f} ± {r['std'] / sig[t] ** 2:.4f}")
    worst = max(tasks, key=lambda t: norm[t])
    c = by_task[tasks[0]][1]
    weights = " / ".join(f"{statistics.mean(x['weights'][t][-1] for x in c):.3f}"
                         if all(x["weights"].get(t) for x in c) else "—" for t in tasks)
    ratio = " / ".join(f"{statistics.mean(x['train_loss'][t][-1] / x['train_loss'][t][0] for x in c):.3f}"
                       if all("train_loss" in x for x in c) else "—" for t in tasks)
    print(f"| {arm} | " + " | ".join(cells) + f" | {worst} {norm[worst]:.4f} | {weights} "
          f"| {ratio} | {ratios.get(arm, float('nan')):.2f}× |")
