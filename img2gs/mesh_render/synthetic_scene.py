"""A synthetic test scene with a known surface: coloured primitives rendered from orbit cameras.

The object is three disjoint primitives -- a box, a ball floating above it and an upright cylinder
beside it -- with vertex colours made of gradients modulated by smooth patterns (a textureless object
would leave depth to the silhouettes alone), scaled into the unit sphere (bounding radius
`SCENE_RADIUS`). Because the primitives do not intersect, every triangle is part of the visible
outer surface, so points sampled from the triangles are the ground truth for the mesh's Chamfer
distance.

`write_synthetic_scene` renders it with the mesh renderer into a `transforms.json` folder: train views
spread over the orbit at several elevations, held-out test views between them. This is the scene of
the fit tests and of bench/fit.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch import Tensor

from img2gs.cameras import FOV_DEG, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w
from img2gs.mesh_render.mesh_renderer import render_mesh
from img2gs.posed_views import PosedViews, write_posed_views

SCENE_RADIUS = 0.95
TRAIN_ELEVATIONS_DEG = (30.0, -15.0, 55.0, 5.0)
TEST_ELEVATIONS_DEG = (15.0, -5.0, 40.0)


def _colored(mesh: trimesh.Trimesh, rgb: np.ndarray) -> trimesh.Trimesh:
    """`mesh` with per-vertex colours `rgb` [V, 3] in [0, 1]."""
    rgba = np.concatenate([np.clip(rgb, 0, 1), np.ones((len(rgb), 1))], axis=1)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=(rgba * 255).round().astype(np.uint8))
    return mesh


def _pattern(points: np.ndarray, period: float) -> np.ndarray:
    """A smooth 3D pattern [V] in [0, 1]: enough texture for multi-view depth cues, no aliasing."""
    k = 2.0 * np.pi / period
    return 0.5 + np.sin(k * points).sum(axis=1) / 6.0


def synthetic_mesh() -> trimesh.Trimesh:
    """The coloured test object, centred and scaled to bounding radius `SCENE_RADIUS`."""
    box = trimesh.creation.box(extents=(1.0, 0.8, 0.4))
    for _ in range(4):
        box = box.subdivide()
    box.apply_translation((0.0, 0.0, -0.45))
    v = box.vertices
    shade = 0.7 + 0.3 * _pattern(v, 0.3)
    box = _colored(box, shade[:, None] * np.stack([0.3 + 0.6 * (v[:, 0] + 0.5), 0.4 + 0.4 * (v[:, 1] + 0.4),
                                                   0.25 + 0.0 * v[:, 2]], 1))

    ball = trimesh.creation.icosphere(subdivisions=4, radius=0.32)
    normals = np.asarray(ball.vertex_normals)
    ball.apply_translation((0.15, 0.05, 0.2))  # floats 0.13 above the box
    stripes = 0.75 + 0.25 * np.sin(6.0 * np.arctan2(normals[:, 1], normals[:, 0]))
    ball = _colored(ball, stripes[:, None] * (0.5 + 0.45 * normals[:, [2, 0, 1]]))

    cylinder = trimesh.creation.cylinder(radius=0.12, height=0.6, sections=48)
    for _ in range(3):
        cylinder = cylinder.subdivide()
    cylinder.apply_translation((-0.33, -0.22, 0.18))  # floats 0.13 above the box
    z = cylinder.vertices[:, 2]
    rings = 0.75 + 0.25 * np.cos(2.0 * np.pi * z / 0.15)
    cylinder = _colored(cylinder, rings[:, None] * np.stack([0.95 + 0 * z, 0.75 - 0.6 * (z + 0.12), 0.15 + 0 * z], 1))

    mesh = trimesh.util.concatenate([box, ball, cylinder])
    centre = (mesh.bounds[0] + mesh.bounds[1]) / 2.0
    mesh.apply_translation(-centre)
    mesh.apply_scale(SCENE_RADIUS / np.linalg.norm(mesh.vertices, axis=1).max())
    return mesh


def orbit_cameras(n: int, elevations: tuple[float, ...], azimuth_offset: float = 0.0) -> Tensor:
    """[n, 4, 4] c2w evenly spaced in azimuth, cycling through `elevations`, at the orbit radius."""
    azimuth = torch.arange(n, dtype=torch.float32) * (360.0 / max(n, 1)) + azimuth_offset
    elevation = torch.tensor([elevations[k % len(elevations)] for k in range(n)], dtype=torch.float32)
    return orbit_to_c2w(elevation, azimuth, torch.full((n,), ORBIT_RADIUS))


def synthetic_views(n_train: int = 16, n_test: int = 4, size: int = 128) -> PosedViews:
    """Rendered train + held-out test views of `synthetic_mesh()` (test views half a step off)."""
    c2w = torch.cat([
        orbit_cameras(n_train, TRAIN_ELEVATIONS_DEG),
        orbit_cameras(n_test, TEST_ELEVATIONS_DEG, azimuth_offset=180.0 / max(n_train, 1) + 7.0),
    ])
    K = intrinsics_from_fov(FOV_DEG, size, size).expand(len(c2w), 3, 3).clone()
    rgba = render_mesh(synthetic_mesh(), c2w, K, size, size).rgba
    names = [f"images/train_{i:03d}.png" for i in range(n_train)] + [f"images/test_{i:03d}.png" for i in range(n_test)]
    return PosedViews(rgba, c2w.float(), K, names, ["train"] * n_train + ["test"] * n_test)


def write_synthetic_scene(folder: str | os.PathLike, n_train: int = 16, n_test: int = 4, size: int = 128) -> Path:
    """Render the scene into a transforms.json folder (atomically) and return its path."""
    return write_posed_views(folder, synthetic_views(n_train, n_test, size), extra={"scene": "img2gs-synthetic"})


def surface_samples(n: int = 20_000, seed: int = 0) -> Tensor:
    """[n, 3] points sampled uniformly (by area) on the true surface, for Chamfer distances."""
    points, _ = trimesh.sample.sample_surface(synthetic_mesh(), n, seed=seed)
    return torch.from_numpy(np.asarray(points, dtype=np.float32))
