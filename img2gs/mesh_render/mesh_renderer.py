"""Render meshes from posed cameras: RGBA (straight alpha = coverage), depth and world normals.

Pipeline: project the vertices with the camera contract (img2gs.cameras), rasterize at `supersample`
times the resolution with the numba z-buffer (img2gs.mesh_render.rasterize), shade every covered sample
(deferred: colour / texture / normal interpolated with perspective-correct barycentrics), then
box-downsample so that alpha is the fraction of covered samples.

Shading is Lambertian plus ambient with one directional light fixed in the world, so it does not
depend on the view: `albedo * (ambient + (1 - ambient) * max(0, n . l))`, with the normal turned
towards the camera (two-sided surfaces). `ambient=1` gives the unlit albedo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w
from img2gs.mesh_render.rasterize import rasterize
from img2gs.mesh_render.shade import shade, unit
from img2gs.mesh_render.surface import RenderSurface, prepare_surface

# Towards the light: from the front-right of the input camera (azimuth 0) and above.
DEFAULT_LIGHT_DIR = (0.5, -0.3, 1.0)


@dataclass
class MeshRender:
    """Renders of one mesh from N cameras."""

    rgba: Tensor  # [N, H, W, 4] float32 in [0, 1]; straight alpha = pixel coverage
    depth: Tensor  # [N, H, W] float32 camera-space z of the covered part (mean), 0 where empty
    normal: Tensor  # [N, H, W, 3] float32 unit world normals facing the camera, 0 where empty


def render_mesh(
    mesh: trimesh.Trimesh | trimesh.Scene | RenderSurface,
    c2w: Tensor,  # [N, 4, 4] camera-to-world, OpenGL convention (img2gs.cameras)
    K: Tensor,  # [3, 3] or [N, 3, 3] pinhole intrinsics in pixels
    width: int,
    height: int,
    *,
    light_dir: Tensor | np.ndarray | tuple[float, float, float] | None = None,  # [3] world, towards the light
    ambient: float = 0.35,
    supersample: int = 2,
    background: float | Tensor | None = None,  # None: straight alpha; else RGB composited over it
) -> MeshRender:
    """Render `mesh` from N cameras. See the module docstring for the shading model."""
    c2w, K = _check_cameras(c2w, K)
    if width < 1 or height < 1 or supersample < 1:
        raise ValueError(f"width, height and supersample must be >= 1, got {width}, {height}, {supersample}")
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient must be in [0, 1], got {ambient}")
    surface = prepare_surface(mesh)
    light = unit(np.asarray(DEFAULT_LIGHT_DIR if light_dir is None else light_dir, dtype=np.float64))

    face_id, bary, depth = _rasterize_supersampled(surface.vertices, surface.faces, c2w, K, width, height,
                                                   supersample)
    camera_centres = c2w[:, :3, 3].double().numpy()
    rgb, normal = shade(surface, face_id, bary, camera_centres, light, ambient)
    return _downsample(rgb, normal, depth, face_id >= 0, supersample, background)


def render_coverage(
    vertices: np.ndarray,  # [V, 3] world
    faces: np.ndarray,  # [F, 3] int
    c2w: Tensor,  # [N, 4, 4]
    K: Tensor,  # [3, 3] or [N, 3, 3]
    width: int,
    height: int,
    supersample: int = 2,
) -> Tensor:
    """[N, H, W] float32 fraction of each pixel the mesh covers: `render_mesh`'s alpha without shading
    (what silhouettes need; the shading is most of a render's time)."""
    c2w, K = _check_cameras(c2w, K)
    face_id, _, _ = _rasterize_supersampled(np.asarray(vertices, dtype=np.float64),
                                            np.ascontiguousarray(faces, dtype=np.int32), c2w, K, width, height,
                                            supersample)
    coverage = _box_sum((face_id >= 0).astype(np.float32), supersample) / (supersample * supersample)
    return torch.from_numpy(np.ascontiguousarray(coverage, dtype=np.float32))


def _rasterize_supersampled(vertices: np.ndarray, faces: np.ndarray, c2w: Tensor, K: Tensor, width: int,
                            height: int, supersample: int):
    """(face_id, bary, depth) of the z-buffer at `supersample` times the resolution."""
    fine_K = K.clone()
    fine_K[:, :2, :] *= supersample  # fx, cx, fy, cy scale with the resolution
    screen = project_vertices(vertices, c2w, fine_K)
    return rasterize(screen, faces, height * supersample, width * supersample)


def _box_sum(a: np.ndarray, s: int) -> np.ndarray:
    """[N, s H, s W, ...] -> [N, H, W, ...] sums of s x s blocks (strided slices: much faster than a 6-D
    reshape-sum)."""
    return sum(a[:, dy::s, dx::s] for dy in range(s) for dx in range(s))


def project_vertices(vertices: np.ndarray, c2w: Tensor, K: Tensor) -> np.ndarray:
    """vertices [V, 3] world, c2w [N, 4, 4], K [N, 3, 3] -> screen [N, V, 3] float64 (u, v, camera z)."""
    viewmat = viewmat_from_c2w(c2w.double()).numpy()  # OpenCV world-to-camera
    K = K.double().numpy()
    cam = vertices @ viewmat[:, :3, :3].transpose(0, 2, 1) + viewmat[:, None, :3, 3]  # [N, V, 3] (BLAS)
    z = cam[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        x, y = cam[..., 0] / z, cam[..., 1] / z
    u = K[:, None, 0, 0] * x + K[:, None, 0, 1] * y + K[:, None, 0, 2]
    v = K[:, None, 1, 1] * y + K[:, None, 1, 2]
    return np.stack([u, v, z], axis=-1)


def _downsample(rgb, normal, depth, covered, s, background) -> MeshRender:
    """Box-average s x s samples: alpha = coverage, colour / depth / normal = mean over covered samples."""
    count = _box_sum(covered.astype(np.float32), s)  # [N, H, W]
    safe = np.maximum(count, 1.0)
    alpha = count / (s * s)
    rgb = _box_sum(rgb, s) / safe[..., None]
    mean_depth = _box_sum(depth, s) / safe
    normal = _box_sum(normal, s)
    normal = np.where(count[..., None] > 0, unit(normal), 0.0)
    if background is not None:
        bg = np.broadcast_to(np.asarray(background, dtype=np.float32).reshape(-1), (3,))
        rgb = rgb * alpha[..., None] + bg * (1.0 - alpha[..., None])
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.float32)
    return MeshRender(
        rgba=torch.from_numpy(np.ascontiguousarray(rgba)),
        depth=torch.from_numpy(mean_depth.astype(np.float32)),
        normal=torch.from_numpy(normal.astype(np.float32)),
    )


def _check_cameras(c2w: Tensor, K: Tensor) -> tuple[Tensor, Tensor]:
    c2w = torch.as_tensor(c2w)
    K = torch.as_tensor(K)
    if c2w.shape == (4, 4):
        c2w = c2w[None]
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise ValueError(f"c2w must be [N, 4, 4], got {tuple(c2w.shape)}")
    if K.shape == (3, 3):
        K = K.expand(c2w.shape[0], 3, 3)
    if K.shape != (c2w.shape[0], 3, 3):
        raise ValueError(f"K must be [3, 3] or [{c2w.shape[0]}, 3, 3], got {tuple(K.shape)}")
    if not (torch.isfinite(c2w).all() and torch.isfinite(K).all()):
        raise ValueError("c2w and K must be finite")
    return c2w.detach().cpu().double(), K.detach().cpu().double()
