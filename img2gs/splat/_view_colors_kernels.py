"""Numba kernel of `view_colors` (view_colors.py): parallel over points, every view in turn, float64;
its pure-torch twin is _view_colors_torch.py."""

from __future__ import annotations

import numba
import numpy as np

MIN_Z = 1e-3  # a point is in front of a camera when its camera z exceeds this (the twin's rule too)


@numba.njit(parallel=True, cache=True)
def view_colors_kernel(points, rgbs, depths, alphas, viewmats, Ks, tolerance, alpha_threshold):  # pragma: no cover
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
