"""Numba kernel of `tsdf_fuse` (tsdf.py): one pass over voxels x views without temporaries; its pure-torch
twin is _tsdf_torch.py.

Speed: `bench/tsdf.py` (the example mug's 32 views of 128 px into 128^3 voxels, 2 cores) measures it
against the torch twin (5.0x); against the direct form of the twin's maths that it replaced, 0.62 s vs
0.95 s, measured side by side once. Each view's intrinsics and extrinsics are folded into one 3 x 4
projection (rows: pixel u * z, pixel v * z, z), the part of it that depends on the voxel's x and y is
summed once per voxel column, and a voxel costs one reciprocal per view; the same maths in another
order, so a voxel centre landing on a pixel border may fall on the other side of it (tests: < 0.1% of
voxels)."""

from __future__ import annotations

import numba
import numpy as np

MIN_Z = 1e-3  # a voxel is in front of a camera when its camera z exceeds this (the twin's rule too)


@numba.njit(cache=True)
def projections(viewmats, Ks):  # pragma: no cover
    """[V, 3, 4] float32: K @ viewmat[:3] for pinhole K (no skew): rows give u * z, v * z and z."""
    n_views = viewmats.shape[0]
    out = np.empty((n_views, 3, 4), np.float32)
    for v in range(n_views):
        for c in range(4):
            out[v, 0, c] = Ks[v, 0, 0] * viewmats[v, 0, c] + Ks[v, 0, 2] * viewmats[v, 2, c]
            out[v, 1, c] = Ks[v, 1, 1] * viewmats[v, 1, c] + Ks[v, 1, 2] * viewmats[v, 2, c]
            out[v, 2, c] = viewmats[v, 2, c]
    return out


@numba.njit(parallel=True, cache=True, nogil=True)
def tsdf_fuse_kernel(depths, alphas, viewmats, Ks, resolution, extent, truncation, alpha_threshold):  # pragma: no cover
    n_views, h, w = depths.shape
    out = np.empty((resolution, resolution, resolution), dtype=np.float32)
    voxel = np.float32(2.0) * extent / np.float32(resolution)
    inv_truncation = np.float32(1.0) / truncation
    proj = projections(viewmats, Ks)  # [V, 3, 4]
    width, height = np.float32(w), np.float32(h)
    for i in numba.prange(resolution):
        x = (np.float32(i) + np.float32(0.5)) * voxel - extent
        column = np.empty((n_views, 3), np.float32)  # the projection of (x, y, 0, 1) per view
        for j in range(resolution):
            y = (np.float32(j) + np.float32(0.5)) * voxel - extent
            for v in range(n_views):
                for row in range(3):
                    column[v, row] = proj[v, row, 0] * x + proj[v, row, 1] * y + proj[v, row, 3]
            for k in range(resolution):
                zw = (np.float32(k) + np.float32(0.5)) * voxel - extent
                total = np.float32(0.0)
                count = 0
                for v in range(n_views):
                    cz = column[v, 2] + proj[v, 2, 2] * zw
                    if cz <= np.float32(MIN_Z):
                        continue
                    inv_z = np.float32(1.0) / cz
                    u = (column[v, 0] + proj[v, 0, 2] * zw) * inv_z
                    r = (column[v, 1] + proj[v, 1, 2] * zw) * inv_z
                    if not (u >= 0 and u < width and r >= 0 and r < height):
                        continue
                    col, row = int(u), int(r)  # floor: both are >= 0
                    if alphas[v, row, col] < alpha_threshold:
                        total += np.float32(1.0)
                        count += 1
                        continue
                    sdf = depths[v, row, col] - cz
                    if sdf > -truncation:
                        total += min(sdf * inv_truncation, np.float32(1.0))
                        count += 1
                out[i, j, k] = total / count if count > 0 else np.float32(-1.0)
    return out
