#!/usr/bin/env bash
# Creates .venv and installs the project with the given extras (e.g. "model,model-small").
# Idempotent: a second run only checks what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-model}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$PY" -m venv .venv
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and exactly: a bare `torch` requirement would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
echo "==> installing docchat[$extras] (first run builds llama.cpp: about 9 minutes)"
.venv/bin/python -m pip install -q -e ".[$extras]"
