"""Exactness of consistency distillation (Song et al. 2023, Alg. 2) against an EXACT teacher.

The data is a 2-D Gaussian mixture (conftest.py: three components on the unit circle, separation ~1.73)
whose denoiser D(x; sigma) = E[x0 | x_sigma] is known in closed form, so the teacher's probability-flow
ODE is exact. We distil it with `consistency_distillation_loss` into a small MLP (consistency
preconditioning, EMA target) and compare the student's ONE-STEP output f(x_T, T) with the end point of
a fine Heun solve of the exact ODE from the same x_T (T = 80 down to sigma_min).

Criterion: mean end-point error < TOLERANCE = 0.25 (~15% of the component separation) and < 1/4 of
both baselines (the untrained student, and the teacher's own one-step guess D(x_T; T), each ~1).
Then the same criterion must FAIL when the boundary condition is not enforced or when the teacher's
ODE step is broken (wrong sign, skipped, or taken with the student instead of the teacher). The broken
variants are injected from here (a Denoiser subclass, a patched solver table, another teacher argument),
with the same training budget as the correct run.

Run with `-s` to see the measured numbers.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from img2gs.training.ema import ema_update
import img2gs.viewgen.distill as distill
from img2gs.viewgen.distill import DistillConfig, consistency_distillation_loss
from img2gs.viewgen.precond import Denoiser, consistency_scalings, edm_scalings
from img2gs.viewgen.sampler import consistency_sampler, euler_step, heun_step
from img2gs.viewgen.schedule import karras_sigmas

pytestmark = pytest.mark.usefixtures("single_thread")

T, SIGMA_MIN = 80.0, 0.002
STEPS, BATCH, WIDTH, LR = 600, 128, 64, 2e-2  # ~2.5 s of one CPU core per distillation
TOLERANCE = 0.25  # mean ||f(x_T, T) - ODE end point||; component separation is ~1.73
N_PROBE = 1000
REFERENCE_STEPS = 192  # Heun steps of the reference ODE solve


class MLPBackbone(torch.nn.Module):
    """F(x_in [B, 2], c_noise [B]) -> [B, 2]: an MLP on x_in and fixed Fourier features of c_noise."""

    def __init__(self, width: int = WIDTH, n_freq: int = 8, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", 2.0 * torch.randn(n_freq, generator=g))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 + 2 * n_freq, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, width), torch.nn.SiLU(),
            torch.nn.Linear(width, 2),
        )

    def forward(self, x_in, c_noise):
        angles = c_noise.to(x_in.dtype)[:, None] * self.freqs[None]  # [B, n_freq]
        return self.net(torch.cat([x_in, angles.sin(), angles.cos()], 1))


def make_student(mixture, student_cls=Denoiser, seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)  # nn.Linear's initialisation
    return student_cls(MLPBackbone(seed=seed), sigma_data=mixture.sigma_data, sigma_min=SIGMA_MIN,
                       parameterization="consistency")


def config(mixture) -> DistillConfig:
    return DistillConfig(sigma_min=SIGMA_MIN, sigma_max=T, rho=7.0, sigma_data=mixture.sigma_data, N=18,
                         distance="l2", mu=0.9, teacher_solver="heun")


def exact_teacher(mixture):
    return lambda x, sigma, **cond: mixture.denoise(x.double(), sigma.double()).to(x.dtype)


def distill_student(mixture, student_cls=Denoiser, teacher_is_student: bool = False, seed: int = 0) -> Denoiser:
    """The training loop of Alg. 2: loss, Adam step (cosine-decayed lr), EMA target update."""
    cfg = config(mixture)
    student = make_student(mixture, student_cls, seed)
    target = copy.deepcopy(student).requires_grad_(False)
    teacher = student if teacher_is_student else exact_teacher(mixture)
    opt = torch.optim.Adam(student.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / STEPS)))
    g = torch.Generator().manual_seed(seed)
    for step in range(STEPS):
        x0 = mixture.sample(BATCH, g).float()
        loss, _ = consistency_distillation_loss(student, target, teacher, x0, None, None, cfg, step, STEPS, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        ema_update(target, student, cfg.mu)
    return student


def ode_end_point(mixture, x_T, n_steps: int):
    """Heun solve of the exact PF-ODE from T to sigma_min (Karras time steps)."""
    x = x_T
    sigmas = karras_sigmas(n_steps, SIGMA_MIN, T).tolist()
    for sigma_from, sigma_to in zip(sigmas[:-1], sigmas[1:]):
        x = heun_step(mixture.denoise, x, sigma_from, sigma_to)
    return x


@pytest.fixture(scope="module")
def probe(mixture, single_thread):
    """x_T = T z [N_PROBE, 2] and the exact ODE end points of each."""
    z = torch.randn(N_PROBE, 2, generator=torch.Generator().manual_seed(123), dtype=torch.float64)
    x_T = T * z
    return x_T, ode_end_point(mixture, x_T, REFERENCE_STEPS)


@pytest.fixture(scope="module")
def distilled(mixture, single_thread):
    return distill_student(mixture)


def one_step_error(f, probe) -> float:
    """Mean ||f(x_T, T) - ODE end point|| over the probe points (inf if the student diverged)."""
    x_T, end = probe
    with torch.no_grad():
        out = f(x_T.float(), T).double()
    err = (out - end).norm(dim=1).mean().item()
    return err if math.isfinite(err) else math.inf


def test_reference_ode_solution_is_converged(mixture, probe):
    x_T, end = probe
    finer = ode_end_point(mixture, x_T, 2 * REFERENCE_STEPS)
    # Mean over probes (a point on a basin boundary may flip): 250x below TOLERANCE.
    assert (finer - end).norm(dim=1).mean().item() < 1e-3


def test_distilled_student_matches_teacher_ode_in_one_step(mixture, probe, distilled):
    x_T, end = probe
    error = one_step_error(distilled, probe)
    untrained = one_step_error(make_student(mixture), probe)
    teacher_one_step = (mixture.denoise(x_T, T) - end).norm(dim=1).mean().item()
    print(f"\n[CD exactness] student one-step error {error:.4f}  (tolerance {TOLERANCE}); baselines: "
          f"untrained student {untrained:.4f}, teacher one-step D(x_T;T) {teacher_one_step:.4f}")
    assert error < TOLERANCE
    assert error < 0.25 * min(untrained, teacher_one_step)
    # The one-step samples also land in the right modes with the right frequencies.
    with torch.no_grad():
        samples = consistency_sampler(distilled, x_T.float() / T, torch.tensor([T]), sigma_min=SIGMA_MIN)
    occupancy = torch.bincount(mixture.component_of(samples.double()), minlength=3).double() / N_PROBE
    torch.testing.assert_close(occupancy, mixture.weights, rtol=0, atol=0.05)


# --- broken variants: the same criterion must fail -------------------------------------------------


class BoundaryNotEnforced(Denoiser):
    """c_skip = 0, c_out = 1: the network output is used as is, so f(x, sigma_min) = x does not hold."""

    def scalings(self, sigma):
        c_skip, c_out, c_in, c_noise = consistency_scalings(sigma, self.sigma_data, self.sigma_min)
        return torch.zeros_like(c_skip), torch.ones_like(c_out), c_in, c_noise


def euler_step_wrong_sign(denoiser, x, sigma_from, sigma_to, **cond):
    return x - (euler_step(denoiser, x, sigma_from, sigma_to, **cond) - x)


def step_skipped(denoiser, x, sigma_from, sigma_to, **cond):
    return x.clone()  # x^_{t_n} = x_{t_{n+1}}: no ODE step at all


@pytest.mark.parametrize(
    "breakage", ["boundary_not_enforced", "euler_step_wrong_sign", "teacher_step_skipped", "student_as_teacher"]
)
def test_broken_distillation_misses_the_tolerance(mixture, probe, monkeypatch, breakage):
    if breakage == "euler_step_wrong_sign":
        monkeypatch.setitem(distill.TEACHER_SOLVERS, "heun", euler_step_wrong_sign)
    if breakage == "teacher_step_skipped":
        monkeypatch.setitem(distill.TEACHER_SOLVERS, "heun", step_skipped)
    student = distill_student(
        mixture,
        student_cls=BoundaryNotEnforced if breakage == "boundary_not_enforced" else Denoiser,
        teacher_is_student=breakage == "student_as_teacher",
    )
    error = one_step_error(student, probe)
    print(f"\n[CD exactness] broken variant {breakage}: one-step error {error:.4g} (tolerance {TOLERANCE})")
    assert not error < TOLERANCE


def test_boundary_without_sigma_min_subtraction_is_not_exact(mixture):
    """EDM scalings used as a consistency function miss f(x, sigma_min) = x; consistency_scalings do not.

    (At sigma_min = 0.002 the miss is only c_out(sigma_min) ~ 0.002 times the network output, too small
    for the one-step criterion above to see, so it is checked here directly.)"""
    sigma = torch.full((4,), SIGMA_MIN, dtype=torch.float64)
    c_skip, c_out, _, _ = edm_scalings(sigma, mixture.sigma_data)
    assert torch.all(c_skip < 1) and torch.all(c_out > 1e-3)
    c_skip, c_out, _, _ = consistency_scalings(sigma, mixture.sigma_data, SIGMA_MIN)
    assert torch.all(c_skip == 1) and torch.all(c_out == 0)
