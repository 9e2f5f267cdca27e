"""Wiring of consistency_distillation_loss (distill.py) on a Gaussian whose consistency function is known."""

import dataclasses
import math

import pytest
import torch

import img2gs.viewgen.distill as distill
from img2gs.errors import Img2gsError
from img2gs.viewgen.distill import DistillConfig, consistency_distillation_loss

M, S2, EPS = 0.3, 0.5**2, 0.002  # data N(M, S2 I)


def gaussian_denoiser(x, sigma, **cond):
    return M + S2 / (S2 + sigma.reshape(-1, 1) ** 2) * (x - M)


def gaussian_consistency_fn(x, sigma, **cond):
    """Exact f(x, sigma): follows the PF-ODE from sigma to EPS, f(x, EPS) = x."""
    return M + (x - M) * math.sqrt(S2 + EPS**2) / (S2 + torch.as_tensor(sigma).reshape(-1, 1) ** 2).sqrt()


def cfg(**overrides):
    return DistillConfig(sigma_min=EPS, sigma_max=80.0, sigma_data=0.5, **{"N": 80, **overrides})


def loss_of(student, config, teacher=gaussian_denoiser, x0=None, cond=None, uncond=None, target=None):
    """The loss with `target` (default: the student itself) on 512 samples of the data."""
    g = torch.Generator().manual_seed(0)
    x0 = M + 0.5 * torch.randn(512, 2, generator=g, dtype=torch.float64) if x0 is None else x0
    return consistency_distillation_loss(student, target or student, teacher, x0, cond, uncond, config, 0, 10, g)


def test_exact_consistency_function_has_tiny_loss_with_heun_teacher():
    heun, stats = loss_of(gaussian_consistency_fn, cfg())
    euler, _ = loss_of(gaussian_consistency_fn, cfg(teacher_solver="euler"))
    wrong, _ = loss_of(lambda x, s: x, cfg())  # identity is not the consistency function
    assert stats["N"] == 80
    assert heun.item() < 1e-8 and euler.item() < 1e-5 and heun.item() < euler.item() / 100  # O(h^6) vs O(h^4)
    assert wrong.item() > 1.0


def test_skipping_the_teacher_step_is_detected(monkeypatch):
    correct, _ = loss_of(gaussian_consistency_fn, cfg())
    monkeypatch.setitem(distill.TEACHER_SOLVERS, "heun", lambda D, x, a, b, **c: x.clone())
    skipped, _ = loss_of(gaussian_consistency_fn, cfg())
    assert skipped.item() > 1e-4 and skipped.item() > 1e4 * correct.item()


def test_gradient_reaches_the_student_only():
    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    target_scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(16, 2, generator=g, dtype=torch.float64)
    loss, _ = consistency_distillation_loss(
        lambda x, s: scale * gaussian_consistency_fn(x, s) + 0.1,
        lambda x, s: target_scale * gaussian_consistency_fn(x, s),
        gaussian_denoiser, x0, None, None, cfg(), 0, 10, g,
    )
    loss.backward()
    assert scale.grad is not None and scale.grad.abs() > 0 and target_scale.grad is None


def test_teacher_guidance_and_lcm_guidance_conditioning():
    seen = {"teacher": [], "student": []}

    def teacher(x, sigma, label):
        seen["teacher"].append(label.clone())
        return gaussian_denoiser(x, sigma) + label[:, None].to(x.dtype)

    def student(x, sigma, label, guidance=None):
        seen["student"].append(guidance)
        return gaussian_consistency_fn(x, sigma)

    x0 = torch.zeros(8, 2, dtype=torch.float64)
    cond, uncond = {"label": torch.ones(8, dtype=torch.long)}, {"label": torch.zeros(8, dtype=torch.long)}
    loss_of(student, cfg(guidance=3.0), teacher, x0, cond, uncond)
    assert seen["teacher"][0].tolist() == [0] * 8 + [1] * 8  # one batched call on [uncond; cond]
    assert seen["student"] == [None, None]  # a fixed w is not given to the student
    seen["student"].clear()
    loss_of(student, cfg(guidance=2.0, guidance_max=6.0), teacher, x0, cond, uncond)
    w = seen["student"][0]
    assert w.shape == (8,) and torch.all((w >= 2.0) & (w <= 6.0)) and w.std() > 0
    assert torch.equal(seen["student"][1], w)  # student and target see the same w
    with pytest.raises(ValueError, match="uncond"):
        loss_of(student, cfg(guidance=3.0), teacher, x0, cond, None)


def test_weighting_and_distances():
    def offset(x, sigma):  # the exact function + 0.1: d = 0.1^2 per element (+ the tiny Heun error)
        return gaussian_consistency_fn(x, sigma) + 0.1

    exact = gaussian_consistency_fn
    uniform, _ = loss_of(offset, cfg(), target=exact)
    assert uniform.item() == pytest.approx(0.01, rel=1e-3)
    ict, _ = loss_of(offset, cfg(weighting="ict"), target=exact)
    assert ict.item() > 10 * uniform.item()  # lambda = 1 / (t_{n+1} - t_n) >> 1 for small t
    huber, _ = loss_of(offset, cfg(distance="pseudo_huber", huber_c=0.03), target=exact)
    assert huber.item() == pytest.approx(math.sqrt(2 * 0.01 + 0.03**2) - 0.03, rel=1e-3)


def test_discretization_schedules_reach_the_loss():
    for config, step, expected in [
        (cfg(discretization="ict", s0=10, s1=40), 9, 41),
        (cfg(discretization="progression", progression=(8, 4)), 7, 4),
    ]:
        g = torch.Generator().manual_seed(0)
        x0 = torch.zeros(4, 2, dtype=torch.float64)
        _, stats = consistency_distillation_loss(
            gaussian_consistency_fn, gaussian_consistency_fn, gaussian_denoiser, x0, None, None, config, step, 10, g
        )
        assert stats["N"] == expected


def test_config_validation():
    for bad in [dict(distance="l1"), dict(teacher_solver="rk4"), dict(mu=1.5), dict(N=1),
                dict(sigma_min=1.0, sigma_max=0.5), dict(guidance=3.0, guidance_max=2.0)]:
        with pytest.raises(Img2gsError):
            dataclasses.replace(cfg(), **bad)


def test_student_boundary_must_match_config():
    from img2gs.viewgen.precond import Denoiser

    student = Denoiser(lambda x, c: torch.zeros_like(x), sigma_data=0.5, sigma_min=0.01, parameterization="consistency")
    with pytest.raises(Img2gsError, match="sigma_min"):
        loss_of(student, cfg())
