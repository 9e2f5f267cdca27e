"""Where img2gs looks for things: the shipped assets and the default view-generator checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
EXAMPLES_DIR = ASSETS_DIR / "examples"
MODEL_ENV_VAR = "IMG2GS_MODEL"


def checkpoint_search_paths() -> list[Path]:
    """Candidate default-model folders, first match wins: $IMG2GS_MODEL, the user cache, the shipped one."""
    paths = []
    if os.environ.get(MODEL_ENV_VAR):
        paths.append(Path(os.environ[MODEL_ENV_VAR]).expanduser())
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "img2gs" / "model"
    paths.append(cache)
    paths.append(ASSETS_DIR / "model")
    return paths


def find_default_checkpoint() -> Path | None:
    for path in checkpoint_search_paths():
        if (path / "config.json").is_file():
            return path
    return None
