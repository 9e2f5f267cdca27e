"""The pure-torch twin of `tsdf_fuse` (tsdf.py): vectorised over voxels, one view at a time -- the
readable reference the numba kernel is compared with in tests."""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w
from img2gs.splat._tsdf_kernels import MIN_Z
from img2gs.splat.tsdf import check_fuse_inputs, voxel_centers


def tsdf_fuse(
    depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor, resolution: int, extent: float, truncation: float,
    alpha_threshold: float = 0.5,
) -> Tensor:
    """As tsdf.tsdf_fuse (same arguments, same result)."""
    check_fuse_inputs(depths, alphas, c2w, K)
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
        in_image = (z > MIN_Z) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        pix = row.clamp(0, h - 1) * w + col.clamp(0, w - 1)
        covered = alphas[v].reshape(-1)[pix] >= alpha_threshold
        sdf = depths[v].reshape(-1)[pix] - z
        update = in_image & (~covered | (sdf > -truncation))  # near the surface, or free space
        value = torch.where(covered, (sdf / truncation).clamp(max=1.0), 1.0)
        total += torch.where(update, value, 0.0)
        count += update.float()
    tsdf = torch.where(count > 0, total / count.clamp_min(1.0), -1.0)
    return tsdf.reshape(resolution, resolution, resolution)
