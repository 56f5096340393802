#!/usr/bin/env python3
"""Target accuracy of MNIST-M-style test images by the brightness of their photo patch.

Each MNIST-M-style image is |patch - digit| per channel, so where the digit has no ink the
image shows the patch itself. This script takes the plain MNIST test digits (the exported
source test set, which holds the same digits in the same order as the target test set), reads
each patch's mean brightness off the pixels outside the strokes, and prints, for fixed
brightness bins, the share of test images in the bin and each model's accuracy there. A bright
patch turns the digit into dark strokes on a light ground: the opposite polarity of MNIST.

    tlkit adapt examples/adapt-mnist-mnistm/ganin.toml --export-data /tmp/ganin-data
    bench/.venv/bin/python bench/dann_reference.py --data /tmp/ganin-data --method dann \\
        --predictions /tmp/dann.npz
    bench/.venv/bin/python bench/mnistm_breakdown.py --data /tmp/ganin-data dann=/tmp/dann.npz

A model may also be a tlkit run's `<method>/seed-<n>/target_predictions.csv` (same seed and
blend as the export, so that the target test images are the same).
"""

import argparse

import numpy as np

BINS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0001]


def patch_brightness(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """(mean patch brightness per target test image, labels)."""
    src, tgt = np.load(f"{folder}/source_test.npz"), np.load(f"{folder}/target_test.npz")
    if not np.array_equal(src["y"], tgt["y"]):
        raise SystemExit(f"{folder}: source and target test sets are not the same digits in order")
    ground = src["x"][:, :1] == 0  # pixels without ink
    x = tgt["x"]
    patch = (x * ground).sum((2, 3)) / np.maximum(ground.sum((2, 3)), 1)
    return patch.mean(1), tgt["y"]


def load_predictions(path: str) -> dict[str, np.ndarray]:
    """{"y": labels, "pred": predictions} from an .npz of dann_reference.py or a tlkit .csv."""
    if path.endswith(".csv"):
        rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
        return {"y": rows[:, 1], "pred": rows[:, 2]}
    return dict(np.load(path))


def top_classes(pred: np.ndarray, k: int = 2) -> str:
    """The k classes predicted most often, with their share: "3 87%, 8 8%"."""
    if len(pred) == 0:
        return ""
    share = 100 * np.bincount(pred, minlength=10) / len(pred)
    return ", ".join(f"{c} {share[c]:.0f}%" for c in np.argsort(-share, kind="stable")[:k])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="folder written by `tlkit adapt --export-data`")
    p.add_argument(
        "models",
        nargs="+",
        help="NAME=predictions.npz (dann_reference.py) or NAME=target_predictions.csv (tlkit adapt)",
    )
    p.add_argument(
        "--classes",
        action="store_true",
        help="also print, per model and bin, the classes it predicts most often (collapse check)",
    )
    args = p.parse_args()
    bright, y = patch_brightness(args.data)
    bins = np.digitize(bright, BINS[1:-1])
    labels = [f"{lo:.1f}-{min(hi, 1.0):.1f}" for lo, hi in zip(BINS, BINS[1:])]
    print("| patch brightness | " + " | ".join(labels) + " | all |")
    print("|---" * (len(labels) + 2) + "|")
    share = [100 * np.mean(bins == b) for b in range(len(labels))]
    print("| share of test images (%) | " + " | ".join(f"{s:.1f}" for s in share) + " | 100 |")
    for spec in args.models:
        name, path = spec.split("=", 1)
        pred = load_predictions(path)
        if not np.array_equal(pred["y"], y):
            raise SystemExit(f"{path}: predictions are not for {args.data}'s target test set")
        ok = pred["pred"] == y
        accs = [100 * ok[bins == b].mean() if np.any(bins == b) else float("nan") for b in range(len(labels))]
        print(f"| {name} (%) | " + " | ".join(f"{a:.1f}" for a in accs) + f" | {100 * ok.mean():.2f} |")
        if args.classes:
            print(f"| {name}: most predicted | " + " | ".join(top_classes(pred["pred"][bins == b]) for b in range(len(labels))) + f" | {top_classes(pred['pred'])} |")


if __name__ == "__main__":
    main()
