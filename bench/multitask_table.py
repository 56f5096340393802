"""The MultiMNIST table of BENCHMARKS.md from a `tlkit multitask` study folder.

    python3 bench/multitask_table.py runs/multitask-multi-mnist-<time> [more study folders]

Prints one markdown row per arm: each task's test accuracy (mean ± sample std over seeds),
the gain over the task's single-task arm with the verdict word, the epoch time against equal
weighting, and the published numbers (Sener & Koltun 2018 as quoted in a secondary copy;
PCGrad from the Pytorch-PCGrad README).
"""
import json
import sys
from pathlib import Path

PUBLISHED = {
    "single": "97.23 / 95.90",
    "ew": "96.46 / 94.99",
    "uw": "96.47 / 95.29",
    "gradnorm": "96.27 / 94.84",
    "mgda_ub": "97.26 / 95.90",
    "pcgrad": "96.58 / 95.50",
}

# Several study folders (of one benchmark and budget) make one table; an arm is taken from
# the first folder that has it, with its epoch time against that folder's equal weighting.
tables, ratios, tasks = {}, {}, []
for folder in sys.argv[1:]:
    s = json.loads((Path(folder) / "summary.json").read_text())
    for t in s["tasks"]:
        if t["task"] not in tasks:
            tasks.append(t["task"])
        for r in t["rows"]:
            tables.setdefault(t["task"], {}).setdefault(r["arm"], r)
    for arm, ratio in s["epoch_time_vs_ew"].items():
        ratios.setdefault(arm, ratio)
print("| arm | " + " | ".join(f"{t} %" for t in tasks) + " | gain over single-task (points) "
      "| epoch time vs ew | published (100 epochs) |")
print("|---|" + "---:|" * len(tasks) + "---|---:|---|")
arms = ["single"] + [a for a in tables[tasks[0]] if not a.startswith("single-")]
for arm in arms:
    cells, gains = [], []
    for t in tasks:
        r = tables[t][f"single-{t}" if arm == "single" else arm]
        cells.append(f"{100 * r['mean']:.2f} ± {100 * r['std']:.2f}")
        if arm != "single":
            b = tables[t][f"single-{t}"]
            g = 100 * (r["mean"] - b["mean"])
            word = "NEGATIVE TRANSFER" if g < 0 else "positive"
            if "uncertain" in (r["verdict"] or ""):
                word += ", uncertain"
            gains.append(f"{t} {g:+.2f} ({word})")
    time = "—" if arm == "single" else f"{ratios.get(arm, float('nan')):.2f}×"
    name = "single-task (each alone)" if arm == "single" else arm
    print(f"| {name} | " + " | ".join(cells) + f" | {'; '.join(gains) or '—'} | {time} "
          f"| {PUBLISHED.get(arm, '—')} |")
