#!/usr/bin/env python3
"""Markdown tables of a `tlkit study general-features` folder's summary.json.

    python3 bench/general-features/table.py RUN_DIR

Prints: the trunks on their own tasks; accuracy per trunk and (new task, labels per class,
mode), mean ± std over seeds in %; the multi-task trunks' verdicts against the best
single-task trunk; each score's Kendall tau over the trunks; the CKA matrix.
"""
import json
import sys
from pathlib import Path

s = json.loads((Path(sys.argv[1]) / "summary.json").read_text())
trunks = s["trunks"]
cols = []
for r in s["rows"]:
    c = (r["task"], r["labels_per_class"], r["mode"])
    if c not in cols:
        cols.append(c)


def pct(m, d):
    return f"{100 * m:.2f} ± {100 * d:.2f}"


print(f"Trunks on their own tasks (test, first {s['trunk_train_samples']} training images, "
      f"{s['trunk_epochs']} epochs):\n")
print("| trunk | task | test accuracy % |\n|---|---|---:|")
for r in s["trunk_metrics"]:
    if not r["values"]:
        continue
    print(f"| {r['trunk']} | {r['task']} | {pct(r['mean'], r['std'])} |")

print("\nAccuracy on the new tasks, % (mean ± std over seeds):\n")
print("| new task | labels/class | mode | " + " | ".join(trunks) + " |")
print("|---|---:|---|" + "---:|" * len(trunks))
for task, k, mode in cols:
    cells = []
    rows = {r["trunk"]: r for r in s["rows"]
            if (r["task"], r["labels_per_class"], r["mode"]) == (task, k, mode)}
    best = max(rows.values(), key=lambda r: r["mean"])["trunk"]
    for t in trunks:
        v = pct(rows[t]["mean"], rows[t]["std"])
        cells.append(f"**{v}**" if t == best else v)
    print(f"| {task} | {k} | {mode} | " + " | ".join(cells) + " |")

print("\nMulti-task trunk vs the best single-task trunk (the study layer's verdict):\n")
print("| new task | labels/class | mode | trunk | vs | gain (points) | spread | verdict |")
print("|---|---:|---|---|---|---:|---:|---|")
for g in s["gains"]:
    v = g["verdict"]
    word = {"positive": "better", "negative": "NEGATIVE TRANSFER", "equal": "no difference"}[v["outcome"]]
    if v["uncertain"] and v["outcome"] != "equal":
        word += " (uncertain: indistinguishable)"
    print(f"| {g['task']} | {g['labels_per_class']} | {g['mode']} | {v['arm']} | {v['baseline']} | "
          f"{v['gain_points']:+.2f} | {v['spread_points']:.2f} | {word} |")

print("\nKendall's tau between each score and the accuracy over the trunks (means over seeds):\n")
scores = sorted({t["score"] for t in s["tau"]})
print("| new task | labels/class | mode | " + " | ".join(scores) + " |")
print("|---|---:|---|" + "---:|" * len(scores))
for task, k, mode in cols:
    vals = []
    for sc in scores:
        t = [x for x in s["tau"] if (x["task"], x["labels_per_class"], x["mode"], x["score"]) == (task, k, mode, sc)]
        vals.append("—" if not t or t[0]["kendall_tau"] is None else f"{t[0]['kendall_tau']:+.2f}")
    print(f"| {task} | {k} | {mode} | " + " | ".join(vals) + " |")

c = s["cka"]
print(f"\nLinear CKA between the trunks' `{s['representation']}` ({c['samples']} trunk test images, "
      "mean ± std over seeds):\n")
print("| | " + " | ".join(c["trunks"]) + " |")
print("|---|" + "---:|" * len(c["trunks"]))
for t, row, srow in zip(c["trunks"], c["mean"], c["std"]):
    print(f"| {t} | " + " | ".join(f"{m:.3f} ± {d:.3f}" for m, d in zip(row, srow)) + " |")
print(f"\nwall: {s['wall_seconds']:.0f} s")
