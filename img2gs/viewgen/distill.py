"""Consistency distillation: Song et al. 2023, "Consistency Models", Algorithm 2 (CD), generic over networks.

One training step draws n ~ U{1, ..., N-1}, noises the data to x_{t_{n+1}} = x + t_{n+1} z, moves it one
teacher ODE step back to x^_{t_n} (Heun, as in the paper's EDM teacher), and pulls the student's
f_theta(x_{t_{n+1}}, t_{n+1}) towards the target network's stopgrad f_theta-(x^_{t_n}, t_n). The
boundary condition f(x, t_1 = sigma_min) = x comes from the "consistency" preconditioning
(precond.py), which anchors the chain of consistency to the data.

Options:
- `guidance` > 1 with an `uncond` condition: the teacher step uses classifier-free guidance
  (the guided-distillation of Luo et al. 2023, "Latent Consistency Models", eq. 9). With
  `guidance_max` set, LCM's augmented variant: w ~ U[guidance, guidance_max] per sample, and the
  student and target also receive w as the condition `guidance` [B] so that one student serves a range
  of guidance scales.
- `discretization`: a fixed N, the iCT curriculum or a stage-wise list (schedule.py).
- `weighting`: lambda(t_n) = 1 (Song et al. 2023) or 1 / (t_{n+1} - t_n) (Song & Dhariwal 2023).

The trainer owns the loop: loss.backward(); optimizer.step(); ema_update(target, student, cfg.mu).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import Tensor

from img2gs.errors import Img2gsError
from img2gs.training.distributed import Shard
from img2gs.viewgen.loss import LPIPSDistance, l2_distance, pseudo_huber_distance
from img2gs.viewgen.precond import expand_like
from img2gs.viewgen.sampler import euler_step, guided_denoiser, heun_step
from img2gs.viewgen.schedule import DISCRETIZATIONS, consistency_boundaries, discretization_steps

# The teacher's one-step ODE solvers, looked up by name at call time.
TEACHER_SOLVERS: dict[str, Callable[..., Tensor]] = {"heun": heun_step, "euler": euler_step}
DISTANCES = ("l2", "pseudo_huber", "lpips")
WEIGHTINGS = ("uniform", "ict")
GUIDANCE_KEY = "guidance"  # condition name of the guidance scale w given to an LCM-style student


@dataclass(frozen=True)
class DistillConfig:
    """Hyper-parameters of consistency distillation (defaults: Song et al. 2023, CD on CIFAR-10)."""

    sigma_min: float = 0.002  # epsilon: the boundary t_1, where f(x, t_1) = x
    sigma_max: float = 80.0  # T = t_N
    rho: float = 7.0  # spacing of the boundaries t_1..t_N (Karras et al. 2022, eq. 5)
    sigma_data: float = 0.5  # data standard deviation of the preconditioning
    discretization: str = "fixed"  # "fixed" | "ict" | "progression": how N changes with the step
    N: int = 18  # number of boundaries for "fixed"
    s0: int = 10  # "ict": initial number of intervals
    s1: int = 1280  # "ict": final number of intervals
    progression: tuple[int, ...] = (1024, 256, 64, 16, 4)  # "progression": N of each equal stage
    distance: str = "l2"  # "l2" | "pseudo_huber" | "lpips"
    huber_c: float | None = None  # pseudo-Huber c; None = 0.00054 sqrt(d)
    mu: float = 0.95  # EMA decay of the target network theta- (the trainer applies it)
    teacher_solver: str = "heun"  # "heun" | "euler": the teacher's ODE step t_{n+1} -> t_n
    guidance: float = 1.0  # teacher classifier-free guidance w (LCM: the lower end of the range)
    guidance_max: float | None = None  # LCM: sample w ~ U[guidance, guidance_max] and condition on it
    weighting: str = "uniform"  # "uniform": lambda = 1; "ict": lambda = 1 / (t_{n+1} - t_n)

    def __post_init__(self):
        checks = [
            (0 < self.sigma_min < self.sigma_max, "need 0 < sigma_min < sigma_max"),
            (self.sigma_data > 0 and self.rho > 0, "need sigma_data > 0 and rho > 0"),
            (self.discretization in DISCRETIZATIONS, f"discretization must be one of {DISCRETIZATIONS}"),
            (self.distance in DISTANCES, f"distance must be one of {DISTANCES}"),
            (self.teacher_solver in TEACHER_SOLVERS, f"teacher_solver must be one of {tuple(TEACHER_SOLVERS)}"),
            (self.weighting in WEIGHTINGS, f"weighting must be one of {WEIGHTINGS}"),
            (0.0 <= self.mu <= 1.0, "mu must be in [0, 1]"),
            (self.guidance_max is None or self.guidance_max >= self.guidance, "need guidance_max >= guidance"),
            (self.N >= 2, "need N >= 2"),
        ]
        for ok, message in checks:
            if not ok:
                raise Img2gsError(f"distill config: {message}")


@functools.cache
def _default_lpips() -> LPIPSDistance:
    return LPIPSDistance()


def make_distance(cfg: DistillConfig) -> Callable[[Tensor, Tensor], Tensor]:
    """d(a [B, ...], b [B, ...]) -> [B] named by cfg.distance (LPIPS built once, lazily)."""
    if cfg.distance == "l2":
        return l2_distance
    if cfg.distance == "pseudo_huber":
        return functools.partial(pseudo_huber_distance, c=cfg.huber_c)
    return _default_lpips()


def sample_guidance(cfg: DistillConfig, B: int, generator, device, dtype) -> Tensor | float:
    """Teacher guidance w: cfg.guidance, or per sample w ~ U[guidance, guidance_max] [B] (LCM)."""
    if cfg.guidance_max is None:
        return cfg.guidance
    u = torch.rand(B, generator=generator, device=device, dtype=dtype)
    return cfg.guidance + (cfg.guidance_max - cfg.guidance) * u


def consistency_distillation_loss(
    student: Callable[..., Tensor],  # f_theta(x, sigma, **cond): consistency-preconditioned Denoiser
    target: Callable[..., Tensor],  # f_theta-(x, sigma, **cond): EMA of the student
    teacher: Callable[..., Tensor],  # D_phi(x, sigma, **cond): the diffusion model
    x0: Tensor,  # [B, ...] clean data
    cond: Mapping | None,
    uncond: Mapping | None,
    cfg: DistillConfig,
    step: int,
    total_steps: int,
    generator: torch.Generator | None,
    distance: Callable[[Tensor, Tensor], Tensor] | None = None,
    shard: Shard = Shard(),
) -> tuple[Tensor, dict]:
    """Song et al. 2023, Alg. 2 (one step's loss). Returns (scalar loss with grad to the student, stats):
    the loss of this process's `shard` of the batch, every random number drawn for the whole batch."""
    B, device, dtype = x0.shape[0], x0.device, x0.dtype
    cond = dict(cond or {})
    for name, fn in (("student", student), ("target", target)):
        boundary = getattr(fn, "sigma_min", cfg.sigma_min)  # a Denoiser's boundary must be t_1
        if boundary != cfg.sigma_min:
            raise Img2gsError(f"distill config: sigma_min={cfg.sigma_min} but the {name} has sigma_min={boundary}")
    N = discretization_steps(
        step, total_steps, cfg.discretization, N=cfg.N, s0=cfg.s0, s1=cfg.s1, progression=cfg.progression
    )
    t = consistency_boundaries(N, cfg.sigma_min, cfg.sigma_max, cfg.rho, device=device, dtype=dtype)  # [N]
    n = torch.randint(0, N - 1, (B,), generator=generator, device=device)  # line 3: n ~ U[1, N-1], 0-based
    t_n, t_n1 = t[n], t[n + 1]  # [B], [B]
    z = torch.randn(x0.shape, generator=generator, device=device, dtype=dtype)
    x_n1 = x0 + expand_like(t_n1, x0) * z  # line 4: x_{t_{n+1}} ~ N(x, t_{n+1}^2 I)

    w = sample_guidance(cfg, B, generator, device, dtype)
    x_n1, t_n, t_n1, w = (shard.take(v) for v in (x_n1, t_n, t_n1, w))  # what the network passes need
    cond, uncond = shard.take(cond), None if uncond is None else shard.take(dict(uncond))
    student_cond = {**cond, GUIDANCE_KEY: w} if cfg.guidance_max is not None else cond
    guided = cfg.guidance_max is not None or cfg.guidance != 1.0
    with torch.no_grad():
        D_teacher = guided_denoiser(teacher, cond, uncond if guided else None, w)
        x_hat_n = TEACHER_SOLVERS[cfg.teacher_solver](D_teacher, x_n1, t_n1, t_n)  # line 5: one ODE step
        f_target = target(x_hat_n, t_n, **student_cond)  # line 6: stopgrad f_theta-(x^_{t_n}, t_n)
    f_student = student(x_n1, t_n1, **student_cond)  # f_theta(x_{t_{n+1}}, t_{n+1})

    weight = torch.ones_like(t_n) if cfg.weighting == "uniform" else 1.0 / (t_n1 - t_n)  # lambda(t_n)
    d = (distance or make_distance(cfg))(f_student, f_target)  # [B]
    loss = (weight * d).mean()
    stats = {"loss": loss.detach(), "N": N, "distance": d.detach().mean(), "t_n1_mean": t_n1.mean()}
    return loss, stats
