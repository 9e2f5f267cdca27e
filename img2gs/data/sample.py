"""One training sample: an object placed by the framing rule and rendered from V cameras."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh

from img2gs.cameras import FOV_DEG, intrinsics_from_fov, orbit_to_c2w
from img2gs.data.config import DataBuildConfig
from img2gs.data.framing import Framing, frame_for_input_view, unit_sphere_transform
from img2gs.data.views import sample_lighting, sample_poses
from img2gs.mesh_render import render_mesh
from img2gs.mesh_render.depth_layers import depth_layers
from img2gs.mesh_render.surface import RenderSurface, transformed


@dataclass(frozen=True)
class RenderedSample:
    images: np.ndarray  # [V, H, W, 4] uint8 RGBA, straight alpha; view 0 = input
    poses: np.ndarray  # [V, 3] float32 (elevation, azimuth, radius), degrees
    depth: np.ndarray  # [2, H, W] float16 camera z of the first / last surface of the input view, 0 = miss
    framing: Framing
    placement: np.ndarray  # [4, 4] object (file) frame -> world, as rendered


def render_sample(
    surface: RenderSurface,
    hull: np.ndarray,  # [P, 3] convex-hull vertices of `surface` (framing is computed on them)
    rng: np.random.Generator,
    config: DataBuildConfig,
    tumble: bool = False,
) -> RenderedSample:
    """Rotate (about +Z, or fully if `tumble`), normalise into the unit sphere, frame for the input
    view, light and render. All randomness comes from `rng`."""
    base = random_rotation(rng, tumble) @ unit_sphere_transform(hull)
    poses = sample_poses(rng, config)
    p = torch.from_numpy(poses)
    c2w = orbit_to_c2w(p[:, 0], p[:, 1], p[:, 2])  # [V, 4, 4]
    size = config.resolution
    K = intrinsics_from_fov(FOV_DEG, size, size).double()
    framing = frame_for_input_view(apply(base, hull), c2w[0].numpy(), K.numpy(), size, config.input_fill,
                                   config.max_object_radius)
    light, ambient = sample_lighting(rng, config)
    placement = framing.matrix @ base
    placed = transformed(surface, placement)
    render = render_mesh(placed, c2w, K, size, size, light_dir=light, ambient=ambient,
                         supersample=config.supersample)
    images = (np.clip(render.rgba.numpy(), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    front, back = depth_layers(placed, c2w[:1], K, size, size)  # [1, H, W] each
    depth = torch.cat([front, back]).numpy().astype(np.float16)
    return RenderedSample(images=images, poses=poses.astype(np.float32), depth=depth, framing=framing,
                          placement=placement)


def random_rotation(rng: np.random.Generator, tumble: bool) -> np.ndarray:
    """[4, 4] rotation: uniform about +Z, or uniform over SO(3) when `tumble`."""
    if tumble:
        q = rng.normal(size=4)
        return trimesh.transformations.quaternion_matrix(q / np.linalg.norm(q))
    return trimesh.transformations.rotation_matrix(rng.uniform(0.0, 2.0 * np.pi), [0.0, 0.0, 1.0])


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """points [P, 3] transformed by [4, 4]."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]
