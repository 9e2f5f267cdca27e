"""EWA projection of 3D Gaussians to 2D screen-space Gaussians (pinhole camera), in plain torch.

This is the first half of gsplat's decomposition of splatting (`fully_fused_projection`); both the
`cpu` and the `torch` backends use it, so its gradients (w.r.t. means, quats, scales, cameras) come
from autograd. The maths follows 3DGS (Kerbl et al. 2023, eq. 5-6) / EWA splatting (Zwicker et al.
2002) exactly as gsplat implements it:

    Sigma      = R(q) S S^T R(q)^T                    world covariance, S = diag(scales), q normalised
    t          = W mean + w                           camera-space mean (viewmat = [W | w], OpenCV)
    Sigma_cam  = W Sigma W^T
    J          = [[fx/tz, 0, -fx tx'/tz^2],           Jacobian of the perspective map at t, where
                  [0, fy/tz, -fy ty'/tz^2]]           tx', ty' are tx, ty clamped to 1.3x the view
                                                      frustum (gsplat's guard against huge J)
    Sigma_2d   = J Sigma_cam J^T + eps2d I            low-pass dilation by eps2d pixels^2
    mean_2d    = (fx tx/tz + cx, fy ty/tz + cy)       pixel coordinates, pixel centres at +0.5
    conic      = Sigma_2d^-1 stored as (a, b, c) = upper triangle (xx, xy, yy)
    radius     = ceil(3 sqrt(lambda_max(Sigma_2d)))    3-sigma screen-space extent

A Gaussian is culled (radius 0) if its depth tz is outside (near, far), its 2D covariance is
degenerate, or its 3-sigma box lies fully outside the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Projected:
    """Screen-space Gaussians for C cameras and N Gaussians."""

    means2d: Tensor  # [C, N, 2] pixel coordinates
    conics: Tensor  # [C, N, 3] inverse 2D covariance (a, b, c): sigma = 0.5 (a dx^2 + c dy^2) + b dx dy
    depths: Tensor  # [C, N] camera-space z
    radii: Tensor  # [C, N] int32, 0 for culled Gaussians


def quat_to_rotmat(quats: Tensor) -> Tensor:  # [..., 4] (w, x, y, z), any norm -> [..., 3, 3]
    """Rotation matrices of (normalised) quaternions."""
    w, x, y, z = F.normalize(quats, dim=-1).unbind(-1)
    R = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    ).reshape(*quats.shape[:-1], 3, 3)
    return R


def quat_scale_to_covar(
    quats: Tensor,  # [N, 4] (w, x, y, z), any norm
    scales: Tensor,  # [N, 3]
) -> Tensor:
    """World-space covariances [N, 3, 3] = R S S^T R^T."""
    M = quat_to_rotmat(quats) * scales[:, None, :]  # R S
    return M @ M.transpose(-1, -2)


def _perspective_jacobian(
    means_c: Tensor,  # [C, N, 3] camera-space means with a safe (positive) z
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
) -> Tensor:
    """Jacobian [C, N, 2, 3] of the pinhole map, evaluated at the mean clamped to 1.3x the frustum."""
    tx, ty, tz = means_c.unbind(-1)
    fx, fy = Ks[:, 0, 0, None], Ks[:, 1, 1, None]
    cx, cy = Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    lim_x_pos = (width - cx) / fx + 0.3 * (0.5 * width / fx)
    lim_x_neg = cx / fx + 0.3 * (0.5 * width / fx)
    lim_y_pos = (height - cy) / fy + 0.3 * (0.5 * height / fy)
    lim_y_neg = cy / fy + 0.3 * (0.5 * height / fy)
    tx = tz * torch.minimum(torch.maximum(tx / tz, -lim_x_neg), lim_x_pos)
    ty = tz * torch.minimum(torch.maximum(ty / tz, -lim_y_neg), lim_y_pos)
    zeros = torch.zeros_like(tz)
    J = torch.stack([fx / tz, zeros, -fx * tx / tz**2, zeros, fy / tz, -fy * ty / tz**2], dim=-1)
    return J.reshape(*tz.shape, 2, 3)


def project_gaussians(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3]
    viewmats: Tensor,  # [C, 4, 4] world-to-camera (OpenCV)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
) -> Projected:
    """Project N 3D Gaussians into C cameras (see the module docstring for the maths)."""
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # [C, N, 3]
    depths = means_c[..., 2]
    in_depth = (depths > near_plane) & (depths < far_plane)
    # Culled Gaussians still flow through the maths below; give them a harmless depth so that no
    # inf/NaN appears in the forward or (0 * inf) in the backward pass.
    safe_z = torch.where(in_depth, depths, torch.ones_like(depths))
    means_c = torch.cat([means_c[..., :2], safe_z[..., None]], dim=-1)

    # Sigma_2d = J W Sigma W^T J^T = (J W R S)(J W R S)^T: one factor, then its Gram matrix.
    J = _perspective_jacobian(means_c, Ks, width, height)  # [C, N, 2, 3]
    RS = quat_to_rotmat(quats) * scales[:, None, :]  # [N, 3, 3]
    JWRS = (J @ R[:, None]) @ RS  # [C, N, 2, 3]
    covars2d = JWRS @ JWRS.transpose(-1, -2)  # [C, N, 2, 2]
    a = covars2d[..., 0, 0] + eps2d
    b = covars2d[..., 0, 1]
    c = covars2d[..., 1, 1] + eps2d
    det = a * c - b * b
    valid = in_depth & (det > 0)
    det = det.clamp_min(1e-10)
    conics = torch.stack([c / det, -b / det, a / det], dim=-1)

    uv = means_c[..., :2] / safe_z[..., None]
    means2d = uv * torch.stack([Ks[:, 0, 0], Ks[:, 1, 1]], -1)[:, None] + Ks[:, None, :2, 2]

    with torch.no_grad():
        mid = 0.5 * (a + c)
        lambda_max = mid + torch.sqrt(torch.clamp_min(mid * mid - det, 0.01))
        radius = torch.ceil(3.0 * torch.sqrt(lambda_max))
        on_screen = (
            (means2d[..., 0] + radius > 0)
            & (means2d[..., 0] - radius < width)
            & (means2d[..., 1] + radius > 0)
            & (means2d[..., 1] - radius < height)
        )
        radii = torch.where(valid & on_screen, radius, torch.zeros_like(radius)).to(torch.int32)
    return Projected(means2d=means2d, conics=conics, depths=depths, radii=radii)
