"""Z-buffer triangle rasterizer (numba), the fast kernel behind `render_mesh`.

Input: vertices already projected to screen space, `screen[..., 0:2]` = pixel coordinates (u right,
v down, pixel (i, j) centred at (i + 0.5, j + 0.5), see img2gs.cameras) and `screen[..., 2]` =
camera-space depth z > 0. For every pixel centre it finds the nearest triangle covering it and returns
its index, the perspective-correct barycentric weights of the three corners, and the depth.

Rules (identical in the pure-torch twin `rasterize_torch.rasterize_reference`):
  * a pixel centre is covered when all three screen-space barycentrics are >= 0 (edges inclusive),
    whatever the winding (two-sided);
  * depth is interpolated as 1/z (exact for planar triangles); the smaller z wins (the larger with
    `farthest=True`), the lower face index on exact ties;
  * triangles with a vertex at z <= `NEAR` or with zero screen area are skipped (not clipped): for
    objects in the unit sphere seen from the orbit radius this never happens.

Parallel over views (numba prange); one view runs on one thread.
"""

from __future__ import annotations

import math

import numba
import numpy as np

NEAR = 1e-4


def rasterize(
    screen: np.ndarray, faces: np.ndarray, height: int, width: int, farthest: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize triangles seen by N cameras.

    screen: [N, V, 3] float64 (u, v, z) per vertex and view; faces: [F, 3] int vertex indices.
    Returns face_id [N, H, W] int32 (-1 = empty), bary [N, H, W, 3] float32 perspective-correct
    weights of the face's corners, depth [N, H, W] float32 camera z (0 = empty).
    `farthest=True` keeps the LAST surface along each pixel's ray instead of the first (the back
    layer of img2gs.mesh_render.depth_layers); ties again go to the lower face index.
    """
    screen = np.ascontiguousarray(screen, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int32)
    if screen.ndim != 3 or screen.shape[-1] != 3:
        raise ValueError(f"screen must be [N, V, 3], got {screen.shape}")
    if faces.ndim != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be [F, 3], got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= screen.shape[1]):
        raise ValueError("faces index vertices that do not exist")
    n = screen.shape[0]
    face_id = np.full((n, height, width), -1, np.int32)
    bary = np.zeros((n, height, width, 3), np.float32)
    depth = np.full((n, height, width), np.inf, np.float64)
    sign = -1.0 if farthest else 1.0  # the kernel keeps the smallest sign * z
    _rasterize_kernel(screen, faces, face_id, bary, depth, sign)
    depth = sign * depth
    depth[face_id < 0] = 0.0
    return face_id, bary, depth.astype(np.float32)


@numba.njit(parallel=True, cache=True, nogil=True)
def _rasterize_kernel(screen, faces, face_id, bary, depth, sign):  # pragma: no cover - compiled
    n_views, height, width = face_id.shape
    for view in numba.prange(n_views):
        for f in range(faces.shape[0]):
            _draw_triangle(screen[view], faces[f, 0], faces[f, 1], faces[f, 2], f,
                           face_id[view], bary[view], depth[view], height, width, sign)


@numba.njit(inline="always", cache=True)
def _draw_triangle(pts, i0, i1, i2, f, face_id, bary, depth, height, width, sign):  # pragma: no cover - compiled
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
