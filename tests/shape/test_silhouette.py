"""The multi-view silhouette terms of the shape stage on a known mesh: the true layers satisfy them,
wrong layers do not, the mirror augmentation keeps them true, and their gradient points the right way."""

import dataclasses

import pytest
import torch
import trimesh

from img2gs.cameras import FOV_DEG, OrbitPose, input_pose, intrinsics_from_fov, poses_c2w
from img2gs.mesh_render import render_mesh
from img2gs.mesh_render.depth_layers import depth_layers
from img2gs.shape.config import ShapeLossConfig, load_shape_preset
from img2gs.shape.loss import ShapeLoss
from img2gs.shape.network import ShapePrediction
from img2gs.shape.silhouette import outside_distance, silhouette_terms
from img2gs.shape.train import ShapeBatch, augment

SIZE = 32
ELEVATION = 20.0
TARGETS = [OrbitPose(30.0, 60.0), OrbitPose(-10.0, 120.0), OrbitPose(30.0, 200.0), OrbitPose(-10.0, 280.0)]


@pytest.fixture(scope="module")
def box_batch() -> ShapeBatch:
    """An off-centre, turned box (not mirror-symmetric in the photo): its photo, true layers, other views."""
    box = trimesh.creation.box([0.9, 0.4, 0.7])
    box.apply_transform(trimesh.transformations.rotation_matrix(0.5, [0, 0, 1]))
    box.apply_translation([0.1, 0.25, 0.05])
    K = intrinsics_from_fov(FOV_DEG, SIZE, SIZE)
    c2w = input_pose(ELEVATION).c2w()[None]
    photo = render_mesh(box, c2w, K, SIZE, SIZE).rgba  # [1, R, R, 4]
    front, back = depth_layers(box, c2w, K, SIZE, SIZE)
    views = render_mesh(box, poses_c2w(TARGETS), K, SIZE, SIZE).rgba[..., 3]  # [T, R, R]
    poses = torch.tensor([[p.elevation, p.azimuth, p.radius] for p in TARGETS])
    return ShapeBatch(photo, torch.stack([front, back], 1), torch.tensor([ELEVATION]), views[None], poses[None])


def terms(batch: ShapeBatch, front=None, back=None, poses=None) -> dict[str, float]:
    front = batch.depth[:, 0] if front is None else front
    back = batch.depth[:, 1] if back is None else back
    valid = batch.photos[..., 3] > 0.5
    out = silhouette_terms(front, back, valid, batch.elevation, batch.target_alpha,
                           batch.target_poses if poses is None else poses, torch.Generator().manual_seed(0))
    return {name: float(value) for name, value in out.items()}


def test_outside_distance_is_zero_inside_and_grows_outside():
    alpha = torch.zeros(1, 8, 8)
    alpha[0, 2:4, 2:4] = 1.0
    d = outside_distance(alpha)[0]
    assert float(d[2:4, 2:4].abs().max()) == 0.0
    assert float(d[2, 7]) == pytest.approx(4 / 8)  # four pixels right of the square, in image sides
    assert float(outside_distance(torch.zeros(1, 8, 8)).min()) == 1.0  # an empty view: one image side


def test_true_layers_satisfy_the_silhouettes_and_wrong_ones_do_not(box_batch):
    truth = terms(box_batch)
    assert truth["carve"] < 0.01 and truth["cover"] < 0.02, truth
    front, back = box_batch.depth[:, 0], box_batch.depth[:, 1]
    too_thin = terms(box_batch, back=front + 0.02)
    assert too_thin["cover"] > 2 * truth["cover"] + 0.005, (truth, too_thin)
    pushed_back = terms(box_batch, front=front + 0.4, back=back + 0.4)
    assert pushed_back["carve"] > 4 * truth["carve"] + 0.01, (truth, pushed_back)


def test_the_mirror_augmentation_keeps_true_layers_consistent(box_batch):
    config = dataclasses.replace(load_shape_preset("tiny"), flip_probability=1.0, color_jitter=0.0)
    mirrored = augment(box_batch, config, torch.Generator().manual_seed(0))
    assert torch.equal(mirrored.target_alpha, box_batch.target_alpha.flip(-1))
    flipped = terms(mirrored)
    assert flipped["carve"] < 0.01 and flipped["cover"] < 0.02, flipped
    # the images alone mirrored, their azimuths kept: the layers no longer fit (the box is off-centre)
    wrong = terms(mirrored, poses=box_batch.target_poses)
    assert wrong["carve"] > 3 * flipped["carve"], (flipped, wrong)


def test_cover_deepens_a_back_layer_that_is_too_thin(box_batch):
    back = (box_batch.depth[:, 0] + 0.02).requires_grad_()
    out = silhouette_terms(box_batch.depth[:, 0], back, box_batch.photos[..., 3] > 0.5, box_batch.elevation,
                           box_batch.target_alpha, box_batch.target_poses, torch.Generator().manual_seed(0))
    out["cover"].backward()
    assert float(back.grad.sum()) < 0  # the loss falls as the back moves away from the camera


def test_the_shape_loss_adds_the_silhouette_terms_only_when_weighted(box_batch):
    b = box_batch
    pred = ShapePrediction(b.depth[:, 0], b.depth[:, 0] + 0.02, torch.zeros(1, SIZE, SIZE), b.elevation)
    plain, terms_plain = ShapeLoss(ShapeLossConfig())(pred, b.depth, b.photos[..., 3], b.elevation)
    assert "cover" not in terms_plain
    weighted = ShapeLoss(ShapeLossConfig(cover=10.0))
    with pytest.raises(ValueError, match="other views"):
        weighted(pred, b.depth, b.photos[..., 3], b.elevation)
    total, terms_weighted = weighted(pred, b.depth, b.photos[..., 3], b.elevation, (b.target_alpha, b.target_poses))
    assert float(total) == pytest.approx(float(plain) + 10.0 * terms_weighted["cover"], rel=1e-5)
