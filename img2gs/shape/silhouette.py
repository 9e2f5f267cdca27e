"""Multi-view silhouette consistency of two depth layers: a loss term of the shape stage.

The depth losses (loss.py) score each pixel's depth on its own; what the product needs is that the
photo lifted on the layers (img2gs.proxy.lift) has the object's outline from the OTHER poses. Every
training sample holds those outlines (views 1..V-1 of the data), so the layers are also scored there:
the input pixels' rays carry points at the front, at the back and between them; the points are
projected into the sample's other views, and

    carve = mean over front / back points and views of D_out(projected point)
            (D_out: distance to the view's silhouette, 0 inside: a surface point must fall inside
             every silhouette; points between the layers may rightly fall in a hole, so they don't count)
    cover = mean over silhouette pixels of min(tau, distance to the nearest projected point)
            (every silhouette pixel should be explained by some lifted point; truncated at tau so that
             parts no input ray can reach, hidden in the photo, do not drag the layers around)

in units of the image side. The TRUE layers give carve ~ 0 and a small cover (what hides from the
photo); layers that are too thin fail cover at the side views, layers too thick or tilted wrongly
fail carve. Differentiable in the depths: each point moves along its fixed ray.

Costs, per batch: B x T target views of R x R for the distance fields (scipy, no gradient), and
B x `cover_views` x `cover_pixels` x (P x F) distances for cover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt
from torch import Tensor

from img2gs.cameras import FOV_DEG, INPUT_AZIMUTH_DEG, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w, \
    project_points, viewmat_from_c2w
from img2gs.ray_maps import camera_ray_directions

LAYER_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)  # points per ray: front, three between, back
SURFACE = (0, len(LAYER_FRACTIONS) - 1)  # indices of the front and back points


@dataclass(frozen=True)
class SilhouetteSampling:
    pixels: int = 256  # input pixels sampled per photo (rays)
    cover_views: int = 3  # target views per photo that cover is measured in
    cover_pixels: int = 192  # silhouette pixels sampled per such view
    truncate: float = 0.1  # tau, in image sides


def outside_distance(alpha: Tensor) -> Tensor:
    """[..., R, R] alpha -> distance of each pixel to the nearest pixel with alpha > 0.5, in image sides
    (0 inside; the image side where a view is empty)."""
    inside = (alpha > 0.5).reshape(-1, *alpha.shape[-2:]).cpu().numpy()
    out = np.ones(inside.shape, np.float32)
    for k, mask in enumerate(inside):
        if mask.any():
            out[k] = distance_transform_edt(~mask) / mask.shape[-1]
    return torch.from_numpy(out).reshape(alpha.shape).to(alpha.device)


def layer_points(front: Tensor, back: Tensor, elevation: Tensor, pixel_index: Tensor) -> Tensor:
    """World points [B, P, F, 3] at LAYER_FRACTIONS between front and back [B, R, R] (camera z) along the
    input camera's rays (elevation [B] degrees, azimuth 0) through pixels `pixel_index` [B, P] (flat)."""
    b, r = front.shape[0], front.shape[-1]
    K = intrinsics_from_fov(FOV_DEG, r, r).to(front)
    directions = camera_ray_directions(K, r).reshape(-1, 3)[pixel_index]  # [B, P, 3], camera z = -1
    c2w = orbit_to_c2w(elevation, torch.full_like(elevation, INPUT_AZIMUTH_DEG),
                       torch.full_like(elevation, ORBIT_RADIUS)).to(front)  # [B, 4, 4]
    rays = directions @ c2w[:, :3, :3].transpose(1, 2)  # [B, P, 3] world, unit camera z
    z_front = front.reshape(b, -1).gather(1, pixel_index)  # [B, P]
    z_back = back.reshape(b, -1).gather(1, pixel_index)
    t = torch.tensor(LAYER_FRACTIONS, dtype=front.dtype, device=front.device)
    z = z_front[..., None] + t * (z_back - z_front)[..., None]  # [B, P, F]
    return c2w[:, None, None, :3, 3] + z[..., None] * rays[:, :, None, :]


def project_to_views(points: Tensor, poses: Tensor, size: int) -> Tensor:
    """Points [B, N, 3] into views (elevation, azimuth, radius) poses [B, T, 3] -> [B, T, N, 2] in [-1, 1]
    (grid_sample's convention, align_corners=False)."""
    viewmats = viewmat_from_c2w(orbit_to_c2w(poses[..., 0], poses[..., 1], poses[..., 2]).double()).to(points)
    K = intrinsics_from_fov(FOV_DEG, size, size).to(points)
    uv, _ = project_points(points[:, None], viewmats, K)  # [B, T, N, 2] pixels
    return uv / size * 2.0 - 1.0


def _sample_where(weights: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """[..., M] non-negative weights -> [..., n] indices drawn with replacement (uniform where all zero)."""
    flat = weights.reshape(-1, weights.shape[-1]).float() + 1e-12
    return torch.multinomial(flat.cpu(), n, replacement=True, generator=generator).reshape(*weights.shape[:-1], n
                                                                                       ).to(weights.device)


def silhouette_terms(front: Tensor, back: Tensor, valid: Tensor, elevation: Tensor, target_alpha: Tensor,
                     target_poses: Tensor, generator: torch.Generator,
                     sampling: SilhouetteSampling = SilhouetteSampling()) -> dict[str, Tensor]:
    """{"carve", "cover"} of layers front, back [B, R, R] (valid [B, R, R] bool: the photo's object pixels,
    elevation [B]) against the silhouettes target_alpha [B, T, S, S] at target_poses [B, T, 3]."""
    b, t, s = target_alpha.shape[0], target_alpha.shape[1], target_alpha.shape[-1]
    has_object = valid.flatten(1).any(1)  # [B]
    pixel_index = _sample_where(valid.flatten(1), sampling.pixels, generator)  # [B, P]
    points = layer_points(front, back, elevation, pixel_index)  # [B, P, F, 3]
    grid = project_to_views(points.reshape(b, -1, 3), target_poses, s).reshape(b, t, sampling.pixels, -1, 2)

    distance = outside_distance(target_alpha)  # [B, T, S, S]
    surface = grid[:, :, :, list(SURFACE)].reshape(b * t, 1, -1, 2)
    d_out = F.grid_sample(distance.reshape(b * t, 1, s, s).to(grid), surface, align_corners=False,
                          padding_mode="border").reshape(b, t, -1)
    carve = (d_out.mean(dim=(1, 2)) * has_object).sum() / has_object.sum().clamp_min(1)

    views = _sample_where(torch.ones(b, t), sampling.cover_views, generator)  # [B, Tc]
    alpha = target_alpha.gather(1, views[..., None, None].expand(-1, -1, s, s).to(target_alpha.device))
    inside = alpha.flatten(2) > 0.5  # [B, Tc, S*S]
    chosen = _sample_where(inside, sampling.cover_pixels, generator)  # [B, Tc, Q]
    centres = (torch.stack(torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")[::-1], -1)
               .reshape(-1, 2).to(grid) + 0.5) / s * 2.0 - 1.0  # [S*S, 2] (x, y) in [-1, 1]
    silhouette_points = centres[chosen]  # [B, Tc, Q, 2]
    projected = grid.gather(1, views[:, :, None, None, None].expand(-1, -1, *grid.shape[2:]).to(grid.device))
    projected = projected.reshape(b, sampling.cover_views, -1, 2)  # [B, Tc, N, 2]
    with torch.no_grad():  # the nearest point of each silhouette pixel; the gradient flows through it alone
        which = torch.cdist(silhouette_points, projected).argmin(-1)  # [B, Tc, Q]
    nearest = projected.gather(2, which[..., None].expand(-1, -1, -1, 2))  # [B, Tc, Q, 2]
    # [-1, 1] units are 2 per image side
    gap = (0.5 * (silhouette_points - nearest).norm(dim=-1)).clamp(max=sampling.truncate)  # [B, Tc, Q]
    counted = inside.any(-1) & has_object[:, None]  # [B, Tc]: views with a silhouette
    cover = (gap.mean(-1) * counted).sum() / counted.sum().clamp_min(1)
    return {"carve": carve, "cover": cover}
