"""Losses and distances (loss.py): EDM weighting, L2, pseudo-Huber, the LPIPS adapter."""

import math

import pytest
import torch

from img2gs.viewgen.loss import EDMLoss, LPIPSDistance, l2_distance, pseudo_huber_distance
from img2gs.viewgen.precond import Denoiser


def test_edm_loss_weighting_matches_lambda_sigma(generator):
    seen = {}

    def constant_error(x, sigma):  # D = y + 0.1 everywhere (y = 0)
        seen["sigma"] = sigma
        return torch.full_like(x, 0.1)

    loss = EDMLoss(P_mean=-1.2, P_std=1.2, sigma_data=0.5)(constant_error, torch.zeros(64, 3, 4, 4), None, generator)
    sigma = seen["sigma"]
    assert loss.shape == (64,)
    torch.testing.assert_close(loss, (sigma**2 + 0.25) / (sigma * 0.5) ** 2 * 0.01)


def test_edm_loss_of_untrained_network_is_one_at_every_sigma(generator):
    # With F = 0 the EDM denoiser is c_skip x; for data of std sigma_data the weighted loss is 1 in
    # expectation at every noise level (Karras et al. 2022, App. B.6: unit-variance training target).
    D = Denoiser(lambda x, c: torch.zeros_like(x), sigma_data=0.5)
    y = 0.5 * torch.randn(4096, 8, generator=generator, dtype=torch.float64)
    for P_mean in (-3.0, 0.0, 2.0):
        loss = EDMLoss(P_mean=P_mean, P_std=0.5, sigma_data=0.5)(D, y, generator=generator)
        assert abs(loss.mean().item() - 1.0) < 0.05


def test_edm_loss_passes_conditions(generator):
    got = {}

    def denoiser(x, sigma, label):
        got["label"] = label
        return x

    EDMLoss()(denoiser, torch.zeros(2, 2), {"label": torch.tensor([3, 4])}, generator)
    assert got["label"].tolist() == [3, 4]


def test_l2_distance_is_per_sample_mean_square():
    a, b = torch.zeros(2, 3, 2, 2), torch.ones(2, 3, 2, 2)
    b[1] *= 3
    torch.testing.assert_close(l2_distance(a, b), torch.tensor([1.0, 9.0]))


def test_pseudo_huber_behaviour():
    d = 3 * 8 * 8
    a = torch.zeros(3, 3, 8, 8, dtype=torch.float64)
    c = 0.00054 * math.sqrt(d)
    tiny = torch.zeros_like(a)
    tiny[1, 0, 0, 0] = 1e-5  # ||delta|| << c: quadratic, ||delta||^2 / 2c
    tiny[2] = 1.0  # ||delta|| = sqrt(d) >> c: linear, ||delta|| - c
    out = pseudo_huber_distance(tiny, a)
    assert out[0].item() == 0.0
    assert out[1].item() == pytest.approx(1e-10 / (2 * c), rel=1e-3)
    assert out[2].item() == pytest.approx(math.sqrt(d) - c, rel=1e-6)
    torch.testing.assert_close(pseudo_huber_distance(tiny, a, c=c), out)  # default c = 0.00054 sqrt(d)
    # Gradient of a large error has unit norm (robust), unlike L2's, which grows with the error.
    x = (10 * torch.ones(1, d, dtype=torch.float64)).requires_grad_()
    pseudo_huber_distance(x, torch.zeros_like(x)).sum().backward()
    assert x.grad.norm().item() == pytest.approx(1.0, rel=1e-6)


def test_lpips_adapter_resizes_rgb_adds_alpha_l2_and_keeps_gradients(generator):
    seen = {}

    class FakePerceptual(torch.nn.Module):
        def forward(self, a, b):
            seen["shape"] = a.shape
            return (a - b).abs().flatten(1).mean(1)

    dist = LPIPSDistance(FakePerceptual(), resolution=32)
    a = torch.rand(2, 4, 16, 16, generator=generator).requires_grad_()
    b = torch.rand(2, 4, 16, 16, generator=generator)
    out = dist(a, b)
    assert seen["shape"] == (2, 3, 32, 32) and out.shape == (2,)
    rgb_only = LPIPSDistance(FakePerceptual(), resolution=32)(a[:, :3], b[:, :3])
    torch.testing.assert_close(out, rgb_only + l2_distance(a[:, 3:], b[:, 3:]))
    out.sum().backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
    with pytest.raises(ValueError):
        dist(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8))
