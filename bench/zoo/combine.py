"""Adds candidates fine-tuned in another report folder (their per-seed result.json, possibly
from a report stopped before its summary) and scored by `tlkit score --json` to a report's
summary.json, and recomputes the verdicts' rule and the rank correlations over all of them with
scipy (kendalltau = tlkit's τ-b, weightedtau's defaults = tlkit's weighted τ; both golden-tested
against scipy in crates/tlkit/src/measure/rank.rs). Prints the candidates that were
left out (no finished seed).

    python3 bench/zoo/combine.py SUMMARY.json OTHER_REPORT_DIR SCORES.json > combined.json
"""
import json
import pathlib
import statistics
import sys

from scipy.stats import kendalltau, weightedtau

summary = json.load(open(sys.argv[1]))
other = pathlib.Path(sys.argv[2])
scored = {r["model"]: r for r in json.load(open(sys.argv[3]))}
seeds = summary["seeds"]
sc = summary["scratch"]
for name, row in scored.items():
    runs = [json.load(open(p)) for s in seeds
            if (p := other / name / f"seed-{s}" / "result.json").is_file()]
    if len(runs) < len(seeds):
        print(f"{name}: {len(runs)} of {len(seeds)} seeds finished; left out", file=sys.stderr)
        continue
    acc = [r["accuracy"] for r in runs]
    mean, std = statistics.mean(acc), statistics.stdev(acc)
    gain, spread = 100 * (mean - sc["mean"]), 100 * (std + sc["std"])
    outcome = "positive" if gain > 0 else "negative" if gain < 0 else "equal"
    summary["candidates"].append({
        "name": name, "model": name, "layer": row["layer"], "scores": row["scores"],
        "score_seconds": row["seconds"],
        "finetune_seconds": statistics.mean(r.get("seconds", 0.0) for r in runs),
        "finetuned": {"arm": name, "values": acc, "mean": mean, "std": std},
        "verdict": {"gain_points": gain, "spread_points": spread, "outcome": outcome,
                    "uncertain": abs(gain) <= spread},
    })
for a in summary["rank_agreement"]:
    pairs = [(c["scores"].get(a["score"]), c["finetuned"]["mean"])
             for c in summary["candidates"]]
    pairs = [(x, y) for x, y in pairs if x is not None]
    xs, ys = zip(*pairs)
    a["candidates"] = len(pairs)
    a["kendall_tau"] = float(kendalltau(xs, ys).statistic)
    a["weighted_tau"] = float(weightedtau(xs, ys).statistic)
json.dump(summary, sys.stdout, indent=1)
