#!/usr/bin/env python3
"""Merges the summary.json of several `tlkit adapt` runs (one seed each, say, run side by side)
into one BENCHMARKS.md table: target accuracy per seed, mean ± sample std, gain over source-only,
source test accuracy, proxy A-distance and training seconds.

    python3 bench/adapt_table.py runs/ganin-s0/*/summary.json runs/ganin-s1/*/summary.json ...
"""
import json
import statistics
import sys


def mean_std(xs):
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def main(paths):
    methods = {}
    order = []
    for path in paths:
        with open(path) as f:
            summary = json.load(f)
        for seed_pos, seed in enumerate(summary["seeds"]):
            for m in summary["methods"]:
                name = m["method"]
                if name not in methods:
                    methods[name] = {"seeds": [], "target": [], "source": [], "seconds": [],
                                     "pad": [], "curves": []}
                    order.append(name)
                row = methods[name]
                row["seeds"].append(seed)
                row["target"].append(100 * m["target_accuracy"][seed_pos])
                row["source"].append(100 * m["source_accuracy"][seed_pos])
                row["seconds"].append(m["seconds"][seed_pos])
                if seed_pos == 0:
                    if m.get("proxy_a_distance") is not None:
                        row["pad"].append((seed, m["proxy_a_distance"]))
                    # A file's curve is the mean over its seeds: weigh it by their number.
                    row["curves"] += [m["target_curve"]] * len(summary["seeds"])
    base = None
    if "source_only" in methods:
        base = mean_std(methods["source_only"]["target"])[0]
    print("| method | target accuracy per seed | **target mean ± std** | gain over source-only "
          "| source test accuracy (mean) | proxy A-distance | training seconds per seed |")
    print("|---|---|---|---|---|---|---|")
    for name in order:
        row = methods[name]
        pairs = sorted(zip(row["seeds"], row["target"], row["seconds"]))
        mean, std = mean_std(row["target"])
        gain = "" if base is None or name == "source_only" else f"{mean - base:+.2f}"
        pad = ", ".join(f"{v:.3f} (seed {s})" for s, v in sorted(row["pad"]))
        print(f"| {name} | {', '.join(f'{t:.2f}' for _, t, _ in pairs)} "
              f"| **{mean:.2f} ± {std:.2f}** | {gain} | {statistics.mean(row['source']):.2f} "
              f"| {pad} | {', '.join(f'{s:.0f}' for _, _, s in pairs)} |")
    print()
    for name in order:
        curves = methods[name]["curves"]
        epochs = min(len(c) for c in curves)
        mean_curve = [100 * statistics.mean(c[e] for c in curves) for e in range(epochs)]
        print(f"{name}: target accuracy per epoch (mean over seeds): "
              + " → ".join(f"{v:.1f}" for v in mean_curve))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
