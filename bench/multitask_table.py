"""The multi-task tables of BENCHMARKS.md from `tlkit multitask` study folders.

    python3 bench/multitask_table.py [--prior FILE] [--cpu TIMES | --epoch-times SEED] [--seeds 0,1] [LABEL=]STUDY|SUMMARY.json [...]
    python3 bench/multitask_table.py --sweep [--prior FILE] SWEEP_STUDY BASELINE_STUDY ...

Each task's test accuracy per arm is read from the cells (`<arm>/seed-<s>/result.json`), so a
study still running (or killed) gives the seeds it has finished; the seeds of several folders
are pooled (`--seeds` keeps only those seeds' cells; `LABEL=` before an input names its method
arms `LABEL (arm)`, for studies of other networks). `--prior` adds seeds printed earlier as mean ± std of two seeds (their values are
mean ± std/√2, snapped to the 0.01-point grid of a 10 000-image test set). Rows: mean ±
sample std over seeds, the gain over the task's single-task mean with the study's verdict
rule ("uncertain" when the gain is within the sum of the two stds), and with `--cpu` each
method's CPU seconds per training step over equal weighting's (from the `/usr/bin/time`
lines of bench/multitask_timing.sh), or with `--epoch-times SEED` each arm's epoch time over
equal weighting's in that seed's cells (their `epoch_seconds`, which include the per-epoch
evaluation: the median epoch in cells that a build from commit a3df9f1 on wrote, the mean over
epochs, which a paused epoch moves, in older ones; one seed, so that cells run beside other work can be left out). `--sweep`: one row per branch point of the first
folder's `<method>@<point>` arms, against the single-task arms of all folders.
"""
import json
import math
import re
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

args = sys.argv[1:]
sweep = "--sweep" in args
args = [a for a in args if a != "--sweep"]
prior, cpu = None, None
if "--prior" in args:
    i = args.index("--prior")
    prior = json.loads(Path(args[i + 1]).read_text())
    del args[i : i + 2]
only = None
if "--seeds" in args:
    i = args.index("--seeds")
    only = {int(x) for x in args[i + 1].split(",")}
    del args[i : i + 2]
epoch_times = None
if "--epoch-times" in args:
    i = args.index("--epoch-times")
    epoch_times = int(args[i + 1])
    del args[i : i + 2]
if "--cpu" in args:
    i = args.index("--cpu")
    cpu = Path(args[i + 1]).read_text()
    del args[i : i + 2]
# A `summary.json` (a study's, kept in bench/ after its folder is gone) gives its seeds' values;
# a `config.toml` beside it tells which data set it is.
# `LABEL=PATH` renames that input's method arms to `LABEL (arm)`, so that studies of other
# networks (cross-stitch, MMoE: their arm is also `ew`) get rows of their own.
labels = {}
for i, a in enumerate(args):
    if "=" in a:
        label, a = a.split("=", 1)
        labels[str(Path(a))] = label
        args[i] = a
summaries = [Path(a) for a in args if a.endswith(".json")]
folders = [Path(a) for a in args if not a.endswith(".json")]


def relabel(arm, source):
    label = labels.get(str(source))
    return arm if label is None or arm.startswith("single-") else f"{label} ({arm})"


# The published numbers are MultiMNIST's; other sets get none.
multi_mnist = any(
    'dataset = "multi-mnist"' in c.read_text()
    for c in [f / "config.toml" for f in folders] + [f.parent / "config.toml" for f in summaries]
    if c.exists()
)
METHODS = ["ew", "uw", "dwa", "gradnorm", "pcgrad", "mgda", "cagrad", "mgda_ub"]

# values[arm][task] = {seed: accuracy in %}; seconds[arm] = [epoch seconds of each cell]
values, tasks, order, seconds = {}, [], [], {}


def add(arm, task, seed, v):
    """One cell's test accuracy (a fraction) on one task; a single-task arm counts only for
    its own task."""
    name = "single" if arm.startswith("single-") else arm
    if name not in order:
        order.append(name)
    if task not in tasks:
        tasks.append(task)
    if name != "single" or arm == f"single-{task}":
        values.setdefault(name, {}).setdefault(task, {}).setdefault(seed, 100 * v)


for folder in folders:
    for cell in sorted(folder.glob("*/seed-*/result.json")):
        arm, seed = relabel(cell.parent.parent.name, folder), int(cell.parent.name.split("-")[1])
        if only is not None and seed not in only:
            continue
        result = json.loads(cell.read_text())
        if not arm.startswith("single-") and seed == epoch_times:
            seconds.setdefault(arm, []).append(result["epoch_seconds"])
        for task, v in result["metrics"].items():
            add(arm, task, seed, v)
for summary in summaries:
    study = json.loads(summary.read_text())
    for t in study["tasks"]:
        for row in t["rows"]:
            for seed, v in zip(study["seeds"], row["values"]):
                if only is None or seed in only:
                    add(relabel(row["arm"], summary), t["task"], seed, v)
if prior:
    for arm, per_task in prior["arms"].items():
        for task, (mean, std) in per_task.items():
            half = std / math.sqrt(2)
            for seed, v in zip(prior["seeds"], (mean - half, mean + half)):
                values.setdefault(arm, {}).setdefault(task, {}).setdefault(seed, round(v, 2))
        if arm not in order:
            order.append(arm)


def stats(xs):
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


def cell(arm, task):
    xs = list(values.get(arm, {}).get(task, {}).values())
    return (stats(xs), len(xs)) if xs else (None, 0)


def gain(arm, task):
    (m, s), _ = cell(arm, task)
    (bm, bs), _ = cell("single", task)
    g = m - bm
    word = "NEGATIVE TRANSFER" if g < 0 else "positive"
    if cell(arm, task)[1] == 1:
        word += ", one seed: spread unknown"
    elif abs(g) <= s + bs and g != 0:
        word += ", uncertain"
    return f"{task} {g:+.2f} ({word})"


def per_step(text):
    """CPU seconds (user + sys) per training step of each method over equal weighting's:
    each line `<method> <wall> wall <user> user <sys> sys` ran 20 steps, and
    `fixed-ew-1step` one step (data, network, evaluation: the fixed part)."""
    t = {}
    for line in text.splitlines():
        m = re.match(r"(\S+) ([\d.]+) wall ([\d.]+) user ([\d.]+) sys", line)
        if m:
            t[m.group(1)] = float(m.group(3)) + float(m.group(4))
    fixed = t.pop("fixed-ew-1step")
    steps = {k: (v - fixed) / 19 for k, v in t.items()}
    return steps


def fmt(arm, task):
    st, n = cell(arm, task)
    if st is None:
        return "—"
    # One seed has no spread to show.
    return f"{st[0]:.2f}" if n == 1 else f"{st[0]:.2f} ± {st[1]:.2f}"


if sweep:
    summary = folders[0] / "summary.json"
    shared = {}
    if summary.exists():
        for r in json.loads(summary.read_text()).get("branch", []):
            shared[r["arm"]] = (r["shared_params"], r["params"])
    print("| branch point (shared up to) | seeds | " + " | ".join(f"{t} %" for t in tasks)
          + " | gain over single-task (points) | shared / all parameters |")
    print("|---|---:|" + "---:|" * len(tasks) + "---|---:|")
    print("| single-task (each alone) | " + str(cell("single", tasks[0])[1]) + " | "
          + " | ".join(fmt("single", t) for t in tasks) + " | — | — |")
    sweep_arms = [a for a in order if "@" in a]
    full = sweep_arms[0].split("@")[0] if sweep_arms else "ew"
    for arm in sweep_arms + [full]:
        n = cell(arm, tasks[0])[1]
        p = shared.get(arm)
        label = arm if "@" in arm else f"{arm} (all shared: the `{arm}` arm)"
        print(f"| {label} | {n} | " + " | ".join(fmt(arm, t) for t in tasks) + " | "
              + "; ".join(gain(arm, t) for t in tasks) + " | "
              + (f"{p[0]:,} / {p[1]:,}".replace(",", " ") if p else "—") + " |")
    sys.exit()

steps = per_step(cpu) if cpu else {}
if epoch_times is not None:
    steps = {arm: sum(xs) / len(xs) for arm, xs in seconds.items()}
print("| arm | " + " | ".join(f"{t} %" for t in tasks)
      + " | gain over single-task (points) | "
      + (f"epoch time vs ew (seed {epoch_times})" if epoch_times is not None else "time per step vs ew") + " | published (100 epochs) |")
print("|---|" + "---:|" * len(tasks) + "---|---:|---|")
arms = [a for a in METHODS if a in order] + [
    a for a in order if a not in METHODS and a != "single" and "@" not in a
]
for arm in ["single"] + arms:
    gains = "—" if arm == "single" else "; ".join(gain(arm, t) for t in tasks)
    ratio = f"{steps[arm] / steps['ew']:.2f}×" if arm in steps and "ew" in steps else "—"
    name = "single-task (each alone)" if arm == "single" else arm
    n, n0 = cell(arm, tasks[0])[1], cell("single", tasks[0])[1]
    if n != n0:
        name += f" ({n} seed{'s' if n > 1 else ''})"
    print(f"| {name} | " + " | ".join(fmt(arm, t) for t in tasks)
          + f" | {gains} | {ratio} | {PUBLISHED.get(arm, '—') if multi_mnist else '—'} |")
