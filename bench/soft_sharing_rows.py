"""The cross-stitch and MMoE rows of BENCHMARKS.md's MultiMNIST table.

    python3 bench/soft_sharing_rows.py runs/multitask-multi-mnist-<time> \
        runs/multitask-multi-mnist-cross-stitch-<time> runs/multitask-multi-mnist-mmoe-<time>

The first folder is a hard-sharing study with the single-task arms and `ew` over the same
seeds; every later folder is one soft-sharing network trained with `ew`. Prints one markdown
row per folder: each task's test accuracy (mean ± sample std over seeds), the gain over the
task's single-task arm by the studies' verdict rule (NEGATIVE TRANSFER below it; uncertain
when no larger than the two standard deviations together), and the mean epoch time against
the hard-sharing `ew` arm of the first folder.
"""
import json
import statistics
import sys
from pathlib import Path


def cells(folder, arm):
    """Each seed's result.json of `arm`, in seed order."""
    return [json.loads(p.read_text())
            for p in sorted((Path(folder) / arm).glob("seed-*/result.json"))]


def stats(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


hard, soft = sys.argv[1], sys.argv[2:]
tasks = ["left", "right"]
single = {t: stats([c["metrics"][t] for c in cells(hard, f"single-{t}")]) for t in tasks}
ew_seconds = statistics.mean(c["epoch_seconds"] for c in cells(hard, "ew"))
for folder in [hard] + soft:
    name = json.loads((Path(folder) / "summary.json").read_text())["name"]
    runs = cells(folder, "ew")
    row, gains = [], []
    for t in tasks:
        m, s = stats([c["metrics"][t] for c in runs])
        row.append(f"{100 * m:.2f} ± {100 * s:.2f}")
        gain, spread = 100 * (m - single[t][0]), 100 * (s + single[t][1])
        words = [w for w, on in [("NEGATIVE TRANSFER", gain < 0),
                                 ("uncertain", abs(gain) <= spread)] if on]
        gains.append(f"{t} {gain:+.2f}" + (f" ({', '.join(words)})" if words else ""))
    seconds = statistics.mean(c["epoch_seconds"] for c in runs)
    print(f"| {name} ({len(runs)} seeds) | {row[0]} | {row[1]} | {'; '.join(gains)} "
          f"| {seconds / ew_seconds:.2f}× ({seconds:.1f} s) |")
for t in tasks:
    print(f"single-task {t}: {100 * single[t][0]:.2f} ± {100 * single[t][1]:.2f}")
