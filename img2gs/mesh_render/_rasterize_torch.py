"""Pure-torch twin of the numba rasterizer (rasterize.py, _rasterize_kernels.py): every pixel centre against
every triangle at once, float64. Slow (memory P x F per view) and obviously correct; tests compare
the two on random meshes. Same rules: edges inclusive, two-sided, 1/z depth interpolation, nearest
wins with the lower face index on ties, triangles touching z <= NEAR or with zero area skipped.
"""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.mesh_render._rasterize_kernels import NEAR


def rasterize(screen: Tensor, faces: Tensor, height: int, width: int,
              farthest: bool = False) -> tuple[Tensor, Tensor, Tensor]:
    """screen [N, V, 3] (u, v, z), faces [F, 3] -> face_id [N, H, W] int64 (-1 empty),
    bary [N, H, W, 3], depth [N, H, W] (0 empty). `farthest`: the last surface along the ray wins."""
    screen = screen.double()
    faces = faces.long()
    rows, cols = torch.meshgrid(torch.arange(height, dtype=torch.float64) + 0.5,
                                torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    px, py = cols.reshape(-1, 1), rows.reshape(-1, 1)  # [P, 1]
    out_id, out_bary, out_depth = [], [], []
    for pts in screen:  # one view at a time
        tri = pts[faces]  # [F, 3 corners, 3]
        x0, y0, z0 = tri[:, 0, 0], tri[:, 0, 1], tri[:, 0, 2]
        x1, y1, z1 = tri[:, 1, 0], tri[:, 1, 1], tri[:, 1, 2]
        x2, y2, z2 = tri[:, 2, 0], tri[:, 2, 1], tri[:, 2, 2]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)  # [F]
        valid = (z0 > NEAR) & (z1 > NEAR) & (z2 > NEAR) & (area != 0) & torch.isfinite(area)
        w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) / area  # [P, F]
        w1 = ((px - x0) * (y2 - y0) - (x2 - x0) * (py - y0)) / area
        w2 = ((x1 - x0) * (py - y0) - (px - x0) * (y1 - y0)) / area
        inside = valid & (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        q0, q1, q2 = w0 / z0, w1 / z1, w2 / z2
        empty = -torch.inf if farthest else torch.inf
        z = torch.where(inside, 1.0 / (q0 + q1 + q2), torch.full_like(w0, empty))
        best_z, best = z.max(dim=1) if farthest else z.min(dim=1)  # first extremum = lowest face index on ties
        covered = torch.isfinite(best_z)
        take = best[:, None]
        q = torch.stack([q0.gather(1, take), q1.gather(1, take), q2.gather(1, take)], -1)[:, 0]  # [P, 3]
        weights = q * best_z[:, None]
        out_id.append(torch.where(covered, best, -1).reshape(height, width))
        out_bary.append(torch.where(covered[:, None], weights, 0.0).reshape(height, width, 3))
        out_depth.append(torch.where(covered, best_z, 0.0).reshape(height, width))
    return torch.stack(out_id), torch.stack(out_bary), torch.stack(out_depth)
