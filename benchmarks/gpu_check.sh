#!/usr/bin/env bash
# The prepared GPU check of issue 11: one command on the lent GPU machine (one H200; Python 3.12 with torch,
# transformers, onnxruntime and opencv preinstalled; no network), under 8 minutes, writing one results file
# ($OUT/gpu_check.md there, ./gpu_check.md elsewhere). The small pure-Python wheels it needs beyond those come
# from .whl/ (ignored by git; carry it): fill it here first with
#   pip download --dest .whl --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#       --no-deps -r benchmarks/gpu_requirements.txt
# Usage: bash benchmarks/gpu_check.sh [--quick]   (--quick: tiny sizes on any device, to check the script)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ -d .whl ]; then
    "$PYTHON" -m pip install -q --no-index --find-links .whl -r benchmarks/gpu_requirements.txt
fi
out="${OUT:-.}/gpu_check.md"
PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 timeout 470 "$PYTHON" -m benchmarks.gpu_check "$@" --out "$out"
