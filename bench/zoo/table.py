"""Markdown tables of `tlkit transfer-report` summaries (summary.json): every candidate's scores,
fine-tuned accuracy, gain over scratch with its spread and verdict; Kendall τ / weighted τ per
score; and the time to score a candidate against the time to fine-tune it once.

    python3 bench/zoo/table.py reports/zoo-mnist-*/summary.json ...
"""
import json
import sys

NAMES = {"hscore-shrunk": "shrunk H", "hscore": "H-score", "logme": "LogME", "leep": "LEEP",
         "nce": "NCE", "transrate": "TransRate", "logme-icml": "LogME (ICML)"}


def verdict(v):
    word = {"negative": "**NEGATIVE TRANSFER**", "positive": "positive transfer",
            "equal": "no difference"}[v["outcome"]]
    if v["uncertain"] and v["outcome"] != "equal":
        word = "uncertain (" + v["outcome"] + ")"
    return word


def table(s):
    scores = [a["score"] for a in s["rank_agreement"]]
    print(f"### {s['target']}: {s['train_samples']} labelled training images, "
          f"{s['test_samples']} test images, seeds {s['seeds']}, {s['epochs']} epochs per arm\n")
    sc = s["scratch"]
    print(f"Scratch ({s['scratch_model']}): {100 * sc['mean']:.2f}% ± {100 * sc['std']:.2f}, "
          f"{s['scratch_seconds']:.1f} s to train once.\n")
    print("| candidate | layer | " + " | ".join(NAMES.get(x, x) for x in scores)
          + " | fine-tuned | gain (points) | verdict |")
    print("|---|---|" + "---|" * len(scores) + "---|---|---|")
    rows = sorted(s["candidates"], key=lambda c: -c["finetuned"]["mean"])
    for c in rows:
        vals = []
        for x in scores:
            v = c["scores"].get(x)
            vals.append("n/a" if v is None else f"{v:.4f}".replace("-", "−"))
        v = c["verdict"]
        ft = c["finetuned"]
        print(f"| {c['name']} | {c['layer']} | " + " | ".join(vals)
              + f" | {100 * ft['mean']:.2f}% ± {100 * ft['std']:.2f} | "
              f"{v['gain_points']:+.2f} ± {v['spread_points']:.2f}".replace("-", "−")
              + f" | {verdict(v)} |")
    print()
    print("| score | candidates | Kendall τ | weighted τ |")
    print("|---|---|---|---|")
    for a in s["rank_agreement"]:
        t = lambda v: "n/a" if v is None else f"{v:+.2f}".replace("-", "−")
        print(f"| {NAMES.get(a['score'], a['score'])} | {a['candidates']} | "
              f"{t(a['kendall_tau'])} | {t(a['weighted_tau'])} |")
    print()
    print("| candidate | seconds to score (all scores) | seconds to fine-tune once | ratio |")
    print("|---|---|---|---|")
    for c in rows:
        ratio = c["finetune_seconds"] / c["score_seconds"] if c["score_seconds"] > 0 else float("nan")
        print(f"| {c['name']} | {c['score_seconds']:.1f} | {c['finetune_seconds']:.1f} | "
              f"{ratio:.1f}× |")
    print(f"\nWhole report: {s['wall_seconds']:.0f} s wall.\n")


for path in sys.argv[1:]:
    with open(path) as f:
        table(json.load(f))
