"""Models loaded once per process: a batch's photos (and a Ray worker's tasks) share them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")

_LOADED: dict[tuple[str, str, str], object] = {}  # (kind, resolved folder, device) -> the loaded model


def load_once(kind: str, folder: str | os.PathLike, device: torch.device | str, load: Callable[[], T]) -> T:
    """`load()` the first time (kind, folder, device) is asked for in this process, its result after."""
    key = (kind, str(Path(folder).resolve()), str(torch.device(device)))
    if key not in _LOADED:
        _LOADED[key] = load()
    return _LOADED[key]  # type: ignore[return-value]
