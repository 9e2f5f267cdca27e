"""Rasterizer backends, resolved in one place from an explicit setting.

    "gsplat" -- gsplat's CUDA kernels (needs a CUDA GPU and `pip install 'img2gs[gpu]'`)
    "cpu"    -- img2gs's own tile-based numba kernels with hand-written backward
    "torch"  -- the slow, obviously-correct pure-torch twin (the tests' reference)
    "auto"   -- gsplat for CUDA tensors when available, else cpu
"""

from __future__ import annotations

import torch

from img2gs.errors import Img2gsError
from img2gs.optional import is_installed

BACKENDS = ("gsplat", "cpu", "torch")


def backend_availability() -> dict[str, tuple[bool, str]]:
    """Backend name -> (usable here, reason). Imports nothing heavy."""
    cuda = torch.cuda.is_available()
    gsplat_ok = cuda and is_installed("gsplat")
    gsplat_why = "CUDA GPU + gsplat" if gsplat_ok else ("gsplat not installed" if cuda else "no CUDA GPU")
    numba_ok = is_installed("numba")
    return {
        "gsplat": (gsplat_ok, gsplat_why),
        "cpu": (numba_ok, "numba kernels" if numba_ok else "numba not installed"),
        "torch": (True, "pure-torch reference"),
    }


def resolve_backend(name: str, device: torch.device) -> str:
    """Turn a backend setting into a concrete backend for tensors on `device`."""
    available = backend_availability()
    if name == "auto":
        if device.type == "cuda" and available["gsplat"][0]:
            return "gsplat"
        return "cpu" if device.type == "cpu" and available["cpu"][0] else "torch"
    if name not in BACKENDS:
        raise Img2gsError(f"unknown rasterizer backend {name!r}: expected auto, gsplat, cpu or torch")
    ok, why = available[name]
    if not ok:
        hint = " (pip install 'img2gs[gpu]')" if name == "gsplat" else ""
        raise Img2gsError(f"rasterizer backend {name!r} is not available here: {why}{hint}")
    if name == "gsplat" and device.type != "cuda":
        raise Img2gsError("rasterizer backend 'gsplat' needs CUDA tensors (use --device cuda)")
    if name == "cpu" and device.type != "cpu":
        raise Img2gsError("rasterizer backend 'cpu' needs CPU tensors (use --device cpu)")
    return name
