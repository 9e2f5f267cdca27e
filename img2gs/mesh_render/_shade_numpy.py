"""The vectorised twin of `shade` (shade.py), written for clarity and compared with the numba kernel in
tests. It is numpy, not torch, like the rest of the mesh renderer (whose inputs and outputs are numpy)."""

from __future__ import annotations

import numpy as np

from img2gs.mesh_render.shade import back_facing, unit
from img2gs.mesh_render.surface import RenderSurface
from img2gs.mesh_render.texture import sample_bilinear


def shade(
    surface: RenderSurface,
    face_id: np.ndarray,
    bary: np.ndarray,
    camera_centres: np.ndarray,
    light: np.ndarray,
    ambient: float,
) -> tuple[np.ndarray, np.ndarray]:
    """As shade.shade, vectorised over covered samples."""
    flat = np.flatnonzero(face_id.reshape(-1) >= 0)  # covered samples
    view = flat // (face_id.shape[1] * face_id.shape[2])
    fid = face_id.reshape(-1)[flat]
    weights = bary.reshape(-1, 3)[flat]  # [P, 3]

    corners = np.concatenate([surface.corner_colors, surface.corner_normals, surface.corner_uv], -1)[fid]
    attributes = sum(weights[:, k, None] * corners[:, k] for k in range(3))  # [P, 8]
    albedo, normal, uv = attributes[:, :3], unit(attributes[:, 3:6]), attributes[:, 6:8]
    texture_of = surface.face_texture[fid]
    for t, image in enumerate(surface.textures):
        sel = np.flatnonzero(texture_of == t)
        albedo[sel] *= sample_bilinear(image, uv[sel])

    facing_away = back_facing(surface, camera_centres)[view, fid]
    normal[facing_away] *= -1.0
    lambert = np.clip(normal @ np.asarray(light, np.float32), 0.0, None)[:, None]
    rgb_samples = np.clip(albedo * (ambient + (1.0 - ambient) * lambert), 0.0, 1.0)

    rgb = np.zeros((face_id.size, 3), np.float32)
    normals = np.zeros((face_id.size, 3), np.float32)
    rgb[flat] = rgb_samples
    normals[flat] = normal
    return rgb.reshape(*face_id.shape, 3), normals.reshape(*face_id.shape, 3)
