"""Preconditioning (precond.py) and EMA (ema.py): boundary conditions and identities of the scalings."""

import copy

import pytest
import torch

from img2gs.training.ema import ema_update
from img2gs.viewgen.precond import Denoiser, consistency_scalings, edm_scalings


class RandomBackbone(torch.nn.Module):
    """A backbone with large, input-dependent outputs: the boundary must hold whatever F returns."""

    def __init__(self):
        super().__init__()
        self.seen = {}

    def forward(self, x_in, c_noise, **cond):
        self.seen = {"x_in": x_in, "c_noise": c_noise, **cond}
        return 1e3 * torch.sin(7 * x_in + c_noise.reshape(-1, *([1] * (x_in.ndim - 1))))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("sigma_min", [0.002, 0.05])
def test_consistency_boundary_is_exact(dtype, sigma_min, generator):
    x = torch.randn(5, 3, 4, 4, generator=generator).to(dtype)
    f = Denoiser(RandomBackbone(), sigma_data=0.5, sigma_min=sigma_min, parameterization="consistency")
    c_skip, c_out, _, _ = consistency_scalings(torch.tensor(sigma_min, dtype=dtype), 0.5, sigma_min)
    assert c_skip.item() == 1.0 and c_out.item() == 0.0
    assert torch.equal(f(x, sigma_min), x)
    # ... and away from the boundary the network does contribute.
    assert (f(x, 4 * sigma_min) - x).abs().max() > 1e-2


def test_edm_scalings_limits_and_unit_variance_identities():
    sd = 0.5
    small = torch.tensor([1e-6, 1e-4], dtype=torch.float64)
    c_skip, c_out, _, _ = edm_scalings(small, sd)
    assert torch.all((1 - c_skip).abs() < 1e-7) and torch.all(c_out < 1e-3)
    assert torch.all(c_out[:1] < 1e-5)
    sigma = torch.logspace(-3, 2, 50, dtype=torch.float64)
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma, sd)
    # Karras et al. 2022, App. B.6: unit-variance network input and training target.
    torch.testing.assert_close(c_in**2 * (sigma**2 + sd**2), torch.ones_like(sigma))
    target_var = ((1 - c_skip) ** 2 * sd**2 + c_skip**2 * sigma**2) / c_out**2
    torch.testing.assert_close(target_var, torch.ones_like(sigma))
    torch.testing.assert_close(c_noise, sigma.log() / 4)
    assert c_skip[-1] < 1e-4 and abs(c_out[-1] - sd) < 1e-3  # sigma >> sd: predict F directly


def test_consistency_scalings_approach_edm_far_from_boundary():
    sigma = torch.tensor([10.0, 80.0], dtype=torch.float64)
    edm = edm_scalings(sigma, 0.5)
    cm = consistency_scalings(sigma, 0.5, 0.002)
    for a, b in zip(edm, cm):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 2), (4, 3, 5, 5)])
def test_denoiser_broadcasts_sigma_and_forwards_conditions(shape, generator):
    backbone = RandomBackbone()
    D = Denoiser(backbone, sigma_data=0.5)
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    sigma = torch.tensor([0.1, 0.5, 2.0, 10.0], dtype=torch.float64)
    label = torch.arange(4)
    out = D(x, sigma, label=label)
    assert out.shape == x.shape
    assert backbone.seen["label"] is label
    torch.testing.assert_close(backbone.seen["c_noise"], sigma.log() / 4)
    c_skip, c_out, c_in, c_noise = edm_scalings(sigma[1], 0.5)
    expected = c_skip * x[1] + c_out * 1e3 * torch.sin(7 * c_in * x[1] + c_noise)
    torch.testing.assert_close(out[1], expected)
    # A scalar sigma is the same as a repeated [B] sigma.
    torch.testing.assert_close(D(x, 0.5, label=label), D(x, torch.full((4,), 0.5, dtype=torch.float64), label=label))


def test_denoiser_rejects_bad_arguments():
    with pytest.raises(ValueError, match="parameterization"):
        Denoiser(RandomBackbone(), parameterization="vp")
    D = Denoiser(RandomBackbone())
    with pytest.raises(ValueError, match="sigma"):
        D(torch.zeros(4, 2), torch.ones(3))
    with pytest.raises(ValueError, match="backbone returned"):
        Denoiser(lambda x, c: x[:, :1])(torch.zeros(4, 2), 1.0)


def test_ema_update_values_and_buffers():
    online = torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        online.weight.fill_(2.0)
        online.bias.fill_(-1.0)
        online.running_mean.fill_(5.0)
    target = copy.deepcopy(online)
    with torch.no_grad():
        target.weight.fill_(0.0)
        target.bias.fill_(1.0)
        target.running_mean.fill_(0.0)
    ema_update(target, online, mu=0.9)
    torch.testing.assert_close(target.weight, torch.full((3,), 0.2))  # 0.9 * 0 + 0.1 * 2
    torch.testing.assert_close(target.bias, torch.full((3,), 0.8))  # 0.9 * 1 + 0.1 * -1
    torch.testing.assert_close(target.running_mean, torch.full((3,), 5.0))  # buffers copied
    ema_update(target, online, mu=0.0)
    torch.testing.assert_close(target.weight, online.weight)
    assert not target.weight.requires_grad or target.weight.grad is None
    with pytest.raises(ValueError):
        ema_update(target, online, mu=1.5)
