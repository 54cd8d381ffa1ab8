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
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    # llama.cpp is built with -march=native. Some x86 machines advertise AMX while their kernel
    # does not grant it to processes, and llama.cpp's AMX code then dies at the first prompt
    # (a general protection fault in ldtilecfg): build without AMX. GCC keeps an explicit
    # -mno-* even after -march=native. Not from pip's wheel cache: a cached wheel may be one
    # built with AMX.
    flags=""
    if [ "$(uname -m)" = x86_64 ]; then flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"; fi
    echo "==> building llama.cpp (llama-cpp-python; about 9 minutes)"
    CFLAGS="$flags" CXXFLAGS="$flags" .venv/bin/python -m pip install -q --no-cache-dir \
        "llama-cpp-python[server]==0.3.36"
fi
echo "==> installing docchat[$extras]"
.venv/bin/python -m pip install -q -e ".[$extras]"
