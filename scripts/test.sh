#!/usr/bin/env bash
# Installs what the tests need (the project, the small local model, pytest, Playwright and
# Debian's chromium for the browser test) and runs the whole suite, slow real-model tests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "model-small,test"
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "==> installing Debian chromium for the browser tests"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "warning: could not install chromium; browser tests will be skipped"
    else
        echo "note: chromium not found and not root; browser tests will be skipped"
    fi
fi
exec .venv/bin/python -m pytest "$@"
