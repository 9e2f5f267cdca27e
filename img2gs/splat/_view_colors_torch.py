"""The pure-torch twin of `view_colors` (view_colors.py): one view at a time, float64, compared with the
numba kernel in tests."""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w
from img2gs.splat._view_colors_kernels import MIN_Z


def view_colors(points: Tensor, rgbs: Tensor, depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor,
                tolerance: float, alpha_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """(colours [P, 3] float32, seen [P] bool) of points [P, 3] from views rgbs [V, H, W, 3], depths and
    alphas [V, H, W], c2w [V, 4, 4], K [V, 3, 3]; unseen points get 0."""
    viewmats = viewmat_from_c2w(c2w.double())
    points, K = points.double(), K.double()
    h, w = depths.shape[1:]
    total, count = torch.zeros(points.shape[0], 3, dtype=torch.float64), torch.zeros(points.shape[0])
    for v in range(depths.shape[0]):
        cam = points @ viewmats[v, :3, :3].T + viewmats[v, :3, 3]
        z = cam[:, 2]
        col = (cam[:, 0] / z * K[v, 0, 0] + K[v, 0, 2]).floor().long()
        row = (cam[:, 1] / z * K[v, 1, 1] + K[v, 1, 2]).floor().long()
        ok = (z > MIN_Z) & (col >= 0) & (col < w) & (row >= 0) & (row < h)
        col, row = col.clamp(0, w - 1), row.clamp(0, h - 1)
        ok &= (alphas[v, row, col] >= alpha_threshold) & ((depths[v, row, col].double() - z).abs() < tolerance)
        total[ok] += rgbs[v, row[ok], col[ok]].double()
        count[ok] += 1.0
    return (total / count.clamp_min(1.0)[:, None]).float(), count > 0
