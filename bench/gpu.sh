#!/usr/bin/env bash
# The benchmark table (bench/run.sh's models) on a GPU: tlkit's wgpu or cuda build against
# PyTorch on CUDA, side by side, as a markdown table on stdout (progress on stderr). Needs an
# NVIDIA GPU (PyTorch's side runs on CUDA) and stops with a clear message where there is none.
#
#   bash bench/setup.sh                    # once: bench/.venv; on a GPU node it needs torch
#                                          # with CUDA (the default Linux wheel has it)
#   bash bench/gpu.sh                      # builds the tlkit side on first use, then measures
#
# Environment (defaults in brackets):
#   BACKEND [wgpu]: tlkit's GPU backend. `wgpu` (Vulkan) builds anywhere; `cuda` builds only
#     with web access (cubecl's build script downloads an LLVM bundle) and is the one with
#     Burn's NCCL all-reduce.
#   STEPS [100], WARMUP [10] (the first steps compile the GPU kernels), MODELS
#   ["mlp lenet ganin ganin-dann effnet112"], batch sizes and THREADS as bench/run.sh.
#   TLKIT_BIN [target/gpu-$BACKEND/release/examples/bench_train, built if missing].
# About two minutes for the five models on one recent NVIDIA GPU once built; the release
# build of the wgpu feature takes 5-15 minutes the first time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BACKEND="${BACKEND:-wgpu}"
python="$root/bench/.venv/bin/python"

die() {
    echo "bench/gpu.sh: $*" >&2
    exit 1
}

case "$BACKEND" in
    wgpu | cuda) ;;
    *) die "BACKEND=$BACKEND: give wgpu or cuda" ;;
esac
[[ -x "$python" ]] || die "$python is missing; run: bash bench/setup.sh"

# A GPU, before anything is built or measured.
if ! command -v nvidia-smi >/dev/null; then
    die "no GPU: nvidia-smi is not installed, so this machine has no NVIDIA driver. Run this script on a machine with an NVIDIA GPU (bench/run.sh measures the CPU)."
fi
if ! gpus="$(nvidia-smi -L 2>&1)" || ! grep -q '^GPU ' <<<"$gpus"; then
    die "no GPU: nvidia-smi lists none (${gpus:-no output}). Run this script on a machine with an NVIDIA GPU (bench/run.sh measures the CPU)."
fi
echo "bench/gpu.sh: $(head -n 1 <<<"$gpus")" >&2
torch_cuda="$("$python" -c 'import torch; print(torch.cuda.is_available(), torch.__version__, torch.version.cuda)')"
if [[ "$torch_cuda" != True* ]]; then
    read -r _ torch_version cuda_version <<<"$torch_cuda"
    if [[ "$cuda_version" == None ]]; then
        die "PyTorch in bench/.venv is a CPU-only build (torch $torch_version); install one with CUDA there (the default Linux wheel: bench/.venv/bin/pip install --force-reinstall torch)"
    fi
    die "PyTorch in bench/.venv (torch $torch_version, CUDA $cuda_version) sees no GPU: the driver may be older than CUDA $cuda_version needs (nvidia-smi shows the driver's CUDA version), or CUDA_VISIBLE_DEVICES hides the GPUs"
fi

tlkit_bin="${TLKIT_BIN:-$root/target/gpu-$BACKEND/release/examples/bench_train}"
if [[ ! -x "$tlkit_bin" ]]; then
    echo "bench/gpu.sh: building the tlkit side with --features $BACKEND (first use only)" >&2
    (cd "$root" && CARGO_TARGET_DIR="$root/target/gpu-$BACKEND" \
        cargo build --release -p tlkit --example bench_train --features "$BACKEND") ||
        die "the tlkit build with --features $BACKEND failed$([[ $BACKEND == cuda ]] && echo ' (the cuda feature downloads an LLVM bundle at build time: it needs web access; BACKEND=wgpu does not)')"
fi

# tlkit finds its GPU too (wgpu needs a Vulkan driver: the NVIDIA driver's ICD).
if ! probe="$("$tlkit_bin" --model mlp --batch 8 --steps 1 --warmup 0 --device "$BACKEND" 2>&1)"; then
    hint=""
    if [[ $BACKEND == wgpu && "$probe" != *"--features"* ]]; then
        hint=" (wgpu needs Vulkan: libvulkan1 and the NVIDIA driver's Vulkan ICD; or build with BACKEND=cuda)"
    fi
    die "tlkit found no $BACKEND device: $(tail -n 3 <<<"$probe")$hint"
fi

export STEPS="${STEPS:-100}" WARMUP="${WARMUP:-10}"
export MODELS="${MODELS:-mlp lenet ganin ganin-dann effnet112}"
DEVICE="$BACKEND" TORCH_DEVICE=cuda CONVS=burn TLKIT_BIN="$tlkit_bin" bash "$root/bench/run.sh"
