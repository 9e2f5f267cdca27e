"""The lift of TRUE depth layers reproduces a known mesh; the seen mask and the depth resampling."""

import pytest
import torch
import trimesh

from img2gs.cameras import FOV_DEG, OrbitPose, input_pose, intrinsics_from_fov, poses_c2w, target_orbit
from img2gs.metrics import mask_iou
from img2gs.proxy.lift import LiftConfig, lift_photo, resample_layer
from img2gs.proxy.render import render_proxy
from img2gs.mesh_render import render_mesh
from img2gs.mesh_render.depth_layers import depth_layers

SIZE = 128


def lifted(mesh, elevation=20.0, size=SIZE):
    pose = input_pose(elevation)
    K = intrinsics_from_fov(FOV_DEG, size, size)
    photo = render_mesh(mesh, pose.c2w()[None], K, size, size).rgba[0]
    front, back = depth_layers(mesh, pose.c2w()[None], K, size, size)
    return lift_photo(photo, front[0], back[0], front[0] > 0, pose, LiftConfig(size=size)), K


# Every Gaussian centred on the true surface widens a silhouette by about half a pixel (its own 50 %
# contour), which costs a thin capsule (18 px wide at 128 px) more IoU than a sphere: measured 0.957
# (sphere), 0.969 (box), 0.932 (capsule) at 128 px.
@pytest.mark.parametrize("name, floor", [("sphere", 0.95), ("box", 0.95), ("capsule", 0.92)])
def test_lift_of_true_depth_reproduces_silhouettes_at_other_poses(name, floor):
    mesh = {"sphere": trimesh.creation.icosphere(4, 0.8), "box": trimesh.creation.box([1.2, 0.8, 0.6]),
            "capsule": trimesh.creation.capsule(0.9, 0.3)}[name]
    mesh.visual.face_colors = [200, 150, 30, 255]
    proxy, K = lifted(mesh)
    c2w = poses_c2w(target_orbit(8))
    render = render_proxy(proxy, c2w, K.expand(8, 3, 3), SIZE, SIZE)
    truth = render_mesh(mesh, c2w, K, SIZE, SIZE).rgba[..., 3] > 0.5
    iou = mask_iou(render.rgba[..., 3] > 0.5, truth)
    assert float(iou.mean()) >= floor and float(iou.min()) >= floor - 0.03, iou
    # colour comes from the photo: the object's orange, not black or white
    rgb = render.rgba[..., :3][render.rgba[..., 3] > 0.5].mean(0)
    assert rgb[0] > rgb[2] + 0.2


def test_seen_mask_is_the_photographed_side():
    mesh = trimesh.creation.icosphere(3, 0.8)
    proxy, K = lifted(mesh)
    poses = [input_pose(20.0), OrbitPose(20.0, 180.0)]
    render = render_proxy(proxy, poses_c2w(poses), K.expand(2, 3, 3), SIZE, SIZE)
    inside = render.rgba[..., 3] > 0.9
    assert float(render.seen[0][inside[0]].mean()) > 0.9  # the photo's own view: all of it seen
    assert float(render.seen[1][inside[1]].mean()) < 0.1  # from behind: nothing of it seen
    depth = render.depth[0][inside[0]]
    assert float(depth.min()) > 3.2 - 0.85 and float(depth.max()) < 3.2 + 0.1  # the front half of the sphere


def test_resampled_depth_never_takes_background_values():
    depth = torch.full((8, 8), 100.0)  # background: garbage
    valid = torch.zeros(8, 8, dtype=torch.bool)
    valid[2:6, 2:6] = True
    depth[valid] = torch.linspace(3.0, 3.5, 16)
    up = resample_layer(depth, valid, 32)
    assert float(up.max()) <= 3.5 + 1e-6 and float(up.min()) >= 3.0 - 1e-6


def test_back_and_fill_take_the_nearest_opaque_colour_so_a_background_halo_does_not_streak_the_sides():
    size = 32
    photo = torch.zeros(size, size, 4)
    photo[8:24, 8:24] = torch.tensor([0.9, 0.6, 0.1, 1.0])  # an orange square ...
    photo[8:24, 7] = torch.tensor([0.0, 0.0, 1.0, 0.7])  # ... with a blue matting halo on its left rim
    front = torch.full((size, size), 3.0)
    proxy = lift_photo(photo, front, front + 0.6, photo[..., 3] > 0.5, input_pose(0.0), LiftConfig(size=size))
    rgb = proxy.gaussians.params["sh0"][:, 0] * 0.28209479177387814 + 0.5  # SH DC -> colour
    blue = rgb[:, 2] > 0.8
    assert int(blue[proxy.layer == 0].sum()) == 16  # the photo shows the halo: the front keeps it
    assert int(blue[proxy.layer != 0].sum()) == 0  # the back and the fill do not repeat it
