import math

import pytest
import torch

from img2gs.splat.gaussians import Gaussians
from img2gs.splat.projection import quat_to_rotmat
from img2gs.splat.sh import rgb_to_sh0, sh0_to_rgb


def test_from_points_activations(generator):
    pts = torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.1], [0.1, 0.1, 0.1]])
    colors = torch.rand(5, 3, generator=generator)
    g = Gaussians.from_points(pts, colors, sh_degree=2, init_opacity=0.3, generator=generator)
    assert len(g) == 5 and g.sh_degree == 2 and g.sh.shape == (5, 9, 3)
    torch.testing.assert_close(g.opacities, torch.full((5,), 0.3))
    torch.testing.assert_close(g.base_colors, colors)
    torch.testing.assert_close(g.quats.norm(dim=-1), torch.ones(5))
    # origin's 3 nearest neighbours are all at distance 0.1
    torch.testing.assert_close(g.scales[0], torch.full((3,), 0.1))


def test_random_in_sphere_stays_in_sphere(generator):
    g = Gaussians.random_in_sphere(500, radius=0.7, sh_degree=0, generator=generator)
    assert g.means.norm(dim=-1).max() <= 0.7 + 1e-6
    assert g.means.norm(dim=-1).max() > 0.6  # fills the ball, not a small core
    assert g.params["shN"].shape == (500, 0, 3)


def test_shape_checks():
    with pytest.raises(ValueError):
        Gaussians({"means": torch.zeros(3, 3)})


def test_quat_to_rotmat_is_a_rotation(generator):
    r = quat_to_rotmat(torch.randn(10, 4, generator=generator))
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3).expand(10, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(10))
    half = math.sqrt(0.5)  # 90 degrees about z maps x to y
    torch.testing.assert_close(quat_to_rotmat(torch.tensor([half, 0, 0, half])) @ torch.tensor([1.0, 0, 0]),
                               torch.tensor([0.0, 1, 0]), atol=1e-6, rtol=0)


def test_sh0_rgb_inverse():
    rgb = torch.rand(7, 3)
    torch.testing.assert_close(sh0_to_rgb(rgb_to_sh0(rgb)), rgb)
