"""Noise schedules (schedule.py) and samplers (sampler.py), checked against closed forms and an exact GMM."""

import math

import pytest
import torch

from img2gs.viewgen.sampler import (
    consistency_sampler,
    edm_sampler,
    euler_step,
    guided_denoiser,
    heun_step,
)
from img2gs.viewgen.schedule import (
    consistency_boundaries,
    discretization_steps,
    karras_sigmas,
    sample_lognormal_sigmas,
)

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


# --- schedules -------------------------------------------------------------------------------------


def test_karras_sigmas_endpoints_monotone_and_formula():
    s = karras_sigmas(18, 0.002, 80.0, 7.0)
    assert s.shape == (18,) and s.dtype == F64
    assert s[0].item() == 80.0 and s[-1].item() == 0.002
    assert torch.all(s[1:] < s[:-1])
    i = 5  # Karras et al. 2022, eq. 5, written out
    expected = (80.0 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    assert math.isclose(s[i].item(), expected, rel_tol=1e-12)
    assert karras_sigmas(1, 0.002, 80.0).tolist() == [80.0]
    with pytest.raises(ValueError):
        karras_sigmas(0)
    with pytest.raises(ValueError):
        karras_sigmas(4, sigma_min=1.0, sigma_max=0.5)


def test_consistency_boundaries_ascending_from_sigma_min_to_sigma_max():
    t = consistency_boundaries(11, 0.002, 80.0, 7.0, dtype=torch.float32)
    assert t.dtype == torch.float32 and t.shape == (11,)
    assert t[0].item() == pytest.approx(0.002) and t[-1].item() == 80.0
    assert torch.all(t[1:] > t[:-1])
    torch.testing.assert_close(t, karras_sigmas(11, dtype=torch.float32).flip(0))
    with pytest.raises(ValueError):
        consistency_boundaries(1)


def test_lognormal_sigmas_statistics_and_generator(generator):
    s = sample_lognormal_sigmas(20000, -1.2, 1.2, generator)
    assert s.shape == (20000,) and torch.all(s > 0)
    assert abs(s.log().mean().item() + 1.2) < 0.03 and abs(s.log().std().item() - 1.2) < 0.03
    a = sample_lognormal_sigmas(4, generator=torch.Generator().manual_seed(3))
    b = sample_lognormal_sigmas(4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_discretization_fixed_and_ict_curriculum():
    assert discretization_steps(123, 1000, "fixed", N=18) == 18
    # Song & Dhariwal 2023, eq. 8: K = 800, s0 = 10, s1 = 1280 -> K' = floor(800 / 8) = 100.
    ict = [discretization_steps(k, 800, "ict", s0=10, s1=1280) for k in (0, 99, 100, 250, 699, 700, 799)]
    assert ict == [11, 11, 21, 41, 641, 1281, 1281]
    steps = [discretization_steps(k, 800, "ict") for k in range(800)]
    assert all(b >= a for a, b in zip(steps, steps[1:]))  # never decreases


def test_discretization_progression_stages():
    prog = (1024, 256, 64, 16, 4)
    values = [discretization_steps(k, 10, "progression", progression=prog) for k in range(12)]
    assert values == [1024, 1024, 256, 256, 64, 64, 16, 16, 4, 4, 4, 4]
    with pytest.raises(ValueError):
        discretization_steps(0, 10, "progression", progression=(1,))
    with pytest.raises(ValueError):
        discretization_steps(0, 10, "cosine")


# --- ODE steps on a linear-Gaussian problem with a closed-form solution ---------------------------

M, S2 = 0.7, 0.3**2  # data N(M, S2 I): D(x; sigma) = M + S2 / (S2 + sigma^2) (x - M)


def gaussian_denoiser(x, sigma, **cond):
    sigma = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return M + S2 / (S2 + sigma**2) * (x - M)


def gaussian_flow(x, sigma_from, sigma_to):
    """PF-ODE dx/dsigma = sigma (x - M) / (S2 + sigma^2) => (x - M) / sqrt(S2 + sigma^2) is constant."""
    return M + (x - M) * math.sqrt(S2 + sigma_to**2) / math.sqrt(S2 + sigma_from**2)


def gaussian_consistency_fn(sigma_min):
    return lambda x, sigma, **cond: M + (x - M) * (S2 + sigma_min**2) ** 0.5 / (
        S2 + torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1))) ** 2
    ) ** 0.5


def test_heun_step_is_second_order_on_exact_ode(generator):
    x = torch.randn(64, 2, generator=generator, dtype=F64) * 2.0
    errors = []
    for h in (0.08, 0.04, 0.02):
        got = heun_step(gaussian_denoiser, x, 1.0, 1.0 - h)
        errors.append((got - gaussian_flow(x, 1.0, 1.0 - h)).abs().max().item())
    # Local error O(h^3): halving h divides it by ~8 (Euler: by ~4).
    assert 6.0 < errors[0] / errors[1] < 10.0 and 6.0 < errors[1] / errors[2] < 10.0
    euler_err = (euler_step(gaussian_denoiser, x, 1.0, 0.98) - gaussian_flow(x, 1.0, 0.98)).abs().max().item()
    assert errors[2] < euler_err / 10
    # A fine Heun solve matches the closed form, with global error O(h^2) (ratio ~4 per doubling).
    solve_errors = []
    for n in (100, 200):
        sig = karras_sigmas(n, 0.01, 10.0).tolist()
        y = x * 10.0
        for a, b in zip(sig[:-1], sig[1:]):
            y = heun_step(gaussian_denoiser, y, a, b)
        solve_errors.append((y - gaussian_flow(x * 10.0, 10.0, 0.01)).abs().max().item())
    assert solve_errors[1] < 5e-4 and 3.5 < solve_errors[0] / solve_errors[1] < 4.5


def test_heun_step_per_sample_sigmas_and_euler_fallback_to_zero(generator):
    x = torch.randn(4, 3, generator=generator, dtype=F64)
    s_from = torch.tensor([2.0, 1.0, 0.5, 0.3], dtype=F64)
    s_to = torch.tensor([1.0, 0.0, 0.2, 0.0], dtype=F64)
    batched = heun_step(gaussian_denoiser, x, s_from, s_to)
    for i in range(4):
        single = heun_step(gaussian_denoiser, x[i : i + 1], s_from[i].item(), s_to[i].item())
        torch.testing.assert_close(batched[i : i + 1], single)
    # The last step (sigma_to = 0) is Euler: it lands exactly on D(x; sigma_from).
    torch.testing.assert_close(batched[1], gaussian_denoiser(x[1:2], 1.0)[0])


# --- samplers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("s_churn", [0.0, 20.0])
def test_edm_sampler_with_exact_gmm_denoiser_matches_mixture(mixture, s_churn):
    n = 4000
    noise = torch.randn(n, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    sigmas = karras_sigmas(32, 0.002, 80.0, 7.0)
    x = edm_sampler(
        mixture.denoise, noise, sigmas, s_churn=s_churn, generator=torch.Generator().manual_seed(2)
    )
    # Sampling error of a mean over 4000 points is ~0.013 here; the cov entries ~0.01.
    torch.testing.assert_close(x.mean(0), mixture.mean, rtol=0, atol=0.04)
    torch.testing.assert_close(torch.cov(x.T), mixture.cov, rtol=0, atol=0.03)
    occupancy = torch.bincount(mixture.component_of(x), minlength=3).to(F64) / n
    torch.testing.assert_close(occupancy, mixture.weights, rtol=0, atol=0.03)


def test_classifier_free_guidance_combines_conditional_and_unconditional():
    def denoiser(x, sigma, label):  # label [B] shifts the output
        return x * 0.5 + label[:, None].to(x.dtype)

    x = torch.ones(3, 2, dtype=F64)
    cond, uncond = {"label": torch.full((3,), 2)}, {"label": torch.zeros(3, dtype=torch.long)}
    D = guided_denoiser(denoiser, cond, uncond, guidance=3.0)
    torch.testing.assert_close(D(x, 1.0), torch.full((3, 2), 0.5 + 0 + 3.0 * 2, dtype=F64))
    D_w = guided_denoiser(denoiser, cond, uncond, guidance=torch.tensor([1.0, 2.0, 0.0], dtype=F64))
    torch.testing.assert_close(D_w(x, 1.0)[:, 0], torch.tensor([2.5, 4.5, 0.5], dtype=F64))
    torch.testing.assert_close(guided_denoiser(denoiser, cond)(x, 1.0), denoiser(x, 1.0, **cond))
    with pytest.raises(ValueError, match="uncond"):
        guided_denoiser(denoiser, cond, None, guidance=2.0)
    # edm_sampler uses the guided denoiser: with a denoiser that ignores x the result is D_w itself.
    out = edm_sampler(lambda x, s, label: denoiser(x * 0, s, label), x, karras_sigmas(3, 0.1, 1.0),
                      cond=cond, uncond=uncond, guidance=3.0)
    torch.testing.assert_close(out, torch.full((3, 2), 6.0, dtype=F64))


def test_consistency_sampler_one_and_two_steps():
    sigma_min, T = 0.002, 80.0
    f = gaussian_consistency_fn(sigma_min)
    noise = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    one = consistency_sampler(f, noise, torch.tensor([T]), sigma_min=sigma_min)
    torch.testing.assert_close(one, f(noise * T, T))  # Alg. 1 with one step is f(x_T, T)
    two = consistency_sampler(f, noise, torch.tensor([T, 0.5]), sigma_min=sigma_min,
                              generator=torch.Generator().manual_seed(1))
    # With the exact consistency function every step count gives N(M, S2 + sigma_min^2).
    for x in (one, two):
        assert abs(x.mean().item() - M) < 0.01
        assert abs(x.var().item() - (S2 + sigma_min**2)) < 0.003
    assert not torch.allclose(one, two)  # the second step re-noised and moved the samples

    calls = []

    def recording_f(x, sigma, **cond):
        calls.append((float(sigma), x.clone()))
        return torch.zeros_like(x)

    consistency_sampler(recording_f, noise[:5000], torch.tensor([T, 0.5]), sigma_min=sigma_min,
                        generator=torch.Generator().manual_seed(1))
    assert [s for s, _ in calls] == [T, 0.5]
    # Alg. 1 line 5: the second input is f + sqrt(tau^2 - eps^2) z with f = 0 here.
    assert abs(calls[1][1].std().item() - math.sqrt(0.25 - sigma_min**2)) < 0.01
    with pytest.raises(ValueError):
        consistency_sampler(f, noise, torch.tensor([T, 0.001]), sigma_min=sigma_min)
