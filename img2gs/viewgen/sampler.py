"""Samplers: plain functions over any denoiser D(x, sigma, **cond) or consistency function f(x, sigma, **cond).

- `euler_step`, `heun_step`: one step of the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma
  (Karras et al. 2022, Alg. 1 lines 4-8). `heun_step` is also the teacher step of consistency
  distillation.
- `edm_sampler`: Karras et al. 2022, Alg. 2 (Alg. 1 when s_churn = 0), with classifier-free guidance
  (Ho & Salimans 2022) D = D_u + w (D_c - D_u).
- `consistency_sampler`: Song et al. 2023, Alg. 1 (multistep consistency sampling).

`noise` is unit Gaussian noise [B, ...]; samplers scale it by the first noise level themselves (as EDM's
`generate.py` does). Call samplers under `torch.no_grad()` unless gradients are wanted. Randomness comes
only from the explicit `generator` (on the device of `noise`).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import torch
from torch import Tensor

from img2gs.viewgen.precond import as_sigma, expand_like

DenoiserFn = Callable[..., Tensor]  # D(x [B, ...], sigma [B], **cond) -> [B, ...]


def _concat_cond(first: Mapping, second: Mapping) -> dict:
    """Stack two condition dicts along the batch (tensors concatenated, other values must agree)."""
    if set(first) != set(second):
        raise ValueError(f"cond and uncond need the same keys, got {sorted(second)} and {sorted(first)}")
    both = {}
    for key, a in first.items():
        b = second[key]
        if isinstance(a, Tensor):
            both[key] = torch.cat([a, b])
        elif a == b:
            both[key] = a
        else:
            raise ValueError(f"condition {key!r}: non-tensor values differ between cond and uncond")
    return both


def guided_denoiser(
    denoiser: DenoiserFn,
    cond: Mapping | None = None,
    uncond: Mapping | None = None,
    guidance: float | Tensor = 1.0,
) -> DenoiserFn:
    """D(x, sigma) with the conditions bound; with `uncond`, classifier-free guidance (Ho & Salimans 2022)

        D_w = D_u + w (D_c - D_u),  w = guidance (a float or a per-sample [B] tensor),

    evaluated as one batched call of `denoiser` on [uncond; cond]. A float w = 1 is plain D_c.
    """
    cond = dict(cond or {})
    unguided = isinstance(guidance, (int, float)) and guidance == 1.0
    if uncond is None and not unguided:
        raise ValueError("classifier-free guidance != 1 needs an `uncond` condition")
    if unguided:  # D_u + 1 (D_c - D_u) = D_c: no unconditional pass needed
        return lambda x, sigma: denoiser(x, sigma, **cond)
    both = _concat_cond(dict(uncond), cond)

    def D(x: Tensor, sigma: Tensor | float) -> Tensor:
        sigma = as_sigma(sigma, x)  # [B]
        D_u, D_c = denoiser(torch.cat([x, x]), torch.cat([sigma, sigma]), **both).chunk(2)
        w = torch.as_tensor(guidance, dtype=x.dtype, device=x.device)
        w = expand_like(w.expand(x.shape[0]), x)
        return D_u + w * (D_c - D_u)

    return D


def euler_step(denoiser: DenoiserFn, x: Tensor, sigma_from, sigma_to, **cond) -> Tensor:
    """One Euler step of the PF-ODE from sigma_from to sigma_to (scalars or [B]); Karras Alg. 1 l. 4-5."""
    t_cur, t_next = as_sigma(sigma_from, x), as_sigma(sigma_to, x)  # [B], [B]
    d_cur = (x - denoiser(x, t_cur, **cond)) / expand_like(t_cur, x)  # dx/dt at t_cur
    return x + expand_like(t_next - t_cur, x) * d_cur


def heun_step(denoiser: DenoiserFn, x: Tensor, sigma_from, sigma_to, **cond) -> Tensor:
    """One Heun (2nd-order) step of the PF-ODE, Karras et al. 2022 Alg. 1 lines 4-8.

    sigma_from, sigma_to: scalars or [B] tensors (sigma_from > 0). Samples whose sigma_to is 0 take the
    Euler step (Alg. 1 line 6: the correction is skipped at the last step), which lands on D(x; sigma_from).
    """
    t_cur, t_next = as_sigma(sigma_from, x), as_sigma(sigma_to, x)  # [B], [B]
    h = expand_like(t_next - t_cur, x)
    d_cur = (x - denoiser(x, t_cur, **cond)) / expand_like(t_cur, x)  # line 4
    x_next = x + h * d_cur  # line 5 (Euler)
    second = t_next > 0
    if bool(second.any()):
        t_safe = torch.where(second, t_next, t_cur)  # never evaluate D at sigma = 0
        d_prime = (x_next - denoiser(x_next, t_safe, **cond)) / expand_like(t_safe, x)  # line 7
        x_heun = x + h * (0.5 * d_cur + 0.5 * d_prime)  # line 8
        x_next = torch.where(expand_like(second, x), x_heun, x_next)
    return x_next


def edm_sampler(
    denoiser: DenoiserFn,
    noise: Tensor,  # [B, ...] unit Gaussian
    sigmas: Tensor,  # [n] descending, e.g. karras_sigmas(n); 0 is appended
    *,
    heun: bool = True,
    guidance: float | Tensor = 1.0,
    cond: Mapping | None = None,
    uncond: Mapping | None = None,
    generator: torch.Generator | None = None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
) -> Tensor:
    """Karras et al. 2022, Alg. 2 (stochastic; deterministic Alg. 1 when s_churn = 0). Returns x_0 [B, ...]."""
    D = guided_denoiser(denoiser, cond, uncond, guidance)
    t_steps = [float(t) for t in sigmas] + [0.0]  # t_N = 0
    step = heun_step if heun else euler_step
    n = len(t_steps) - 1
    x_next = noise * t_steps[0]  # line 2: x_0 ~ N(0, t_0^2 I)
    for t_cur, t_next in zip(t_steps[:-1], t_steps[1:]):  # line 3
        x_cur = x_next
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= t_cur <= s_tmax else 0.0  # line 3: gamma_i
        t_hat = t_cur + gamma * t_cur  # line 5
        x_hat = x_cur
        if gamma > 0:  # lines 4, 6: add noise to move from t_cur up to t_hat
            eps = torch.randn(x_cur.shape, generator=generator, device=x_cur.device, dtype=x_cur.dtype)
            x_hat = x_cur + math.sqrt(t_hat**2 - t_cur**2) * s_noise * eps
        x_next = step(D, x_hat, t_hat, t_next)  # lines 7-11: Euler step, Heun correction unless t_next = 0
    return x_next


def consistency_sampler(
    consistency_fn: DenoiserFn,
    noise: Tensor,  # [B, ...] unit Gaussian
    sigmas: Tensor,  # [n] descending, sigmas[0] = T; n = 1 is one-step generation
    *,
    sigma_min: float,
    cond: Mapping | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Song et al. 2023, Alg. 1 (multistep consistency sampling). Returns x [B, ...]."""
    cond = dict(cond or {})
    taus = [float(t) for t in sigmas]
    if not taus or any(t < sigma_min for t in taus):
        raise ValueError(f"need at least one noise level, all >= sigma_min={sigma_min}, got {taus}")
    T = taus[0]
    x = consistency_fn(noise * T, T, **cond)  # x <- f(x^_T, T)
    for tau in taus[1:]:  # tau_1 > tau_2 > ... > tau_{N-1}
        z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)  # z ~ N(0, I)
        x_tau = x + math.sqrt(tau**2 - sigma_min**2) * z  # x^_tau <- x + sqrt(tau^2 - eps^2) z
        x = consistency_fn(x_tau, tau, **cond)  # x <- f(x^_tau, tau)
    return x
