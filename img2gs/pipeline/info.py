"""A report of the environment: versions, device, rasterizer backends, optional extras, checkpoints."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import torch

import img2gs
from img2gs.optional import installed_version
from img2gs.paths import checkpoint_search_paths, find_default_checkpoint
from img2gs.splat.backends import backend_availability

PACKAGES = ("torch", "numpy", "diffusers", "numba", "safetensors", "trimesh", "plyfile",
            "scikit-image", "opencv-python-headless", "gsplat", "timm", "imageio-ffmpeg")


@dataclass(frozen=True)
class EnvironmentReport:
    img2gs_version: str
    python: str
    torch_device: str
    torch_threads: int
    packages: dict[str, str | None]  # distribution -> version (None: not installed)
    backends: dict[str, tuple[bool, str]]  # backend -> (available, reason)
    checkpoint_paths: list[str]
    default_checkpoint: str | None


def environment_report() -> EnvironmentReport:
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = "cpu (no CUDA GPU)"
    default = find_default_checkpoint()
    return EnvironmentReport(
        img2gs_version=img2gs.__version__,
        python=platform.python_version(),
        torch_device=device,
        torch_threads=torch.get_num_threads(),
        packages={name: installed_version(name) for name in PACKAGES},
        backends=backend_availability(),
        checkpoint_paths=[str(p) for p in checkpoint_search_paths()],
        default_checkpoint=str(default) if default else None,
    )
