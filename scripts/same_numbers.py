#!/usr/bin/env python3
"""Same numbers before and after a refactor.

Runs short fixed-seed runs of every method family through the `tlkit` binary and collects their
numbers: every epoch of every trainer run (`metrics.jsonl`, wall times left out) and each study's
final metrics (`summary.json`). `record` writes them to a JSON file; `compare` runs again and
reports every number that differs from a recorded file.

    python3 scripts/same_numbers.py record bench/results/same-numbers/baseline.json
    python3 scripts/same_numbers.py compare bench/results/same-numbers/baseline.json

TLKIT (default target/debug/tlkit) names the binary; TLKIT_HOME the dataset cache (MNIST must be
fetched: `tlkit data fetch mnist`). The runs take a few minutes on 2 cores.

Trainer runs are matched by their epoch sequences, not by folder names (a refactor may lay the
folders out differently); study metrics by the names `extract_*` gives them.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "scripts" / "same-numbers"


def tlkit(*args, cwd=None):
    exe = os.environ.get("TLKIT", str(ROOT / "target" / "debug" / "tlkit"))
    cmd = [exe, *map(str, args)]
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def only_child(folder: Path) -> Path:
    kids = [p for p in folder.iterdir() if p.is_dir()]
    if len(kids) != 1:
        sys.exit(f"expected one run folder in {folder}, found {[k.name for k in kids]}")
    return kids[0]


def epochs(tree: Path):
    """Every metrics.jsonl under `tree` as a list of epoch records without wall times."""
    out = []
    for f in sorted(tree.rglob("metrics.jsonl")):
        rows = []
        for line in f.read_text().splitlines():
            r = json.loads(line)
            r.pop("seconds", None)
            rows.append(r)
        out.append({"file": str(f.relative_to(tree)), "epochs": rows})
    return out


def leaves(obj, prefix=""):
    """Numeric leaves of a JSON value as {dotted.path: number}."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(leaves(v, f"{prefix}{k}."))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(leaves(v, f"{prefix}{i}."))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = obj
    return out


SKIP = ("wall_seconds", "seconds", "time", "elapsed", "memory")


def summary_numbers(run: Path):
    s = json.loads((run / "summary.json").read_text())
    return {k: v for k, v in leaves(s).items() if not any(w in k for w in SKIP)}


def collect(work: Path):
    runs = {}
    # train: the embedded-optdigits MLP (the old demo's config) and LeNet on 2000 MNIST images.
    tlkit("train", HERE / "mlp-optdigits.toml", "--out", work / "mlp", "--quiet")
    tlkit("train", HERE / "lenet-mnist.toml", "--out", work / "lenet", "--quiet")
    mlp_run = only_child(work / "mlp")
    runs["train/mlp-optdigits"] = mlp_run
    runs["train/lenet-mnist"] = only_child(work / "lenet")
    # finetune with a scratch baseline: the MLP above re-used on 5 images per class.
    cfg = (HERE / "finetune-digits.toml").read_text().replace("@PRETRAINED@", str(mlp_run))
    (work / "finetune.toml").write_text(cfg)
    tlkit("finetune", work / "finetune.toml", "--out", work / "finetune")
    runs["finetune/digits"] = only_child(work / "finetune")
    # adapt: source-only and DANN, MNIST -> optdigits, a short budget.
    tlkit("adapt", HERE / "adapt-mnist-optdigits.toml", "--out", work / "adapt", "--quiet")
    runs["adapt/mnist-optdigits"] = only_child(work / "adapt")
    # continual: EWC and progressive networks on the embedded split-optdigits stream.
    for m in ("ewc", "pnn"):
        tlkit("continual", HERE / f"continual-{m}.toml", "--out", work / m)
        runs[f"continual/{m}"] = only_child(work / m)
    return {
        name: {"summary": summary_numbers(run), "runs": epochs(run)}
        for name, run in runs.items()
    }


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def compare(old, new):
    bad = 0
    for study, o in old.items():
        n = new.get(study)
        if n is None:
            print(f"MISSING study {study}")
            bad += 1
            continue
        for k, v in o["summary"].items():
            if k not in n["summary"]:
                print(f"{study}: summary.{k} missing (was {v})")
                bad += 1
            elif not same(v, n["summary"][k]):
                print(f"{study}: summary.{k} {v} -> {n['summary'][k]}")
                bad += 1
        new_runs = [json.dumps(r["epochs"], sort_keys=True) for r in n["runs"]]
        for r in o["runs"]:
            key = json.dumps(r["epochs"], sort_keys=True)
            if key in new_runs:
                new_runs.remove(key)
            else:
                print(f"{study}: the epochs of {r['file']} are not found among the new runs")
                bad += 1
    checked = sum(len(o["summary"]) + len(o["runs"]) for o in old.values())
    print(f"{checked - bad} same, {bad} different")
    return bad


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "compare"):
        sys.exit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        numbers = collect(Path(tmp))
    path = Path(sys.argv[2])
    if sys.argv[1] == "record":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")
    else:
        sys.exit(1 if compare(json.loads(path.read_text()), numbers) else 0)


if __name__ == "__main__":
    main()
