"""Resolve a user's `--device auto|cpu|cuda[:N]` setting to a torch.device, in one place."""

from __future__ import annotations

import torch

from img2gs.errors import Img2gsError


def resolve_device(name: str = "auto") -> torch.device:
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise Img2gsError(f"--device {name} was asked for, but torch sees no CUDA GPU (use --device cpu)")
        return torch.device(name)
    raise Img2gsError(f"unknown device {name!r}: expected auto, cpu or cuda[:N]")
