# Multi-Fashion+MNIST, 5 epochs on 10 000 images: seed 0 as BENCHMARKS.md printed it (one seed,
# 0.01 grid), seeds 1 and 2 from this study's cells; mean ± sample std, gain over single-task by
# the study's verdict rule (NEGATIVE TRANSFER below zero; uncertain within the summed spreads).
import json, glob, statistics as st, sys
study = sys.argv[1]
seed0 = {"single": (63.27, 54.89), "ew": (37.42, 49.73), "uw": (40.12, 59.84), "dwa": (45.74, 63.39),
         "gradnorm": (59.29, 55.53), "pcgrad": (50.36, 62.28), "mgda": (45.01, 53.21),
         "cagrad": (51.28, 52.58), "mgda_ub": (41.49, 58.45)}
def cell(arm, seed, task):
    d = json.load(open(f"{study}/{arm}/seed-{seed}/result.json"))
    return 100 * d["metrics"][task]
vals = {}
for arm in seed0:
    for i, task in enumerate(("left", "right")):
        src = f"single-{task}" if arm == "single" else arm
        vals[(arm, task)] = [seed0[arm][i]] + [cell(src, s, task) for s in (1, 2)]
def ms(v): return st.mean(v), st.stdev(v)
print("| arm | left % | right % | gain over single-task (points) | seeds 1, 2 (left / right) |")
print("|---|---:|---:|---|---|")
for arm in seed0:
    cols, gains = [], []
    for task in ("left", "right"):
        m, s = ms(vals[(arm, task)])
        cols.append(f"{m:.2f} ± {s:.2f}")
        if arm != "single":
            bm, bs = ms(vals[("single", task)])
            g = m - bm
            w = "NEGATIVE TRANSFER" if g < 0 else "positive"
            if abs(g) <= s + bs: w += ", uncertain"
            gains.append(f"{task} {g:+.2f} ({w})")
    s12 = " / ".join(", ".join(f"{v:.2f}" for v in vals[(arm, t)][1:]) for t in ("left", "right"))
    print(f"| {'single-task (each alone)' if arm == 'single' else arm} | {cols[0]} | {cols[1]} | {'; '.join(gains) or '—'} | {s12} |")
