"""TSDF fusion speed: the numba kernel against its pure-torch twin, side by side in one run.

The depths are those `extract_mesh` fuses: a fitted scene rendered from 32 views on a sphere at 128 px,
fused into 128^3 voxels (the default MeshConfig). Reports wall seconds (best of 3, after a warm-up) and
the ratio, and the fraction of voxels where the two differ (a voxel centre on a pixel border).

Reproduce (the scene of the README's first command):
    img2gs reconstruct assets/examples/mug.jpg -o out/mug.ply
    .venv/bin/python bench/tsdf.py out/mug.ply
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from img2gs.cameras import FOV_DEG, intrinsics_from_fov
from img2gs.splat import _tsdf_torch
from img2gs.splat.export_ply import load_ply
from img2gs.splat.mesh import MeshConfig, sphere_cameras
from img2gs.splat.render import render_depth
from img2gs.splat.tsdf import tsdf_fuse


def best_seconds(fn, repeat: int = 3) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up (numba's cache, torch's allocator)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ply", type=Path, help="A fitted 3DGS scene (img2gs reconstruct -o ...).")
    args = parser.parse_args()
    config = MeshConfig()
    c2w = sphere_cameras(config.n_views)
    K = intrinsics_from_fov(FOV_DEG, config.image_size, config.image_size).expand(config.n_views, 3, 3)
    _, depths, alphas = render_depth(load_ply(args.ply), c2w, K, config.image_size, config.image_size)
    truncation = config.truncation_voxels * 2.0 * config.extent / config.resolution
    fuse_args = (depths, alphas, c2w, K, config.resolution, config.extent, truncation, config.alpha_threshold)
    numba_s, fast = best_seconds(lambda: tsdf_fuse(*fuse_args, backend="numba"))
    torch_s, ref = best_seconds(lambda: _tsdf_torch.tsdf_fuse(*fuse_args))
    differ = float(((fast - ref).abs() > 1e-4).float().mean())
    print(f"{config.n_views} views of {config.image_size} px into {config.resolution}^3 voxels, "
          f"{torch.get_num_threads()} threads")
    print(f"numba {numba_s:.3f} s   torch twin {torch_s:.3f} s   ratio {torch_s / numba_s:.1f}x   "
          f"voxels that differ {differ:.2e}")
    print(f"RESULT numba_s={numba_s:.3f} torch_s={torch_s:.3f} ratio={torch_s / numba_s:.1f}")


if __name__ == "__main__":
    main()
