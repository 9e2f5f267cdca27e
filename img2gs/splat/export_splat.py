"""The antimatter15 `.splat` format (WebGL splat viewers): 32-byte records, no header.

Per Gaussian, little-endian:
    position  3 x float32   (x, y, z)
    scale     3 x float32   activated (exp of the log-scales)
    color     4 x uint8     RGB of the degree-0 SH (0.5 + C0 * f_dc) and opacity (sigmoid), x 255
    rotation  4 x uint8     normalised quaternion w, x, y, z mapped by q * 128 + 128
Records are sorted by decreasing volume x opacity, as antimatter15's converter does, so viewers that
load progressively show the most important splats first. Higher SH bands are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from img2gs.atomic import atomic_write_bytes
from img2gs.errors import DataFormatError, OutputError
from img2gs.splat.gaussians import Gaussians

SPLAT_DTYPE = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("color", "u1", 4), ("rotation", "u1", 4)])
assert SPLAT_DTYPE.itemsize == 32


def splat_records(gaussians: Gaussians) -> np.ndarray:
    """The [N] structured array of `.splat` records, most important first."""
    with torch.no_grad():
        g = gaussians.to("cpu")
        scales, opacities = g.scales.float(), g.opacities.float()
        importance = torch.exp(g.params["scales"].sum(dim=-1)) * opacities
        order = torch.argsort(-importance, stable=True)
        rgba = torch.cat([g.base_colors, opacities[:, None]], dim=-1)
        records = np.empty(len(g), dtype=SPLAT_DTYPE)
        records["position"] = g.means[order].numpy()
        records["scale"] = scales[order].numpy()
        records["color"] = (rgba[order] * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
        records["rotation"] = (g.quats[order] * 128.0 + 128.0).round().clamp(0, 255).to(torch.uint8).numpy()
    return records


def save_splat(path: str | os.PathLike, gaussians: Gaussians) -> Path:
    """Write `gaussians` as a `.splat` file, atomically. NaN/Inf are refused (OutputError)."""
    path = Path(path)
    if not gaussians.is_finite():
        raise OutputError(f"refusing to write {path}: the Gaussians contain NaN or Inf values")
    atomic_write_bytes(path, splat_records(gaussians).tobytes())
    return path


def load_splat(path: str | os.PathLike) -> np.ndarray:
    """The structured records of a `.splat` file (for inspection and tests)."""
    data = Path(path).read_bytes()
    if len(data) % SPLAT_DTYPE.itemsize:
        raise DataFormatError(f"{path}: size {len(data)} is not a multiple of 32 bytes")
    return np.frombuffer(data, dtype=SPLAT_DTYPE)
