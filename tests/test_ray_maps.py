"""Plücker ray maps: the reference camera's own rays, and rays of an orbit camera through the orbit centre."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from img2gs.cameras import FOV_DEG, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w
from img2gs.ray_maps import camera_ray_directions, plucker_ray_map


def test_the_reference_cameras_own_rays_start_at_its_centre():
    K = intrinsics_from_fov(FOV_DEG, 8, 8)
    c2w = orbit_to_c2w(torch.tensor(20.0), torch.tensor(0.0), torch.tensor(ORBIT_RADIUS))
    rays = plucker_ray_map(c2w[None], c2w, K, 8)[0]  # [6, 8, 8]
    expected = F.normalize(camera_ray_directions(K, 8), dim=-1).permute(2, 0, 1)
    assert torch.allclose(rays[:3], expected, atol=1e-6)
    assert float(rays[3:].abs().max()) < 1e-6  # origin 0: zero moment


def test_rays_are_lines_in_the_reference_frame_through_the_target_camera():
    """Every ray's moment equals p x d for the target camera centre p, and the principal ray of an orbit
    camera passes through the orbit centre, (0, 0, -R) in the reference camera's frame."""
    size = 16
    K = intrinsics_from_fov(FOV_DEG, size, size)
    ref = orbit_to_c2w(torch.tensor(10.0), torch.tensor(0.0), torch.tensor(ORBIT_RADIUS))
    target = orbit_to_c2w(torch.tensor([35.0]), torch.tensor([120.0]), torch.tensor([ORBIT_RADIUS]))
    rays = plucker_ray_map(target, ref, K, size)[0].permute(1, 2, 0)  # [S, S, 6]
    d, m = rays[..., :3], rays[..., 3:]
    centre = (torch.linalg.inv(ref) @ target[0])[:3, 3] / ORBIT_RADIUS
    assert torch.allclose(m, torch.cross(centre.expand_as(d), d, dim=-1), atol=1e-5)
    assert torch.allclose(d.norm(dim=-1), torch.ones(size, size), atol=1e-5)
    orbit_centre = torch.tensor([0.0, 0.0, -1.0])  # -R / R
    # the pixel-centre grid straddles the principal point: average the four central rays' distances
    mid = [(size // 2 - 1, size // 2 - 1), (size // 2, size // 2)]
    for i, j in mid:
        distance = (torch.cross(orbit_centre, d[i, j], dim=-1) - m[i, j]).norm()  # |(q - o) x d| for unit d
        assert float(distance) < 0.1
