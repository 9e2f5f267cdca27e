"""Z-buffer triangle rasterizer (numba), the fast kernel behind `render_mesh`.

Input: vertices already projected to screen space, `screen[..., 0:2]` = pixel coordinates (u right,
v down, pixel (i, j) centred at (i + 0.5, j + 0.5), see img2gs.cameras) and `screen[..., 2]` =
camera-space depth z > 0. For every pixel centre it finds the nearest triangle covering it and returns
its index, the perspective-correct barycentric weights of the three corners, and the depth.

Rules (identical in the numba kernels, _rasterize_kernels.py, and the pure-torch twin, _rasterize_torch.py):
  * a pixel centre is covered when all three screen-space barycentrics are >= 0 (edges inclusive),
    whatever the winding (two-sided);
  * depth is interpolated as 1/z (exact for planar triangles); the smaller z wins (the larger with
    `farthest=True`), the lower face index on exact ties;
  * triangles with a vertex at z <= `NEAR` or with zero screen area are skipped (not clipped): for
    objects in the unit sphere seen from the orbit radius this never happens.

Parallel over views (numba prange); one view runs on one thread.
"""

from __future__ import annotations

import numpy as np

from img2gs.mesh_render._rasterize_kernels import rasterize_kernel


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
    rasterize_kernel(screen, faces, face_id, bary, depth, sign)
    depth = sign * depth
    depth[face_id < 0] = 0.0
    return face_id, bary, depth.astype(np.float32)
