"""Turntable previews: the Gaussians rendered from an orbit, written as a .gif (or .mp4 with
imageio-ffmpeg). Used by `img2gs render --turntable` and `img2gs reconstruct --preview`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from img2gs.atomic import atomic_path
from img2gs.cameras import DEFAULT_INPUT_ELEVATION_DEG, FOV_DEG, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w
from img2gs.errors import OutputError
from img2gs.image_io import composite_on
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.render import render_rgba

TURNTABLE_SUFFIXES = (".gif", ".mp4")


def turntable_frames(gaussians: Gaussians, frames: int = 36, size: int = 256,
                     elevation: float = DEFAULT_INPUT_ELEVATION_DEG, backend: str = "auto") -> Tensor:
    """[frames, size, size, 3] RGB on white, azimuth 0..360 (exclusive) at `elevation`."""
    azimuth = torch.arange(frames, dtype=torch.float32) * (360.0 / frames)
    c2w = orbit_to_c2w(torch.full((frames,), float(elevation)), azimuth, torch.full((frames,), ORBIT_RADIUS))
    K = intrinsics_from_fov(FOV_DEG, size, size).expand(frames, 3, 3)
    return composite_on(render_rgba(gaussians, c2w, K, size, size, backend=backend), 1.0)


def save_turntable(path: str | os.PathLike, gaussians: Gaussians, frames: int = 36, size: int = 256,
                   elevation: float = DEFAULT_INPUT_ELEVATION_DEG, backend: str = "auto") -> Path:
    """Render and write a turntable atomically (.gif with Pillow, .mp4 with imageio-ffmpeg)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TURNTABLE_SUFFIXES:
        raise OutputError(f"{path}: a turntable is written as .gif or .mp4")
    rgb = turntable_frames(gaussians, frames, size, elevation, backend)
    if not torch.isfinite(rgb).all():
        raise OutputError(f"refusing to write {path}: the renders contain NaN or Inf values")
    frames_u8 = [np.ascontiguousarray((f.clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()) for f in rgb]
    with atomic_path(path) as tmp:
        if suffix == ".gif":
            from PIL import Image

            pil = [Image.fromarray(f) for f in frames_u8]
            pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:], duration=60, loop=0)
        else:
            from img2gs.optional import require

            require("imageio_ffmpeg", "writing .mp4 turntables")
            import imageio.v2 as imageio

            imageio.mimwrite(tmp, frames_u8, fps=24, format="FFMPEG")
    return path
