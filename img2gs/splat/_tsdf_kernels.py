"""Numba kernel of `tsdf_fuse` (tsdf.py): one pass over voxels x views without temporaries (~20x the
torch twin's speed on 2 cores); its pure-torch twin is _tsdf_torch.py."""

from __future__ import annotations

import numba
import numpy as np

MIN_Z = 1e-3  # a voxel is in front of a camera when its camera z exceeds this (the twin's rule too)


@numba.njit(parallel=True, cache=True, nogil=True)
def tsdf_fuse_kernel(depths, alphas, viewmats, Ks, resolution, extent, truncation, alpha_threshold):  # pragma: no cover
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
                    if cz <= np.float32(MIN_Z):
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
