#!/usr/bin/env bash
# Side-by-side training throughput and peak memory: PyTorch (CPU) against tlkit, same networks,
# same batch sizes, same number of threads. Prints a markdown table on stdout; progress and
# warnings go to stderr.
#
#   bash bench/setup.sh                                          # once: bench/.venv with torch
#   cargo build --release -p tlkit --example bench_train         # the tlkit side
#   bash bench/run.sh
#
# Environment (defaults in brackets):
#   STEPS [200] timed steps, WARMUP [20] untimed steps before them, THREADS [2] compute threads,
#   MODELS ["mlp lenet"] (also: ganin ganin-dann, the domain-adaptation network of
#   examples/adapt-mnist-mnistm/ganin.toml without and with its DANN term; effnet112,
#   EfficientNet-Lite0 on 3x112x112 with every layer trained), MLP_BATCH [128],
#   LENET_BATCH [64], GANIN_BATCH [64] (source rows; ganin-dann adds as many target rows),
#   EFFNET_BATCH [32],
#   SIDES ["pytorch tlkit"]: drop one to measure the other alone,
#   CONVS ["own"]: tlkit's convolution kernels, one tlkit run per entry (TLKIT_CONV=own|burn;
#   "burn own" measures both in the same run, each with its own columns),
#   TLKIT_BIN [target/release/examples/bench_train],
#   TLKIT_POOL [caller]: tlkit's compute threads, passed on to bench_train (caller: its main
#   thread is one of them and the others spin between operations; rayon: rayon's own pool,
#   whose threads sleep between operations; the header says which),
#   DEVICE [cpu]: tlkit's --device (cuda or wgpu need a build with that feature),
#   TORCH_DEVICE [cpu, or cuda when DEVICE is a GPU]: PyTorch's; bench/gpu.sh sets both, and
#   MALLOC [same]: the C allocator's setting. `same` gives both sides what the tlkit binary sets
#   for itself (backend::keep_freed_buffers: glibc's mmap and trim thresholds at 256 MiB, so large
#   freed buffers stay in the heap for the next step); PyTorch gets it through GLIBC_TUNABLES,
#   since its CPU tensors come from glibc's malloc too. `system` runs both with glibc's defaults
#   (TLKIT_MALLOC=system for tlkit). A benchmark process that loads no dataset first leaves
#   glibc's dynamic thresholds low, and with the defaults both sides then unmap and map their
#   buffers every step (BENCHMARKS.md, "The allocator setting moves into the binary").
#
# Both sides print one JSON line {"framework", "model", "batch", "samples_per_s", "steps", ...};
# peak RSS is the "Maximum resident set size" of /usr/bin/time -v around the whole process
# (so it includes the interpreter, the libraries and the data, for both sides alike).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STEPS="${STEPS:-200}"
WARMUP="${WARMUP:-20}"
THREADS="${THREADS:-2}"
MODELS="${MODELS:-mlp lenet}"
MLP_BATCH="${MLP_BATCH:-128}"
LENET_BATCH="${LENET_BATCH:-64}"
GANIN_BATCH="${GANIN_BATCH:-64}"
EFFNET_BATCH="${EFFNET_BATCH:-32}"
SIDES="${SIDES:-pytorch tlkit}"
CONVS="${CONVS:-own}"
MALLOC="${MALLOC:-same}"
DEVICE="${DEVICE:-cpu}"
if [[ "$DEVICE" == cpu ]]; then TORCH_DEVICE="${TORCH_DEVICE:-cpu}"; else TORCH_DEVICE="${TORCH_DEVICE:-cuda}"; fi

python="$root/bench/.venv/bin/python"
tlkit_bin="${TLKIT_BIN:-$root/target/release/examples/bench_train}"

die() { echo "bench/run.sh: $*" >&2; exit 1; }
wants() { [[ " $SIDES " == *" $1 "* ]]; }

[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing; install it with: apt-get install -y time"
[[ -x "$python" ]] || die "$python is missing; run: bash bench/setup.sh"
if wants tlkit && [[ ! -x "$tlkit_bin" ]]; then
    die "$tlkit_bin is missing; build it with: cargo build --release -p tlkit --example bench_train (or run with SIDES=pytorch)"
fi

# Pin every thread pool both sides may use; also pin the processes to THREADS cores when the
# machine has more, so that neither side spreads out further than the other.
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" RAYON_NUM_THREADS="$THREADS"
pin=()
if command -v taskset >/dev/null && (( $(nproc) > THREADS )); then
    pin=(taskset -c "0-$((THREADS - 1))")
fi

busy="$(pgrep -c rustc || true)"
if (( busy > 0 )); then
    echo "bench/run.sh: warning: $busy rustc process(es) running; numbers will be noisy" >&2
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# measure NAME CMD...: runs CMD under /usr/bin/time -v; leaves NAME.json and NAME.time in $tmp.
measure() {
    local name="$1"
    shift
    echo "bench/run.sh: $name: $*" >&2
    if ! /usr/bin/time -v -o "$tmp/$name.time" "${pin[@]}" "$@" >"$tmp/$name.out"; then
        cat "$tmp/$name.time" >&2 || true
        die "$name failed: $*"
    fi
    grep '^{' "$tmp/$name.out" | tail -n 1 >"$tmp/$name.json" ||
        die "$name printed no JSON line; its output was: $(cat "$tmp/$name.out")"
}

# The thresholds match backend::keep_freed_buffers (crates/tlkit/src/backend.rs).
same_tunables="glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=268435456"
case "$MALLOC" in
    same) torch_malloc=(GLIBC_TUNABLES="$same_tunables") tlkit_malloc=() ;;
    system) torch_malloc=() tlkit_malloc=(TLKIT_MALLOC=system) ;;
    *) die "MALLOC must be same or system, not '$MALLOC'" ;;
esac
if [[ -n "${GLIBC_TUNABLES:-}" ]]; then
    die "GLIBC_TUNABLES is set ($GLIBC_TUNABLES); unset it and choose with MALLOC=same|system"
fi

for model in $MODELS; do
    case "$model" in
        mlp) batch="$MLP_BATCH" ;;
        lenet) batch="$LENET_BATCH" ;;
        ganin | ganin-dann) batch="$GANIN_BATCH" ;;
        effnet112) batch="$EFFNET_BATCH" ;;
        *) die "unknown model '$model'; known: mlp lenet ganin ganin-dann effnet112" ;;
    esac
    args=(--model "$model" --batch "$batch" --steps "$STEPS" --warmup "$WARMUP")
    if wants pytorch; then
        measure "pytorch-$model" env "${torch_malloc[@]}" "$python" "$root/bench/pytorch_train.py" "${args[@]}" \
            --threads "$THREADS" --data random --device "$TORCH_DEVICE"
    fi
    if wants tlkit; then
        for conv in $CONVS; do
            measure "tlkit-$conv-$model" env TLKIT_CONV="$conv" "${tlkit_malloc[@]}" "$tlkit_bin" "${args[@]}" \
                --device "$DEVICE"
        done
    fi
done

"$python" - "$tmp" "$MODELS" "$STEPS" "$WARMUP" "$THREADS" "$busy" "$CONVS" "$DEVICE" "$TORCH_DEVICE" "$MALLOC" <<'PY'
import json, os, platform, subprocess, sys

tmp, models, steps, warmup, threads, busy, convs, device, torch_device, malloc = sys.argv[1:]
convs = convs.split()

def load(name):
    path = os.path.join(tmp, name)
    if not os.path.exists(path + ".json"):
        return None
    with open(path + ".json") as f:
        out = json.loads(f.read())
    with open(path + ".time") as f:
        for line in f:
            if "Maximum resident set size" in line:
                out["rss_mib"] = int(line.split(":")[1]) / 1024
    return out

def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"

fmt = lambda v, spec: "-" if v is None else format(v, spec)
rows = []
torch_version = None
pools = set()
for model in models.split():
    pt = load(f"pytorch-{model}")
    tls = [load(f"tlkit-{conv}-{model}") for conv in convs]
    pools.update(tl["pool"] for tl in tls if tl and "pool" in tl)
    torch_version = torch_version or (pt or {}).get("version")
    batch = (pt or next((t for t in tls if t), None) or {}).get("batch")
    pts = pt and pt["samples_per_s"]
    cells = []
    for tl in tls:
        speed = tl and tl["samples_per_s"]
        ratio = speed / pts if pts and speed else None
        cells.append(f"{fmt(speed, '.0f')} | {fmt(ratio, '.2f')}")
    rss = " | ".join(fmt(tl and tl.get("rss_mib"), ".0f") for tl in tls)
    rows.append(
        f"| {model} | {batch} | {fmt(pts, '.0f')} | {' | '.join(cells)} "
        f"| {fmt(pt and pt.get('rss_mib'), '.0f')} | {rss} |"
    )

def gpu():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return out.splitlines()[0] if out else "unknown GPU"
    except (OSError, subprocess.CalledProcessError):
        return "unknown GPU"

if device != "cpu" or torch_device != "cpu":
    print(f"GPU: {gpu()}; tlkit --device {device}, PyTorch --device {torch_device}")
malloc = {"same": "malloc: both sides keep freed buffers (mmap/trim thresholds 256 MiB)",
          "system": "malloc: glibc's defaults on both sides"}[malloc]
print(f"CPU: {cpu()}; threads: {threads}; steps: {steps} timed after {warmup} warm-up; "
      f"torch {torch_version or '-'}; random data; {malloc}"
      + (f"; tlkit's compute threads: {', '.join(sorted(pools))} (TLKIT_POOL)" if pools else "")
      + (f"; {busy} rustc running (noisy)" if busy != "0" else ""))
print()
speed_cols = " | ".join(f"tlkit ({c}) samples/s | tlkit ({c})/pytorch" for c in convs)
rss_cols = " | ".join(f"tlkit ({c}) peak RSS (MiB)" for c in convs)
print(f"| model | batch | pytorch samples/s | {speed_cols} | pytorch peak RSS (MiB) | {rss_cols} |")
print("|---|---:|---:|" + "---:|---:|" * len(convs) + "---:|" + "---:|" * len(convs))
print("\n".join(rows))
PY
