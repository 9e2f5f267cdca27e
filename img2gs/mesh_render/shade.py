"""Deferred shading of rasterized samples: colour, texture and normal interpolated with the
perspective-correct barycentrics, then Lambert + ambient with a world-fixed light, two-sided.

    rgb = clip(albedo * (ambient + (1 - ambient) * max(0, n . l)), 0, 1)

where albedo = interpolated corner colour (times the bilinear, repeat-wrapped texture sample for
textured faces) and n = the normalised interpolated corner normal, turned towards the camera.

`shade` is a numba kernel (parallel over views); `shade_reference` is its vectorised numpy twin,
written for clarity; tests compare the two.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from img2gs.mesh_render.surface import RenderSurface
from img2gs.mesh_render.texture import sample_bilinear


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
    _shade_kernel(np.ascontiguousarray(face_id, dtype=np.int32), np.ascontiguousarray(bary, dtype=np.float32), corners,
                  np.ascontiguousarray(surface.face_texture, dtype=np.int32), texels, offsets, sizes,
                  back_facing(surface, camera_centres), np.asarray(light, np.float64), float(ambient), rgb, normals)
    return rgb, normals


def shade_reference(
    surface: RenderSurface,
    face_id: np.ndarray,
    bary: np.ndarray,
    camera_centres: np.ndarray,
    light: np.ndarray,
    ambient: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The same as `shade`, vectorised over covered samples with numpy."""
    flat = np.flatnonzero(face_id.reshape(-1) >= 0)  # covered samples
    view = flat // (face_id.shape[1] * face_id.shape[2])
    fid = face_id.reshape(-1)[flat]
    weights = bary.reshape(-1, 3)[flat]  # [P, 3]

    corners = np.concatenate([surface.corner_colors, surface.corner_normals, surface.corner_uv], -1)[fid]
    attributes = sum(weights[:, k, None] * corners[:, k] for k in range(3))  # [P, 8]
    albedo, normal, uv = attributes[:, :3], _unit(attributes[:, 3:6]), attributes[:, 6:8]
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


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


@numba.njit(parallel=True, cache=True, nogil=True)
def _shade_kernel(face_id, bary, corners, face_texture, texels, offsets, sizes, facing_away, light, ambient,
                  rgb, normals):  # pragma: no cover - compiled
    n_views, height, width = face_id.shape
    for view in numba.prange(n_views):
        attr = np.empty(8)  # interpolated colour (3), normal (3), uv (2)
        for row in range(height):
            for col in range(width):
                f = face_id[view, row, col]
                if f < 0:
                    continue
                b0, b1, b2 = bary[view, row, col, 0], bary[view, row, col, 1], bary[view, row, col, 2]
                for k in range(8):
                    attr[k] = b0 * corners[f, 0, k] + b1 * corners[f, 1, k] + b2 * corners[f, 2, k]
                t = face_texture[f]
                if t >= 0:
                    _multiply_texel(texels, offsets[t], sizes[t, 0], sizes[t, 1], attr)
                length = max(math.sqrt(attr[3] * attr[3] + attr[4] * attr[4] + attr[5] * attr[5]), 1e-12)
                sign = -1.0 if facing_away[view, f] else 1.0
                nx, ny, nz = sign * attr[3] / length, sign * attr[4] / length, sign * attr[5] / length
                lambert = max(nx * light[0] + ny * light[1] + nz * light[2], 0.0)
                factor = ambient + (1.0 - ambient) * lambert
                for c in range(3):
                    rgb[view, row, col, c] = min(max(attr[c] * factor, 0.0), 1.0)
                normals[view, row, col, 0] = nx
                normals[view, row, col, 1] = ny
                normals[view, row, col, 2] = nz


@numba.njit(inline="always", cache=True)
def _multiply_texel(texels, offset, h, w, attr):  # pragma: no cover - compiled
    """attr[0:3] *= bilinear texel at uv = attr[6:8] (repeat wrapping; see texture.py)."""
    x = attr[6] * w - 0.5
    y = (1.0 - attr[7]) * h - 0.5
    x0, y0 = math.floor(x), math.floor(y)
    fx, fy = x - x0, y - y0
    c0, r0 = int(x0) % w, int(y0) % h
    c1, r1 = (c0 + 1) % w, (r0 + 1) % h
    for c in range(3):
        top = texels[offset + (r0 * w + c0) * 3 + c] * (1 - fx) + texels[offset + (r0 * w + c1) * 3 + c] * fx
        bottom = texels[offset + (r1 * w + c0) * 3 + c] * (1 - fx) + texels[offset + (r1 * w + c1) * 3 + c] * fx
        attr[c] *= top * (1 - fy) + bottom * fy
