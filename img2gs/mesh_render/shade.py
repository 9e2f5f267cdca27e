"""Deferred shading of rasterized samples: colour, texture and normal interpolated with the
perspective-correct barycentrics, then Lambert + ambient with a world-fixed light, two-sided.

    rgb = clip(albedo * (ambient + (1 - ambient) * max(0, n . l)), 0, 1)

where albedo = interpolated corner colour (times the bilinear, repeat-wrapped texture sample for
textured faces) and n = the normalised interpolated corner normal, turned towards the camera.

`shade` runs a numba kernel (_shade_kernels.py, parallel over views); _shade_torch.py is its vectorised
pure-torch twin, written for clarity; tests compare the two.
"""

from __future__ import annotations

import numpy as np

from img2gs.mesh_render._shade_kernels import shade_kernel
from img2gs.mesh_render.surface import RenderSurface


def shade(
    surface: RenderSurface,
    face_id: np.ndarray,  # [N, H, W] int32, -1 empty
    bary: np.ndarray,  # [N, H, W, 3] perspective-correct corner weights
    camera_centres: np.ndarray,  # [N, 3] world
    light: np.ndarray,  # [3] unit, towards the light
    ambient: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Shaded RGB [N, H, W, 3] and camera-facing world normals [N, H, W, 3] float32 (0 where empty)."""
    corners = np.ascontiguousarray(
        np.concatenate([surface.corner_colors, surface.corner_normals, surface.corner_uv], -1), dtype=np.float32
    )  # [F, 3, 8]: colour, normal, uv
    texels, offsets, sizes = _pack_textures(surface.textures)
    rgb = np.zeros((*face_id.shape, 3), np.float32)
    normals = np.zeros((*face_id.shape, 3), np.float32)
    shade_kernel(np.ascontiguousarray(face_id, dtype=np.int32), np.ascontiguousarray(bary, dtype=np.float32), corners,
                 np.ascontiguousarray(surface.face_texture, dtype=np.int32), texels, offsets, sizes,
                 back_facing(surface, camera_centres), np.asarray(light, np.float64), float(ambient), rgb, normals)
    return rgb, normals


def back_facing(surface: RenderSurface, camera_centres: np.ndarray) -> np.ndarray:
    """[N, F] bool: the camera sees the side opposite to the face's winding normal."""
    tri = surface.vertices[surface.faces]  # [F, 3, 3]
    face_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # [F, 3]
    to_face = tri[None, :, 0, :] - camera_centres[:, None, :]  # [N, F, 3]
    return np.einsum("nfc,fc->nf", to_face, face_normal) > 0.0


def _pack_textures(textures) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All textures in one flat float32 buffer [sum(h * w * 3)], with offsets [T] and sizes [T, 2] (h, w)."""
    if not textures:
        return np.zeros(3, np.float32), np.zeros(1, np.int64), np.ones((1, 2), np.int64)
    sizes = np.array([t.shape[:2] for t in textures], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes[:, 0] * sizes[:, 1] * 3)[:-1]]).astype(np.int64)
    texels = np.concatenate([np.ascontiguousarray(t, dtype=np.float32).reshape(-1) for t in textures])
    return texels, offsets, sizes


def unit(v: np.ndarray) -> np.ndarray:
    """`v` scaled to unit length along its last axis (zero vectors stay ~0)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
