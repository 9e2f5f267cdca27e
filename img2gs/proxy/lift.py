"""Lift a framed photo to a coloured 3D proxy: one column of Gaussians per foreground pixel.

For every pixel of the photo (resampled to `LiftConfig.size`) whose alpha exceeds the threshold, the
pixel's ray from the input camera (img2gs.cameras) carries
    * a FRONT Gaussian at the front depth, coloured by the pixel (it is what the photo shows),
    * a BACK Gaussian at the back depth, coloured by the same pixel (the back as a mirror of the
      front: reflecting the object through its depth plane maps each pixel onto itself; rim pixels,
      whose colour mixes in the old background, take their nearest opaque pixel's colour instead),
    * FILL Gaussians between them, stretched along the ray (sigma a quarter of the segment, so that
      +-2 sigma spans it and no segment pokes out of the layers), so that the column is solid when
      seen from the side (at most `max_fill` segments of at most `fill_spacing` footprints each).
Front and back Gaussians are isotropic with sigma = `scale_factor` x the pixel footprint z / f.

Depth layers come in at any resolution (the shape stage's, or true depth); they are extended from
the object's pixels into the background by nearest-neighbour fill, then resampled bilinearly, so
pixels at the photo's silhouette never take a depth from outside the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from img2gs.cameras import FOV_DEG, OrbitPose, intrinsics_from_fov
from img2gs.errors import DataFormatError
from img2gs.image_io import fill_from_nearest, resize_rgba
from img2gs.ray_maps import camera_ray_directions
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.sh import num_sh_bases, rgb_to_sh0


@dataclass(frozen=True)
class LiftConfig:
    size: int = 128  # lift resolution: one column of Gaussians per foreground pixel at this side
    alpha_threshold: float = 0.5  # pixels with more coverage than this are lifted
    scale_factor: float = 0.3  # sigma of front / back Gaussians in pixel footprints
    fill_scale_factor: float = 0.2  # sigma of fill Gaussians across the ray, in pixel footprints
    fill_spacing: float = 4.0  # longest fill segment, in pixel footprints
    max_fill: int = 8  # most fill segments per pixel
    opacity: float = 0.95
    interior_alpha: float = 0.95  # back and fill Gaussians take the colour of the nearest pixel this opaque

    def __post_init__(self) -> None:
        if not 8 <= self.size <= 1024:
            raise ValueError(f"lift size must be in 8..1024, got {self.size}")


@dataclass(frozen=True)
class LiftedProxy:
    gaussians: Gaussians
    seen: Tensor  # [N] float32: 1 for front Gaussians (seen in the photo), 0 for back and fill
    layer: Tensor  # [N] int8: 0 front, 1 back, 2 fill


def extend_depth(depth: Tensor, valid: Tensor) -> Tensor:
    """depth [R, R] with every invalid pixel set to the depth of its nearest valid pixel."""
    if not bool(valid.any()):
        raise DataFormatError("lifting the photo to 3D: the depth layers cover none of the object's pixels "
                              "(the object is too small or too thin in the photo)")
    return fill_from_nearest(depth, valid)


def interior_colors(image: Tensor, min_alpha: float) -> Tensor:
    """[L, L, 3]: each pixel's colour replaced by that of its nearest pixel with alpha >= `min_alpha`.

    Rim pixels of a cut-out mix the object with its old background (a halo the matting leaves); on the
    front layer that is what the photo shows, but repeated on the back and along every fill segment it
    paints a background-coloured streak down the object's side. Without opaque pixels: the image's own."""
    solid = image[..., 3] >= min_alpha
    if not bool(solid.any()):
        return image[..., :3]
    return fill_from_nearest(image[..., :3], solid)


def resample_layer(depth: Tensor, valid: Tensor, size: int) -> Tensor:
    """A depth layer [R, R] at [size, size]: extended past `valid`, then bilinear."""
    full = extend_depth(depth.float(), valid)
    return F.interpolate(full[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]


def pixel_rays(pose: OrbitPose, size: int) -> tuple[Tensor, Tensor, float]:
    """(camera centre [3], unit world ray directions [size, size, 3] through the pixel centres scaled so
    that the camera-z component is 1 (point = centre + z * ray), focal length in pixels)."""
    K = intrinsics_from_fov(FOV_DEG, size, size)
    c2w = pose.c2w()
    cam = camera_ray_directions(K, size)  # [S, S, 3] at camera z = 1 (OpenGL: looking along -Z)
    return c2w[:3, 3], cam @ c2w[:3, :3].T, float(K[0, 0])


def lift_photo(
    photo: Tensor,  # [S, S, 4] straight-alpha RGBA of the framed photo
    front: Tensor,  # [R, R] camera z of the first surface (any R; 0 or anything where not valid)
    back: Tensor,  # [R, R] camera z of the last surface
    valid: Tensor,  # [R, R] bool: where the layers are meaningful (the object at the layers' resolution)
    pose: OrbitPose,  # the photo's camera
    config: LiftConfig = LiftConfig(),
    sh_degree: int = 0,
) -> LiftedProxy:
    """The photo's pixels as Gaussians on and between the two layers (see the module docstring)."""
    size = config.size
    image = resize_rgba(photo.float(), size)  # [L, L, 4]
    z_front = resample_layer(front, valid, size)
    z_back = torch.maximum(resample_layer(back, valid, size), z_front)
    mask = image[..., 3] > config.alpha_threshold
    if int(mask.sum()) < 2:
        raise DataFormatError("lifting the photo to 3D: the photo has no foreground (its alpha is empty)")
    centre, rays, focal = pixel_rays(pose, size)
    inner = interior_colors(image, config.interior_alpha)[mask]  # [P, 3]
    rays, color, alpha = rays[mask], image[..., :3][mask], image[..., 3][mask]  # [P, 3], [P, 3], [P]
    zf, zb = z_front[mask], z_back[mask]  # [P]
    direction = F.normalize(rays, dim=-1)
    ray_len = rays.norm(dim=-1)  # distance per unit of camera z

    means = [centre + zf[:, None] * rays, centre + zb[:, None] * rays]
    sigmas = [config.scale_factor * zf / focal, config.scale_factor * zb / focal]
    iso = [torch.stack([s, s, s], dim=-1) for s in sigmas]
    quats = [_identity_quats(len(zf)), _identity_quats(len(zf))]
    colors, opacity = [color, inner], [alpha, alpha]
    layer = [torch.zeros(len(zf), dtype=torch.int8), torch.ones(len(zf), dtype=torch.int8)]

    footprint = 0.5 * (zf + zb) / focal
    segments = torch.ceil((zb - zf) / (config.fill_spacing * footprint)).clamp(0, config.max_fill).long()
    for k in range(config.max_fill):
        has = segments > k  # pixels with a (k+1)-th fill segment
        if not bool(has.any()):
            break
        n = segments[has].float()
        length = (zb[has] - zf[has]) / n  # camera-z length of one segment
        z_mid = zf[has] + (k + 0.5) * length
        means.append(centre + z_mid[:, None] * rays[has])
        across = config.fill_scale_factor * z_mid / focal
        along = torch.maximum(0.25 * length * ray_len[has], across)  # +-2 sigma spans the segment
        iso.append(torch.stack([across, across, along], dim=-1))
        quats.append(_quats_z_to(direction[has]))
        colors.append(inner[has])
        opacity.append(alpha[has])
        layer.append(torch.full((int(has.sum()),), 2, dtype=torch.int8))

    layer_t = torch.cat(layer)
    params = {
        "means": torch.cat(means),
        "scales": torch.log(torch.cat(iso).clamp_min(1e-6)),
        "quats": torch.cat(quats),
        "opacities": torch.logit((torch.cat(opacity) * config.opacity).clamp(0.05, 0.995)),
        "sh0": rgb_to_sh0(torch.cat(colors).clamp(0.0, 1.0))[:, None, :],
        "shN": torch.zeros(len(layer_t), num_sh_bases(sh_degree) - 1, 3),
    }
    return LiftedProxy(Gaussians(params), seen=(layer_t == 0).float(), layer=layer_t)


def _identity_quats(n: int) -> Tensor:
    return torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, 4).clone()


def _quats_z_to(direction: Tensor) -> Tensor:
    """Quaternions [P, 4] (w, x, y, z) rotating +Z onto unit `direction` [P, 3] (not onto -Z)."""
    d = direction
    q = torch.stack([1.0 + d[:, 2], -d[:, 1], d[:, 0], torch.zeros_like(d[:, 0])], dim=-1)
    return F.normalize(q, dim=-1)
