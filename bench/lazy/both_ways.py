#!/usr/bin/env python3
"""Eager and deferred transforms give the same numbers through the binary.

    python3 bench/lazy/both_ways.py EAGER_TLKIT DEFERRED_TLKIT

Runs, with each binary, fixed-seed runs whose data have transforms (which
scripts/same_numbers.py's configs do not): `tlkit train` of LeNet on optdigits resized to 28×28
(2 epochs), and `tlkit finetune` of mlp-optdigits.toml's MLP on 5 images per class with a
`standardize` + `normalize` chain, against scratch. Compares every epoch record (wall times left
out) and every summary number; prints the differences and exits 1 if there are any.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SKIP = ("seconds", "peak_memory", "wall")


def leaves(obj, prefix=""):
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(leaves(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(leaves(v, f"{prefix}{i}."))
        return out
    return {prefix.rstrip("."): obj}


def name(tree: Path, f: Path):
    """`f` under `tree` without its dated run folder: lenet/metrics.jsonl."""
    parts = f.relative_to(tree).parts
    return "/".join(parts[:1] + parts[2:])


def numbers(tree: Path):
    out = {}
    for f in sorted(tree.rglob("metrics.jsonl")):
        for i, line in enumerate(f.read_text().splitlines()):
            for k, v in leaves(json.loads(line)).items():
                out[f"{name(tree, f)}:{i}:{k}"] = v
    for f in sorted(tree.rglob("summary.json")):
        for k, v in leaves(json.loads(f.read_text())).items():
            out[f"{name(tree, f)}:{k}"] = v
    return {k: v for k, v in out.items() if not any(s in k for s in SKIP)}


def run_all(exe: str, work: Path):
    def tlkit(*args):
        print("+", exe, *map(str, args), file=sys.stderr, flush=True)
        subprocess.run([exe, *map(str, args)], check=True, cwd=work, stdout=subprocess.DEVNULL)

    cfg = ROOT / "crates/tlkit/configs/zoo/lenet-optdigits.toml"
    tlkit("train", cfg, "--epochs", 2, "--out", work / "lenet", "--quiet")
    tlkit("train", ROOT / "scripts/same-numbers/mlp-optdigits.toml", "--out", work / "mlp", "--quiet")
    mlp = next(p for p in (work / "mlp").iterdir() if p.is_dir())
    ft = (ROOT / "scripts/same-numbers/finetune-digits.toml").read_text()
    ft = ft.replace("@PRETRAINED@", str(mlp)).replace(
        "train_per_class = 5",
        'train_per_class = 5\ntransforms = [{ op = "standardize" }, '
        '{ op = "normalize", mean = [0.1], std = [0.9] }]')
    (work / "finetune.toml").write_text(ft)
    tlkit("finetune", work / "finetune.toml", "--out", work / "finetune")
    return numbers(work)


def main():
    eager_exe, deferred_exe = (str(Path(p).resolve()) for p in sys.argv[1:3])
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        eager = run_all(eager_exe, Path(a))
        deferred = run_all(deferred_exe, Path(b))
    keys = sorted(set(eager) | set(deferred))
    diff = [k for k in keys if eager.get(k) != deferred.get(k)]
    for k in diff:
        print(f"DIFFERENT {k}: {eager.get(k)} vs {deferred.get(k)}")
    print(f"{len(keys) - len(diff)} same, {len(diff)} different")
    sys.exit(1 if diff or not keys else 0)


if __name__ == "__main__":
    main()
