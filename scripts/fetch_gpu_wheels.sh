#!/usr/bin/env bash
# Fetch, here, the wheels that scripts/train_gpu.sh installs on the lent GPU machine (no network there;
# its Python 3.12 already has torch, numba, scipy, scikit-image, opencv, typer, rich and safetensors, but
# not trimesh, plyfile or fast-simplification). Into ./.whl (ignored; ~3 MB), x86-64 manylinux, cp312.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl
for spec in "trimesh==$(.venv/bin/python -c 'import trimesh; print(trimesh.__version__)')" \
            "plyfile==1.1.5" "fast-simplification==0.2.0"; do
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$spec"
done
ls -la .whl
