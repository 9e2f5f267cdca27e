"""Colours of surface points from rendered views: the mean colour over the views that see each point.

A point is seen by view v when it projects (pixel = floor of its projected coordinates, see
img2gs.cameras) inside the image, in front of the camera (z > 1e-3), onto a pixel whose rendered
alpha is at least `alpha_threshold` and whose rendered depth is within `tolerance` of the point's own
camera z (nothing in front of it). Used for mesh vertex colours and for every texel of a baked texture
(mesh.py, texture.py): a million points x 32 views for a 1024-texel atlas.

`view_colors` runs a numba kernel (_view_colors_kernels.py, parallel over points); _view_colors_torch.py is
its pure-torch twin, one view at a time, compared in tests. Both compute in float64.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w
from img2gs.splat._view_colors_kernels import view_colors_kernel


def view_colors(points: Tensor, rgbs: Tensor, depths: Tensor, alphas: Tensor, c2w: Tensor, K: Tensor,
                tolerance: float, alpha_threshold: float = 0.5) -> tuple[Tensor, Tensor]:
    """(colours [P, 3] float32, seen [P] bool) of points [P, 3] from views rgbs [V, H, W, 3], depths and
    alphas [V, H, W], c2w [V, 4, 4], K [V, 3, 3]; unseen points get 0."""
    viewmats = viewmat_from_c2w(c2w.double()).numpy()
    colors, count = view_colors_kernel(
        points.detach().cpu().double().numpy(), np.ascontiguousarray(rgbs.detach().cpu().double().numpy()),
        np.ascontiguousarray(depths.detach().cpu().double().numpy()),
        np.ascontiguousarray(alphas.detach().cpu().double().numpy()), viewmats, K.detach().cpu().double().numpy(),
        float(tolerance), float(alpha_threshold))
    return torch.from_numpy(colors).float(), torch.from_numpy(count > 0)
