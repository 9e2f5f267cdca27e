"""Per-pixel camera ray maps in Plücker coordinates, relative to a reference camera.

For every pixel of a target camera, its ray (origin o, unit direction d) is expressed in the frame of
the reference (input) camera and written as the 6-vector (d, o x d) (Plücker coordinates, as LGM and
Free3D condition their generators): the map tells a network, pixel by pixel, where the target camera
looks relative to the photo. Origins are in units of the orbit radius, so every channel is O(1).

    plucker_ray_map(c2w_targets [V, 4, 4], c2w_reference [4, 4], K [3, 3], size) -> [V, 6, size, size]

Cameras follow img2gs.cameras (OpenGL: +X right, +Y up, looking along -Z; pixel rows grow downwards).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from img2gs.cameras import ORBIT_RADIUS

RAY_CHANNELS = 6


def camera_ray_directions(K: Tensor, size: int) -> Tensor:
    """[size, size, 3] camera-frame directions through the pixel centres (camera z = -1, not unit)."""
    coords = torch.arange(size, dtype=K.dtype, device=K.device) + 0.5
    v, u = torch.meshgrid(coords, coords, indexing="ij")
    x = (u - K[0, 2]) / K[0, 0]
    y = -(v - K[1, 2]) / K[1, 1]
    return torch.stack([x, y, -torch.ones_like(x)], dim=-1)


def plucker_ray_map(c2w_targets: Tensor, c2w_reference: Tensor, K: Tensor, size: int) -> Tensor:
    """Plücker rays [V, 6, size, size] of each target camera's pixels in the reference camera's frame."""
    relative = torch.linalg.inv(c2w_reference.double())[None] @ c2w_targets.double()  # [V, 4, 4] target -> ref
    directions = camera_ray_directions(K.double(), size)  # [S, S, 3]
    d = F.normalize(torch.einsum("vij,hwj->vhwi", relative[:, :3, :3], directions), dim=-1)  # [V, S, S, 3]
    o = (relative[:, :3, 3] / ORBIT_RADIUS)[:, None, None, :].expand_as(d)  # [V, S, S, 3]
    rays = torch.cat([d, torch.cross(o, d, dim=-1)], dim=-1)  # [V, S, S, 6]
    return rays.permute(0, 3, 1, 2).to(c2w_targets.dtype).contiguous()
