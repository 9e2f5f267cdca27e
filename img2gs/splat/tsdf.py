"""Truncated signed-distance fusion of depth maps on a uniform voxel grid (Curless & Levoy 1996).

For every view, a voxel centre at camera depth z that projects onto pixel (row, col):
  * covered pixel (alpha >= alpha_threshold) with depth d: sdf = d - z; if sdf > -trunc the voxel gets
    the observation min(sdf, trunc) / trunc (positive in front of the surface);
  * empty pixel: the voxel is free space and gets +1;
  * outside the image or behind the camera: no observation.
The TSDF is the mean of a voxel's observations. Voxels without any observation lie deeper than
`trunc` behind every surface that sees them -- inside the object -- and get -1.

Two implementations with identical results: `tsdf_fuse_torch` (vectorised over voxels, the readable
reference) and a numba kernel (one pass over voxels x views without temporaries, ~20x faster on 2
cores); `tsdf_fuse` picks numba when it is installed. tests/splat/test_mesh.py compares them.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w
from img2gs.optional import is_installed


def voxel_centers(resolution: int, extent: float) -> Tensor:
    """[R, R, R, 3] centres of the voxels of the grid over [-extent, extent]^3, indexed (x, y, z)."""
    axis = (torch.arange(resolution, dtype=torch.float32) + 0.5) * (2.0 * extent / resolution) - extent
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)


def _check(depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor) -> None:
    v = depths.shape[0]
    if depths.ndim != 3 or alphas.shape != depths.shape or c2w.shape != (v, 4, 4) or K.shape != (v, 3, 3):
        raise ValueError("depths and alphas [V, H, W], c2w [V, 4, 4] and K [V, 3, 3] must agree")


def tsdf_fuse(
    depths: Tensor,  # [V, H, W] camera z of the surface
    alphas: Tensor,  # [V, H, W] coverage in [0, 1]
    c2w: Tensor,  # [V, 4, 4] OpenGL
    K: Tensor,  # [V, 3, 3]
    resolution: int,
    extent: float,
    truncation: float,
    alpha_threshold: float = 0.5,
    backend: str = "auto",  # "auto" | "numba" | "torch"
) -> Tensor:
    """The fused TSDF [R, R, R] (indexed x, y, z, values in [-1, 1]); see the module docstring."""
    _check(depths, alphas, c2w, K)
    use_numba = backend == "numba" or (backend == "auto" and is_installed("numba"))
    if not use_numba:
        return tsdf_fuse_torch(depths, alphas, c2w, K, resolution, extent, truncation, alpha_threshold)
    viewmats = viewmat_from_c2w(c2w.double()).float().numpy()
    out = _fuse_kernel(
        np.ascontiguousarray(depths.float().numpy()), np.ascontiguousarray(alphas.float().numpy()),
        np.ascontiguousarray(viewmats), np.ascontiguousarray(K.float().numpy()),
        resolution, np.float32(extent), np.float32(truncation), np.float32(alpha_threshold),
    )
    return torch.from_numpy(out)


def tsdf_fuse_torch(
    depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor, resolution: int, extent: float, truncation: float,
    alpha_threshold: float = 0.5,
) -> Tensor:
    """Pure-torch reference of `tsdf_fuse` (same arguments)."""
    _check(depths, alphas, c2w, K)
    centers = voxel_centers(resolution, extent).reshape(-1, 3)  # [R^3, 3]
    total = torch.zeros(centers.shape[0])
    count = torch.zeros(centers.shape[0])
    viewmats = viewmat_from_c2w(c2w.double()).float()
    h, w = depths.shape[1:]
    for v in range(depths.shape[0]):
        cam = centers @ viewmats[v, :3, :3].T + viewmats[v, :3, 3]
        z = cam[:, 2]
        col = torch.floor(cam[:, 0] / z * K[v, 0, 0] + K[v, 0, 2]).long()
        row = torch.floor(cam[:, 1] / z * K[v, 1, 1] + K[v, 1, 2]).long()
        in_image = (z > 1e-3) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        pix = row.clamp(0, h - 1) * w + col.clamp(0, w - 1)
        covered = alphas[v].reshape(-1)[pix] >= alpha_threshold
        sdf = depths[v].reshape(-1)[pix] - z
        update = in_image & (~covered | (sdf > -truncation))  # near the surface, or free space
        value = torch.where(covered, (sdf / truncation).clamp(max=1.0), 1.0)
        total += torch.where(update, value, 0.0)
        count += update.float()
    tsdf = torch.where(count > 0, total / count.clamp_min(1.0), -1.0)
    return tsdf.reshape(resolution, resolution, resolution)


@numba.njit(parallel=True, cache=True, nogil=True)
def _fuse_kernel(depths, alphas, viewmats, Ks, resolution, extent, truncation, alpha_threshold):  # pragma: no cover
    n_views, h, w = depths.shape
    out = np.empty((resolution, resolution, resolution), dtype=np.float32)
    voxel = np.float32(2.0) * extent / np.float32(resolution)
    for i in numba.prange(resolution):
        x = (np.float32(i) + np.float32(0.5)) * voxel - extent
        for j in range(resolution):
            y = (np.float32(j) + np.float32(0.5)) * voxel - extent
            for k in range(resolution):
                zw = (np.float32(k) + np.float32(0.5)) * voxel - extent
                total = np.float32(0.0)
                count = 0
                for v in range(n_views):
                    m = viewmats[v]
                    cz = m[2, 0] * x + m[2, 1] * y + m[2, 2] * zw + m[2, 3]
                    if cz <= np.float32(1e-3):
                        continue
                    cx = m[0, 0] * x + m[0, 1] * y + m[0, 2] * zw + m[0, 3]
                    cy = m[1, 0] * x + m[1, 1] * y + m[1, 2] * zw + m[1, 3]
                    u = np.floor(cx / cz * Ks[v, 0, 0] + Ks[v, 0, 2])
                    r = np.floor(cy / cz * Ks[v, 1, 1] + Ks[v, 1, 2])
                    if u < 0 or u >= w or r < 0 or r >= h:
                        continue
                    col, row = int(u), int(r)
                    if alphas[v, row, col] < alpha_threshold:
                        total += np.float32(1.0)
                        count += 1
                        continue
                    sdf = depths[v, row, col] - cz
                    if sdf > -truncation:
                        total += min(sdf / truncation, np.float32(1.0))
                        count += 1
                out[i, j, k] = total / count if count > 0 else np.float32(-1.0)
    return out
