#!/usr/bin/env python3
"""Tables for BENCHMARKS.md from the run folders bench/continual.sh writes.

    python3 bench/continual_table.py runs/continual-bench
"""
import json
import pathlib
import sys

# Hsu et al. 2018, "Re-evaluating Continual Learning Scenarios", Split MNIST table
# (task / domain / class-incremental accuracy %, see shared REFERENCES.md).
HSU = {
    "naive": (93.46, 55.16, 19.71),
    "ewc": (97.70, 58.85, 19.80),
    "online_ewc": (98.04, 57.33, 19.77),
    "si": (98.56, 64.76, 19.67),
    "lwf": (99.60, 71.02, 24.17),
    "replay": (99.40, 95.16, 90.78),
    "joint": (99.52, 98.59, 97.53),
}
SCEN = ["task", "domain", "class"]


def mean_std(v):
    if not v or any(x is None for x in v):
        return None, None
    m = sum(v) / len(v)
    var = sum((x - m) ** 2 for x in v) / (len(v) - 1) if len(v) > 1 else 0.0
    return m, var**0.5


def runs(root):
    """Summaries by (benchmark, method, scenario); runs of the same cell with other seeds
    (e.g. `--seeds 1` and `--seeds 2` run in parallel) are merged."""
    out = {}
    for s in sorted(pathlib.Path(root).glob("*/*/summary.json")):
        d = json.loads(s.read_text())
        key = (s.parent.parent.name, d["method"], d["scenario"])
        if key in out:
            have = {x["seed"] for x in out[key]["seeds"]}
            out[key]["seeds"] += [x for x in d["seeds"] if x["seed"] not in have]
            out[key]["wall_seconds"] += d["wall_seconds"]
        else:
            out[key] = d
    for d in out.values():
        seeds = sorted(d["seeds"], key=lambda x: x["seed"])
        d["seeds"] = seeds
        for k in ["acc", "bwt", "fwt"]:
            d[f"{k}_mean"], d[f"{k}_std"] = mean_std([x[k] for x in seeds])
    return out


def pm(m, s, n=2):
    if m is None:
        return "n/a"
    return f"{100 * m:.2f}" if n < 2 else f"{100 * m:.2f} ± {100 * s:.2f}"


def main():
    r = runs(sys.argv[1] if len(sys.argv) > 1 else "runs/continual-bench")
    print("| method | " + " | ".join(f"{s}-IL ours | {s}-IL Hsu" for s in SCEN) + " |")
    print("|---|" + "---:|---:|" * 3)
    for m in list(HSU) + ["pnn"]:
        cells = []
        for i, s in enumerate(SCEN):
            d = r.get(("split-mnist", m, s))
            cells.append(pm(d["acc_mean"], d["acc_std"]) if d else "—")
            cells.append(f"{HSU[m][i]:.2f}" if m in HSU else "—")
        print(f"| {m} | " + " | ".join(cells) + " |")
    print()
    print("| benchmark | scenario | method | ACC % | BWT (points) | FWT (points) | seeds | wall s |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for (b, m, s), d in sorted(r.items()):
        n = len(d["seeds"])
        print(
            f"| {b} | {s} | {m} | {pm(d['acc_mean'], d['acc_std'], n)} | {pm(d['bwt_mean'], d['bwt_std'], n)} "
            f"| {pm(d['fwt_mean'], d['fwt_std'], n)} | {n} | {d['wall_seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
