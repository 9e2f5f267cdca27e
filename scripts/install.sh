#!/usr/bin/env bash
# Set up img2gs in ./.venv from a clean clone: a CPU build of torch first (on machines with a local
# torch wheel this takes it from disk instead of pulling a multi-GB CUDA build), then the package.
# Usage: bash scripts/install.sh [extras, e.g. dev,gpu]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
echo "img2gs installed in $(pwd)/.venv"
