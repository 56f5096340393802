#!/usr/bin/env bash
# Creates bench/.venv with PyTorch (CPU use only) and numpy for the side-by-side benchmarks.
#
# Only PyPI is reachable from the project's machines, so this is the plain PyPI wheel: on Linux
# x86_64 it also pulls the CUDA runtime wheels (several GB) even though the benchmarks run on the
# CPU. Re-running is cheap: an existing venv is reused and pip skips what is installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet torch numpy pillow safetensors transformers tokenizers
"$venv/bin/python" - <<'PY'
import numpy, torch
print(f"bench/.venv ready: torch {torch.__version__}, numpy {numpy.__version__}, "
      f"python {__import__('sys').version.split()[0]}")
PY
