"""Per-epoch train and test MSE/σ² of one task of the GradNorm toy, tlkit beside PyTorch.

    python3 bench/gradnorm_toy/per_epoch.py TASK STUDY_FOLDER [torch-*.json ...]

STUDY_FOLDER is a `tlkit multitask --benchmark gradnorm-toy[-10]` run folder (every arm and
seed under it; the mean over seeds is printed); each JSON is a `torch_toy.py --json` log. The
train column is the mean minibatch loss of the epoch (as both write it), test the full test
set after the epoch. Epochs 1, 5, 10, 20, 30, 40 and the last.
"""
import json
import statistics
import sys
from pathlib import Path

task = sys.argv[1]
i = int(task[1:])
sig2 = {2: lambda k: [1.0, 1e4][k], 10: lambda k: (100.0 ** (k / 9)) ** 2}
rows = {}


def keep(n):
    marks = [e for e in (1, 5, 10, 20, 30, 40) if e <= n]
    return marks + ([n] if n > 40 else [])


folder = Path(sys.argv[2])
total = (folder / "config.toml").read_text().count("[[tasks]]")
for arm in sorted(p for p in folder.iterdir() if p.is_dir()):
    seeds = sorted(arm.glob("seed-*/metrics.jsonl"))
    if not seeds:
        continue
    logs = [[json.loads(line) for line in s.read_text().splitlines()] for s in seeds]
    if task not in logs[0][0]["tasks"]:
        continue
    s2 = sig2[total](i)
    n = min(len(log) for log in logs)
    for e in keep(n):
        tr = statistics.mean(log[e - 1]["tasks"][task]["train_loss"] / s2 for log in logs)
        te = statistics.mean(log[e - 1]["tasks"][task]["valid_metric"] / s2 for log in logs)
        w = statistics.mean(log[e - 1]["tasks"][task].get("weight", 1.0) for log in logs)
        rows.setdefault(f"tlkit {arm.name} ({len(logs)} seeds)", []).append((e, tr, te, w))
for path in sys.argv[3:]:
    d = json.loads(Path(path).read_text())
    arm = d["args"]["arm"]
    tasks = [int(arm.split(":")[1])] if arm.startswith("single") else list(range(total))
    if i not in tasks:
        continue
    k = tasks.index(i)
    name = f"torch {Path(path).stem.removeprefix('torch-')}"
    for e in keep(len(d["log"])):
        r = d["log"][e - 1]
        rows.setdefault(name, []).append((e, r["train"][k], r["test"][k], r["weights"][k]))
print(f"| arm | " + " | ".join(f"ep {e}" for e in keep(40)) + " | end: weight |")
print("|---|" + "---:|" * len(keep(40)) + "---:|")
for name, r in rows.items():
    by = {e: (tr, te) for e, tr, te, _ in r}
    cells = [f"{by[e][0]:.3f} / {by[e][1]:.3f}" if e in by else "—" for e in keep(40)]
    extra = f" (ep {r[-1][0]}: {r[-1][1]:.3f} / {r[-1][2]:.3f})" if r[-1][0] > 40 else ""
    print(f"| {name} | " + " | ".join(cells) + f" | {r[-1][3]:.3g}{extra} |")
