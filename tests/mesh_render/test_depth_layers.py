"""Two-layer depth (first and last surface along each ray) against closed forms and the torch twin."""

import math

import numpy as np
import torch
import trimesh

from img2gs.cameras import intrinsics_from_fov, orbit_to_c2w
from img2gs.mesh_render.depth_layers import depth_layers, depth_layers_reference

RADIUS = 3.2


def front_camera(size):
    """Camera at (3.2, 0, 0) looking at the origin along -X: image right = +Y, up = +Z."""
    c2w = orbit_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([RADIUS]))
    return c2w, intrinsics_from_fov(40.0, size, size)


def pixel_directions(K, size):
    """Camera-space (OpenCV) ray directions [H, W, 3] with z = 1 through the pixel centres."""
    c = torch.arange(size, dtype=torch.float64) + 0.5
    v, u = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)], -1)


def test_sphere_layers_match_the_ray_sphere_intersection():
    size, r = 48, 0.8
    c2w, K = front_camera(size)
    front, back = depth_layers(trimesh.creation.icosphere(subdivisions=5, radius=r), c2w, K, size, size)
    d = pixel_directions(K.double(), size)  # camera z = 1 along each ray; the centre is at z = 3.2
    # |t d - (0, 0, 3.2)|^2 = r^2  ->  a t^2 - 2 b t + c = 0 with t = camera z
    a, b, c = (d * d).sum(-1), d[..., 2] * RADIUS, RADIUS**2 - r**2
    disc = b * b - a * c
    inner = disc > 0.05 * b * b  # away from the rim, where tessellation decides hit or miss
    t0, t1 = (b - disc.clamp_min(0).sqrt()) / a, (b + disc.clamp_min(0).sqrt()) / a
    assert bool((front[0][inner] > 0).all()) and bool((back[0][inner] > 0).all())
    assert float((front[0][inner] - t0[inner]).abs().max()) < 4e-3
    assert float((back[0][inner] - t1[inner]).abs().max()) < 4e-3
    assert bool((front[0][disc < 0] == 0).all()) and bool((back[0][disc < 0] == 0).all())


def test_box_layers_are_its_near_and_far_faces():
    size = 32
    c2w, K = front_camera(size)
    box = trimesh.creation.box(extents=[0.6, 1.0, 1.0])  # faces at x = +-0.3
    front, back = depth_layers(box, c2w, K, size, size)
    hit = front[0] > 0
    assert hit.sum() > 100
    assert torch.allclose(front[0][hit], torch.tensor(RADIUS - 0.3), atol=1e-5)
    # The far face (x = -0.3) is hit where the ray leaves through it, the side faces elsewhere: the
    # last hit is never nearer than the first and never beyond the far face.
    assert bool((back[0][hit] >= front[0][hit]).all()) and float(back[0].max()) <= RADIUS + 0.3 + 1e-5
    centre = size // 2
    assert math.isclose(float(back[0, centre, centre]), RADIUS + 0.3, abs_tol=1e-5)


def test_depth_layers_match_the_torch_twin(generator):
    mesh = trimesh.creation.torus(0.5, 0.2)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(0.7, [1, 0.3, 0]))
    c2w = orbit_to_c2w(torch.tensor([20.0, -10.0]), torch.tensor([0.0, 130.0]), torch.tensor([RADIUS, RADIUS]))
    K = intrinsics_from_fov(40.0, 20, 20)
    front, back = depth_layers(mesh, c2w, K, 20, 20)
    ref_front, ref_back = depth_layers_reference(mesh, c2w, K, 20, 20)
    assert (front > 0).float().mean() > 0.1
    assert np.allclose(front.numpy(), ref_front.numpy(), atol=1e-5)
    assert np.allclose(back.numpy(), ref_back.numpy(), atol=1e-5)
    assert bool((back >= front).all())
