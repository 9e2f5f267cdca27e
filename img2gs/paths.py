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


def resolve_model_dir(model_dir: str | os.PathLike | None) -> Path:
    """`model_dir`, or the default model folder (the one place that looks it up and says where it looked)."""
    from img2gs.errors import CheckpointError

    if model_dir is not None:
        return Path(model_dir)
    found = find_default_checkpoint()
    if found is None:
        where = ", ".join(str(p) for p in checkpoint_search_paths())
        raise CheckpointError(f"no model found (looked in {where}): pass --model DIR or set {MODEL_ENV_VAR}")
    return found
