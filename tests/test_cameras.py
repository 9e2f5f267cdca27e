import math

import pytest
import torch

from img2gs import cameras as cam


def test_orbit_round_trip():
    elev = torch.tensor([-60.0, -10.0, 0.0, 20.0, 45.0, 80.0])
    azim = torch.tensor([-170.0, -45.0, 0.0, 30.0, 120.0, 179.0])
    radius = torch.tensor([1.5, 2.0, 3.2, 3.2, 4.0, 10.0])
    c2w = cam.orbit_to_c2w(elev, azim, radius)
    e, a, r = cam.c2w_to_orbit(c2w)
    torch.testing.assert_close(e, elev, atol=1e-4, rtol=0)
    torch.testing.assert_close(a, azim, atol=1e-4, rtol=0)
    torch.testing.assert_close(r, radius, atol=1e-5, rtol=1e-6)


def test_c2w_is_rigid_and_looks_at_origin():
    c2w = cam.orbit_to_c2w(torch.tensor([20.0, -30.0]), torch.tensor([0.0, 250.0]), torch.tensor([3.2, 2.0]))
    R = c2w[:, :3, :3]
    torch.testing.assert_close(R @ R.transpose(1, 2), torch.eye(3).expand(2, 3, 3), atol=1e-6, rtol=0)
    assert torch.allclose(torch.linalg.det(R), torch.ones(2), atol=1e-6)
    # OpenGL: the camera looks along its -Z, i.e. -Z (third column negated) points at the origin.
    forward = -R[:, :, 2]
    to_origin = -c2w[:, :3, 3] / c2w[:, :3, 3].norm(dim=-1, keepdim=True)
    torch.testing.assert_close(forward, to_origin, atol=1e-6, rtol=0)
    # Image up (+Y) has a positive world-Z component for cameras not upside down.
    assert (R[:, 2, 1] > 0).all()


def test_input_camera_position_follows_the_contract():
    c2w = cam.input_pose().c2w()
    e = math.radians(cam.DEFAULT_INPUT_ELEVATION_DEG)
    expected = cam.ORBIT_RADIUS * torch.tensor([math.cos(e), 0.0, math.sin(e)])
    torch.testing.assert_close(c2w[:3, 3], expected, atol=1e-6, rtol=0)


def test_projection_matches_hand_computation():
    # Camera on +X axis at distance 4 looking at the origin (elev 0, azim 0).
    c2w = cam.orbit_to_c2w(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(4.0))
    viewmat = cam.viewmat_from_c2w(c2w)
    width, height, fov = 100, 80, 60.0
    K = cam.intrinsics_from_fov(fov, width, height)
    f = 50.0 / math.tan(math.radians(30.0))
    # World +Y is to the camera's left? Camera at +X looking to -X with Z up: its right (+X_cam) is
    # world +Y (x = up x z = Z x X = Y). World +Z is image up, so pixel v decreases.
    points = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.5, -0.5]])
    uv, depth = cam.project_points(points, viewmat, K)
    expected_uv = torch.tensor([
        [50.0, 40.0],
        [50.0 + f * 1.0 / 4.0, 40.0],
        [50.0, 40.0 - f * 1.0 / 4.0],
        [50.0 + f * 0.5 / 3.0, 40.0 + f * 0.5 / 3.0],
    ])
    torch.testing.assert_close(uv, expected_uv, atol=1e-4, rtol=0)
    torch.testing.assert_close(depth, torch.tensor([4.0, 4.0, 4.0, 3.0]), atol=1e-6, rtol=0)


def test_viewmat_c2w_inverse_pair():
    c2w = cam.orbit_to_c2w(torch.tensor([10.0, 50.0]), torch.tensor([33.0, -120.0]), torch.tensor([2.5, 3.0]))
    torch.testing.assert_close(cam.c2w_from_viewmat(cam.viewmat_from_c2w(c2w)), c2w, atol=1e-5, rtol=0)


def test_intrinsics_fov_round_trip():
    K = cam.intrinsics_from_fov(cam.FOV_DEG, 128, 128)
    assert cam.fov_from_intrinsics(K, 128) == pytest.approx(cam.FOV_DEG)
    assert K[0, 2] == 64.0 and K[1, 2] == 64.0


def test_relative_pose_of_camera_to_itself_is_identity_encoding():
    pose = torch.tensor([[20.0, 0.0, 3.2], [-10.0, 123.0, 2.0]])
    enc = cam.relative_pose_encoding(pose, pose)
    torch.testing.assert_close(enc, torch.tensor([[0.0, 0.0, 1.0, 0.0]] * 2), atol=1e-7, rtol=0)


def test_relative_pose_encoding_values_and_wraparound():
    src = torch.tensor([20.0, 350.0, 3.2])
    tgt = torch.tensor([50.0, 20.0, 3.0])  # +30 deg elevation, +30 deg azimuth across 360
    enc = cam.relative_pose_encoding(src, tgt)
    expected = torch.tensor([math.radians(30.0), math.sin(math.radians(-330.0)), math.cos(math.radians(-330.0)), -0.2])
    torch.testing.assert_close(enc, expected, atol=1e-6, rtol=0)
    assert enc[1] == pytest.approx(0.5, abs=1e-6)


def test_unit_sphere_stays_in_frame_for_every_target_view():
    # The framing rule promises the unit sphere fits in every view: sample its surface densely.
    g = torch.Generator().manual_seed(0)
    pts = torch.nn.functional.normalize(torch.randn(4000, 3, generator=g), dim=-1) * cam.OBJECT_RADIUS
    poses = cam.target_orbit(16) + [cam.input_pose(), cam.input_pose(60.0)]
    viewmats = cam.viewmat_from_c2w(cam.poses_c2w(poses))
    K = cam.intrinsics_from_fov(cam.FOV_DEG, 64, 64)
    uv, depth = cam.project_points(pts, viewmats, K.expand(len(poses), 3, 3))
    assert (depth > 0).all()
    assert (uv >= 0).all() and (uv <= 64).all()


def test_target_orbit_layout():
    poses = cam.target_orbit(8)
    assert len(poses) == 8
    assert [p.elevation for p in poses[:2]] == list(cam.TARGET_ELEVATIONS_DEG)
    azimuths = [p.azimuth for p in poses]
    assert azimuths[0] == pytest.approx(22.5) and azimuths[1] - azimuths[0] == pytest.approx(45.0)
    with pytest.raises(ValueError):
        cam.target_orbit(0)


def test_points_in_masks_looks_up_the_pixel_each_point_projects_to():
    c2w = cam.orbit_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([3.2]))  # [1, 4, 4]
    K = cam.intrinsics_from_fov(40.0, 16, 16)[None]
    masks = torch.zeros(1, 16, 16, dtype=torch.bool)
    masks[0, 8, 8] = True  # the pixel just below-right of the image centre
    eye = c2w[0, :3, 3]
    points = torch.stack([torch.zeros(3), 2.0 * eye, torch.tensor([0.0, 0.0, 3.0])])  # origin, behind, off-image
    seen, inside = cam.points_in_masks(points, masks, c2w, K)
    assert seen.tolist() == [[True, False, False]]
    assert inside.tolist() == [[True, False, False]]
    masks[0, 8, 8] = False
    assert cam.points_in_masks(points, masks, c2w, K)[1].tolist() == [[False, False, False]]
