"""Noise levels: sampling schedules, training noise distributions, consistency discretisations.

- `karras_sigmas`: the time steps of Karras et al. 2022, eq. 5 (descending; samplers append 0).
- `sample_lognormal_sigmas`: EDM's training distribution ln(sigma) ~ N(P_mean, P_std^2) (Table 1).
- `consistency_boundaries`: t_1 = sigma_min < ... < t_N = sigma_max of Song et al. 2023, Sec. 3 /
  App. C (the same rho-spaced grid, ascending).
- `discretization_steps`: N as a function of the training step ("fixed", the exponential curriculum
  of Song & Dhariwal 2023 "Improved Techniques for Training Consistency Models" Sec. 3.4, or a
  stage-wise list).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DISCRETIZATIONS = ("fixed", "ict", "progression")


def karras_sigmas(
    n: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Karras et al. 2022, eq. 5: sigma_i = (s_max^(1/rho) + i/(n-1) (s_min^(1/rho) - s_max^(1/rho)))^rho.

    Returns [n], descending from sigma_max to sigma_min (n = 1 gives [sigma_max]).
    """
    if n < 1:
        raise ValueError(f"need n >= 1 noise levels, got {n}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    if n == 1:
        return torch.tensor([sigma_max], dtype=dtype, device=device)
    i = torch.arange(n, dtype=torch.float64)
    inv_rho = 1.0 / rho
    sigmas = (sigma_max**inv_rho + i / (n - 1) * (sigma_min**inv_rho - sigma_max**inv_rho)) ** rho
    sigmas[0], sigmas[-1] = sigma_max, sigma_min  # exact endpoints, no round-off
    return sigmas.to(device=device, dtype=dtype)


def consistency_boundaries(
    N: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Song et al. 2023: t_i = (eps^(1/rho) + (i-1)/(N-1) (T^(1/rho) - eps^(1/rho)))^rho, i = 1..N.

    Returns [N], ascending, t_1 = sigma_min (eps), t_N = sigma_max (T).
    """
    if N < 2:
        raise ValueError(f"a consistency discretisation needs N >= 2 boundaries, got {N}")
    return karras_sigmas(N, sigma_min, sigma_max, rho, device=device, dtype=dtype).flip(0)


def sample_lognormal_sigmas(
    n: int,
    P_mean: float = -1.2,
    P_std: float = 1.2,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """EDM training noise levels (Karras et al. 2022, Table 1): ln(sigma) ~ N(P_mean, P_std^2). [n]"""
    rnd_normal = torch.randn(n, generator=generator, device=device, dtype=dtype)
    return (rnd_normal * P_std + P_mean).exp()


def ict_discretization_steps(step: int, total_steps: int, s0: int = 10, s1: int = 1280) -> int:
    """Song & Dhariwal 2023, eq. 8 (improved consistency training):
    N(k) = min(s0 * 2^floor(k / K'), s1) + 1,  K' = floor(K / (log2(s1 / s0) + 1))."""
    K_prime = max(1, math.floor(total_steps / (math.log2(s1 / s0) + 1)))
    return min(s0 * 2 ** (step // K_prime), s1) + 1


def discretization_steps(
    step: int,
    total_steps: int,
    kind: str = "fixed",
    *,
    N: int = 18,
    s0: int = 10,
    s1: int = 1280,
    progression: tuple[int, ...] = (1024, 256, 64, 16, 4),
) -> int:
    """Number N of boundaries t_1..t_N used at training step `step` (0-based) of `total_steps`.

    - "fixed": N (Song et al. 2023 use N = 18 for distillation on CIFAR-10).
    - "ict": the exponential curriculum of Song & Dhariwal 2023 (doubling from s0 + 1 to s1 + 1).
    - "progression": training is cut into len(progression) equal stages; stage i uses
      N = progression[i] (a step past the end stays on the last stage).
    """
    if step < 0 or total_steps < 1:
        raise ValueError(f"bad step {step} of total_steps {total_steps}")
    if kind == "fixed":
        result = N
    elif kind == "ict":
        if not 1 <= s0 <= s1:
            raise ValueError(f"ict curriculum needs 1 <= s0 <= s1, got {s0}, {s1}")
        result = ict_discretization_steps(step, total_steps, s0, s1)
    elif kind == "progression":
        if not progression:
            raise ValueError("progression needs at least one stage")
        stage = min(step * len(progression) // total_steps, len(progression) - 1)
        result = int(progression[stage])
    else:
        raise ValueError(f"unknown discretisation kind {kind!r} (expected one of {DISCRETIZATIONS})")
    if result < 2:
        raise ValueError(f"a consistency discretisation needs N >= 2 boundaries, got {result}")
    return result
