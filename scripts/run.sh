#!/usr/bin/env bash
# The main job: install everything (first run only), ingest the seeds if needed, open the chat UI.
# Fully offline after install: local Chroma folder in .rag/, local GGUF model, no API key.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "model,model-small"
.venv/bin/rag ingest            # a no-op (0 embedded) when the seeds are already indexed
exec .venv/bin/rag ui "$@"
