"""The pure-torch twin of `shade` (shade.py): vectorised over the covered samples, float64, written for
clarity and compared with the numba kernel (_shade_kernels.py) in tests. Same interface as `shade`
(numpy in, numpy out, like the rest of the mesh renderer)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from img2gs.mesh_render.shade import back_facing
from img2gs.mesh_render.surface import RenderSurface


def shade(
    surface: RenderSurface,
    face_id: np.ndarray,  # [N, H, W] int32, -1 empty
    bary: np.ndarray,  # [N, H, W, 3]
    camera_centres: np.ndarray,  # [N, 3]
    light: np.ndarray,  # [3]
    ambient: float,
) -> tuple[np.ndarray, np.ndarray]:
    """As shade.shade: shaded RGB [N, H, W, 3] and camera-facing normals [N, H, W, 3] float32."""
    ids = torch.from_numpy(np.asarray(face_id, np.int64)).reshape(-1)
    flat = torch.nonzero(ids >= 0)[:, 0]  # covered samples
    view, fid = flat // (face_id.shape[1] * face_id.shape[2]), ids[flat]
    weights = torch.from_numpy(np.asarray(bary, np.float64)).reshape(-1, 3)[flat]  # [P, 3]

    corners = torch.from_numpy(np.concatenate([surface.corner_colors, surface.corner_normals, surface.corner_uv],
                                              -1).astype(np.float64))[fid]  # [P, 3 corners, 8]
    attributes = (weights[:, :, None] * corners).sum(dim=1)  # [P, 8]
    albedo, uv = attributes[:, :3].clone(), attributes[:, 6:8]
    normal = attributes[:, 3:6] / attributes[:, 3:6].norm(dim=-1, keepdim=True).clamp_min(1e-12)
    texture_of = torch.from_numpy(np.asarray(surface.face_texture, np.int64))[fid]
    for t, image in enumerate(surface.textures):
        sel = texture_of == t
        albedo[sel] *= bilinear(torch.from_numpy(np.asarray(image, np.float64)), uv[sel])

    facing_away = torch.from_numpy(back_facing(surface, camera_centres))[view, fid]
    normal = torch.where(facing_away[:, None], -normal, normal)
    lambert = (normal @ torch.as_tensor(light, dtype=torch.float64)).clamp_min(0.0)[:, None]
    rgb_samples = (albedo * (ambient + (1.0 - ambient) * lambert)).clamp(0.0, 1.0)

    rgb = torch.zeros(ids.numel(), 3, dtype=torch.float64)
    normals = torch.zeros(ids.numel(), 3, dtype=torch.float64)
    rgb[flat], normals[flat] = rgb_samples, normal
    shape = (*face_id.shape, 3)
    return rgb.reshape(shape).float().numpy(), normals.reshape(shape).float().numpy()


def bilinear(image: Tensor, uv: Tensor) -> Tensor:
    """image [h, w, C], uv [P, 2] -> [P, C]: GL_LINEAR + GL_REPEAT, (0, 0) the image's bottom-left corner
    (mesh_render/texture.py's convention)."""
    h, w = image.shape[:2]
    x, y = uv[:, 0] * w - 0.5, (1.0 - uv[:, 1]) * h - 0.5  # continuous texel coordinates, centres at integers
    x0, y0 = x.floor(), y.floor()
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    c0, r0 = x0.long() % w, y0.long() % h
    c1, r1 = (c0 + 1) % w, (r0 + 1) % h
    top = image[r0, c0] * (1 - fx) + image[r0, c1] * fx
    bottom = image[r1, c0] * (1 - fx) + image[r1, c1] * fx
    return top * (1 - fy) + bottom * fy
