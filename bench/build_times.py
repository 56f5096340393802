"""Where a finished build spent its time, read back from a target folder.

    python3 bench/build_times.py TARGET/debug [--top N] [--host-only LIST]

Cargo writes `invoked.timestamp` into a unit's `.fingerprint/<crate>-<hash>/` folder when the unit
starts and its fingerprint files when it ends, so the two times give each unit's wall seconds
after the fact, with no `--timings` flag at build time (a clean-clone CI run, for example). A
build script's run (where C libraries compile) keeps its `invoked.timestamp` in
`build/<crate>-<hash>/` instead, beside the `output` it ends with; those count too.
Prints the build's span, the seconds summed over units (on 2 cores about twice the span when
both are busy), and the crates that took longest, summed over their units. `--host-only` names
a file of crate names (one per line or space-separated): their sum is printed too.
"""
import collections
import sys
from pathlib import Path

args = sys.argv[1:]
if not args or args[0].startswith("-"):
    sys.exit(__doc__)
root = Path(args[0]) / ".fingerprint"
top = int(args[args.index("--top") + 1]) if "--top" in args else 25
host = set()
if "--host-only" in args:
    host = set(Path(args[args.index("--host-only") + 1]).read_text().split())
if not root.is_dir():
    sys.exit(f"{root}: no such folder; give the profile folder of a target, e.g. target/debug")

units = []
for unit in root.iterdir():
    start = unit / "invoked.timestamp"
    if not start.exists():
        continue
    ends = [f.stat().st_mtime for f in unit.iterdir() if f.name != "invoked.timestamp"]
    if ends:
        units.append((unit.name.rsplit("-", 1)[0], start.stat().st_mtime, max(ends)))
for unit in (root.parent / "build").glob("*/invoked.timestamp"):
    ends = [f.stat().st_mtime for f in unit.parent.iterdir() if f.is_file() and f.name != unit.name]
    if ends:
        units.append((unit.parent.name.rsplit("-", 1)[0], unit.stat().st_mtime, max(ends)))
if not units:
    sys.exit(f"{root}: no finished units")

first = min(u[1] for u in units)
last = max(u[2] for u in units)
per_crate = collections.Counter()
for name, t0, t1 in units:
    per_crate[name] += t1 - t0
print(f"{len(units)} units, span {(last - first) / 60:.1f} min, "
      f"summed over units {sum(per_crate.values()) / 60:.1f} min")
if host:
    print(f"named crates ({len(host)}): {sum(v for n, v in per_crate.items() if n in host) / 60:.1f} min")
for name, seconds in per_crate.most_common(top):
    print(f"{seconds:8.1f} s  {name}")
