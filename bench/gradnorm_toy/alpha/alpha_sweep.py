"""GradNorm's asymmetry α on the GradNorm toys: one row per study folder (a `tlkit multitask`
run of one of the configs in this folder, or its kept copy under `results/`).

    python3 bench/gradnorm_toy/alpha/alpha_sweep.py FOLDER [FOLDER ...]

For each folder: α (from its `config.toml`, 1.5 when unset), the seeds, each arm's test MSE
divided by σ² of the task for t0 (σ = 1) and the last task (σ = 100), mean ± sample std over
the seeds, the worst task, and the mean final weights of t0 and the last task (from each cell's
`result.json`). σ as `crates/tlkit/src/data/toy.rs` draws them: 100^(i/(T-1)).
"""
import json
import statistics
import sys
import tomllib
from pathlib import Path

print("| α | arm | seeds | t0 (σ = 1) | last task (σ = 100) | worst task | final weights t0 / last |")
print("|---:|---|---|---:|---:|---|---|")
for folder in map(Path, sys.argv[1:]):
    config = tomllib.loads((folder / "config.toml").read_text())
    alpha = config.get("settings", {}).get("gradnorm", {}).get("alpha", 1.5)
    summary = json.loads((folder / "summary.json").read_text())
    names = [t["task"] for t in summary["tasks"]]
    n = len(names)
    sig2 = {name: (100.0 ** (i / (n - 1))) ** 2 for i, name in enumerate(names)}
    arms = {}
    for t in summary["tasks"]:
        for r in t["rows"]:
            arms.setdefault(r["arm"], {})[t["task"]] = [v / sig2[t["task"]] for v in r["values"]]
    for arm, by_task in arms.items():
        means = {k: statistics.mean(v) for k, v in by_task.items()}
        worst = max(means, key=means.get)
        cells = [json.loads((folder / arm / f"seed-{s}" / "result.json").read_text())
                 for s in summary["seeds"]]
        first, last = names[0], names[-1]

        def cell(k):
            v = by_task[k]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            return f"{statistics.mean(v):.4f} ± {sd:.4f}"

        def weight(k):
            ws = [c["weights"][k][-1] for c in cells if c["weights"].get(k)]
            return f"{statistics.mean(ws):.3f}" if len(ws) == len(cells) else "1"

        a = f"{alpha:g}" if arm == "gradnorm" else "–"
        seeds = f"{summary['seeds'][0]}–{summary['seeds'][-1]}"
        print(f"| {a} | {arm} | {seeds} | {cell(first)} | {last} {cell(last)} | {worst} "
              f"{means[worst]:.4f} | {weight(first)} / {weight(last)} |")
