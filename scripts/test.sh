#!/usr/bin/env bash
# Installs what the tests need (the project, the small local model, pytest, ruff, Playwright and
# Debian's chromium for the browser test), checks lint and format, and runs the whole suite, slow
# real-model tests included.
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
# Lint and format check first (ruff, configured in pyproject.toml); the tests run either way,
# and a lint failure fails the command after them.
lint=0
echo "==> ruff check and ruff format --check"
{ .venv/bin/ruff check . && .venv/bin/ruff format --check .; } || lint=1
.venv/bin/python -m pytest "$@" || exit $?
if [ "$lint" != 0 ]; then echo "ruff found problems (above): run 'ruff check --fix . && ruff format .'"; fi
exit $lint
