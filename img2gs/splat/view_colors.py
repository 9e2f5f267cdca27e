"""Colours of surface points from rendered views: the mean colour over the views that see each point.

A point is seen by view v when it projects (pixel = floor of its projected coordinates, see
img2gs.cameras) inside the image, in front of the camera (z > 1e-3), onto a pixel whose rendered
alpha is at least `alpha_threshold` and whose rendered depth is within `tolerance` of the point's own
camera z (nothing in front of it). Used for mesh vertex colours and for every texel of a baked texture
(mesh.py, texture.py): a million points x 32 views for a 1024-texel atlas.

`view_colors` is a numba kernel (parallel over points); `view_colors_reference` its pure-torch twin,
one view at a time, compared in tests. Both compute in float64.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w

MIN_Z = 1e-3


def view_colors_reference(points: Tensor, rgbs: Tensor, depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor,
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


def view_colors(points: Tensor, rgbs: Tensor, depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor,
                tolerance: float, alpha_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """As `view_colors_reference`, by a numba kernel."""
    viewmats = viewmat_from_c2w(c2w.double()).numpy()
    colors, count = _view_colors_kernel(
        points.detach().cpu().double().numpy(), np.ascontiguousarray(rgbs.detach().cpu().double().numpy()),
        np.ascontiguousarray(depths.detach().cpu().double().numpy()),
        np.ascontiguousarray(alphas.detach().cpu().double().numpy()), viewmats, K.detach().cpu().double().numpy(),
        float(tolerance), float(alpha_threshold))
    return torch.from_numpy(colors).float(), torch.from_numpy(count > 0)


@numba.njit(parallel=True, cache=True)
def _view_colors_kernel(points, rgbs, depths, alphas, viewmats, Ks, tolerance, alpha_threshold):  # pragma: no cover
    n, n_views = points.shape[0], depths.shape[0]
    h, w = depths.shape[1], depths.shape[2]
    colors = np.zeros((n, 3))
    count = np.zeros(n, np.int64)
    for i in numba.prange(n):
        x, y, zp = points[i, 0], points[i, 1], points[i, 2]
        r, g, b, c = 0.0, 0.0, 0.0, 0
        for v in range(n_views):
            m = viewmats[v]
            cx = m[0, 0] * x + m[0, 1] * y + m[0, 2] * zp + m[0, 3]
            cy = m[1, 0] * x + m[1, 1] * y + m[1, 2] * zp + m[1, 3]
            z = m[2, 0] * x + m[2, 1] * y + m[2, 2] * zp + m[2, 3]
            if not z > MIN_Z:
                continue
            col = int(np.floor(cx / z * Ks[v, 0, 0] + Ks[v, 0, 2]))
            row = int(np.floor(cy / z * Ks[v, 1, 1] + Ks[v, 1, 2]))
            if col < 0 or col >= w or row < 0 or row >= h:
                continue
            if alphas[v, row, col] < alpha_threshold or not abs(depths[v, row, col] - z) < tolerance:
                continue
            r += rgbs[v, row, col, 0]
            g += rgbs[v, row, col, 1]
            b += rgbs[v, row, col, 2]
            c += 1
        if c > 0:
            colors[i, 0], colors[i, 1], colors[i, 2] = r / c, g / c, b / c
        count[i] = c
    return colors, count
