"""Numba kernels of the mesh renderer's z-buffer rasterizer (rasterize.py has the rules): parallel over
views, one triangle at a time over its screen bounding box; its pure-torch twin is _rasterize_torch.py."""

from __future__ import annotations

import math

import numba
import numpy as np

NEAR = 1e-4  # triangles with a vertex at camera z <= NEAR are skipped (the twin's rule too)


@numba.njit(parallel=True, cache=True, nogil=True)
def rasterize_kernel(screen, faces, face_id, bary, depth, sign):  # pragma: no cover - compiled
    n_views, height, width = face_id.shape
    for view in numba.prange(n_views):
        for f in range(faces.shape[0]):
            draw_triangle(screen[view], faces[f, 0], faces[f, 1], faces[f, 2], f,
                           face_id[view], bary[view], depth[view], height, width, sign)



@numba.njit(inline="always", cache=True)
def draw_triangle(pts, i0, i1, i2, f, face_id, bary, depth, height, width, sign):  # pragma: no cover - compiled
    x0, y0, z0 = pts[i0, 0], pts[i0, 1], pts[i0, 2]
    x1, y1, z1 = pts[i1, 0], pts[i1, 1], pts[i1, 2]
    x2, y2, z2 = pts[i2, 0], pts[i2, 1], pts[i2, 2]
    if z0 <= NEAR or z1 <= NEAR or z2 <= NEAR:
        return
    area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
    if area == 0.0 or not math.isfinite(area):
        return
    # Pixels whose centre (p + 0.5) lies inside the triangle's bounding box.
    col_lo = max(int(math.ceil(min(x0, x1, x2) - 0.5)), 0)
    col_hi = min(int(math.floor(max(x0, x1, x2) - 0.5)), width - 1)
    row_lo = max(int(math.ceil(min(y0, y1, y2) - 0.5)), 0)
    row_hi = min(int(math.floor(max(y0, y1, y2) - 0.5)), height - 1)
    for row in range(row_lo, row_hi + 1):
        py = row + 0.5
        for col in range(col_lo, col_hi + 1):
            px = col + 0.5
            w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) / area
            w1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) / area
            w2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) / area
            if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                continue
            q0, q1, q2 = w0 / z0, w1 / z1, w2 / z2
            z = 1.0 / (q0 + q1 + q2)
            if sign * z < depth[row, col]:
                depth[row, col] = sign * z
                face_id[row, col] = f
                bary[row, col, 0] = q0 * z
                bary[row, col, 1] = q1 * z
                bary[row, col, 2] = q2 * z
