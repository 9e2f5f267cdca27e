"""Floater removal: the photo vetoes alone, generated views need a majority, the rim stays."""

import torch

from img2gs.cameras import intrinsics_from_fov, orbit_to_c2w, project_points, viewmat_from_c2w
from img2gs.posed_views import PosedViews
from img2gs.splat.floaters import FloaterConfig, floater_mask, remove_floaters
from img2gs.splat.gaussians import Gaussians

SIZE = 48


def views_of_ball(poses: list[tuple[float, float]], radius: float = 0.5) -> PosedViews:
    """Views (elevation, azimuth) at distance 3.2 of a ball at the origin: alpha 1 where a ray hits it."""
    p = torch.tensor(poses, dtype=torch.float32)
    c2w = orbit_to_c2w(p[:, 0], p[:, 1], torch.full((len(poses),), 3.2))
    K = intrinsics_from_fov(40.0, SIZE, SIZE)
    # a pixel is inside where the ball's dense surface points project (a filled disc, checked by nearest)
    g = torch.Generator().manual_seed(0)
    ball = torch.randn(40000, 3, generator=g)
    ball = ball / ball.norm(dim=1, keepdim=True) * radius * torch.rand(40000, 1, generator=g) ** (1 / 3)
    uv, _ = project_points(ball[None].expand(len(poses), -1, -1), viewmat_from_c2w(c2w), K[None].expand(len(poses), -1, -1))
    images = torch.zeros(len(poses), SIZE, SIZE, 4)
    col, row = uv[..., 0].long().clamp(0, SIZE - 1), uv[..., 1].long().clamp(0, SIZE - 1)
    for v in range(len(poses)):
        images[v, row[v], col[v]] = 1.0
    return PosedViews(images, c2w, K[None].expand(len(poses), -1, -1).clone())


def test_the_photo_vetoes_and_the_other_views_need_a_majority():
    views = views_of_ball([(20.0, 0.0), (20.0, 90.0), (20.0, 180.0), (20.0, 270.0), (60.0, 45.0)])
    camera = views.c2w[0, :3, 3]
    points = torch.tensor([
        [0.0, 0.0, 0.0],  # the ball's centre: kept
        [0.45, 0.0, 0.0],  # inside the ball near its surface: kept
        [0.0, 0.0, 1.2],  # above the ball (world +Z up): outside in every view
    ])
    # between the photo's camera and the ball: inside the photo's silhouette, outside most other views'
    in_front = (camera / camera.norm() * 1.2)[None]
    drop = floater_mask(torch.cat([points, in_front]), views, trusted=1)
    assert drop.tolist() == [False, False, True, True]
    assert bool(floater_mask(torch.tensor([[0.0, 0.0, 2.5]]), views, trusted=1)[0])  # in no image at all


def test_an_empty_generated_view_cannot_remove_alone_but_an_empty_photo_can():
    views = views_of_ball([(20.0, 0.0), (20.0, 90.0), (20.0, 180.0), (20.0, 270.0)])
    centre = torch.zeros(1, 3)
    broken = views.images.clone()
    broken[2, ..., 3] = 0.0  # one generated view lost the object
    one_wrong = PosedViews(broken, views.c2w, views.K)
    assert not bool(floater_mask(centre, one_wrong, trusted=1)[0])
    broken = views.images.clone()
    broken[0, ..., 3] = 0.0  # the photo says: nothing here
    assert bool(floater_mask(centre, PosedViews(broken, views.c2w, views.K), trusted=1)[0])


def test_a_centre_just_outside_the_rim_stays_within_the_margin_and_goes_without_it():
    views = views_of_ball([(0.0, 0.0)])
    rim = torch.tensor([[0.0, 0.0, 0.53]])  # 0.03 above the ball's top: under 1 px at 48 px
    assert not bool(floater_mask(rim, views, trusted=1, config=FloaterConfig(margin_px=2))[0])
    far = torch.tensor([[0.0, 0.0, 0.75]])  # several pixels above
    assert bool(floater_mask(far, views, trusted=1, config=FloaterConfig(margin_px=2))[0])


def test_remove_floaters_keeps_the_others_whole():
    views = views_of_ball([(20.0, 0.0), (20.0, 120.0), (20.0, 240.0)])
    means = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.9], [0.1, 0.1, 0.1]])  # the second above the ball
    gaussians = Gaussians.from_points(means, torch.rand(3, 3))
    kept, removed = remove_floaters(gaussians, views, trusted=1)
    assert removed == 1 and len(kept) == 2
    assert torch.equal(kept.means, gaussians.means[[0, 2]])
    assert torch.equal(kept.params["sh0"], gaussians.params["sh0"][[0, 2]])
    assert remove_floaters(gaussians, views, 1, FloaterConfig(enabled=False)) == (gaussians, 0)
