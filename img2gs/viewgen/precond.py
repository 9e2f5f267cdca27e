"""Preconditioning: the one place where c_skip, c_out, c_in and c_noise are defined.

A raw backbone F(x_in, c_noise, **cond) is wrapped into

    D(x; sigma) = c_skip(sigma) * x + c_out(sigma) * F(c_in(sigma) * x, c_noise(sigma), **cond)

- "edm": the denoiser of Karras et al. 2022, "Elucidating the Design Space of Diffusion-Based
  Generative Models", Table 1 (EDM column). c_skip -> 1 and c_out -> 0 only as sigma -> 0.
- "consistency": the consistency function of Song et al. 2023, "Consistency Models", Appendix C: the
  same formulas with sigma_min subtracted, so that the boundary condition f(x, sigma_min) = x holds
  exactly (c_skip = 1, c_out = 0 at sigma = sigma_min) whatever the backbone outputs.

Teacher (EDM), student and target (consistency), and the tests all use this file.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

PARAMETERIZATIONS = ("edm", "consistency")


def edm_scalings(sigma: Tensor, sigma_data: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Karras et al. 2022, Table 1: (c_skip, c_out, c_in, c_noise), each shaped like `sigma`."""
    sd2 = sigma_data**2
    c_skip = sd2 / (sigma**2 + sd2)
    c_out = sigma * sigma_data / (sigma**2 + sd2).sqrt()
    c_in = 1.0 / (sigma**2 + sd2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def consistency_scalings(
    sigma: Tensor, sigma_data: float, sigma_min: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Song et al. 2023, Appendix C: EDM scalings with sigma_min subtracted, so that at
    sigma = sigma_min we get c_skip = 1 and c_out = 0 exactly (the boundary condition)."""
    sd2 = sigma_data**2
    c_skip = sd2 / ((sigma - sigma_min) ** 2 + sd2)
    c_out = (sigma - sigma_min) * sigma_data / (sigma**2 + sd2).sqrt()
    c_in = 1.0 / (sigma**2 + sd2).sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


def as_sigma(sigma: Tensor | float, x: Tensor) -> Tensor:
    """Noise level(s) as a [B] tensor on x's device and dtype (a scalar is repeated for the batch)."""
    sigma = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if sigma.ndim == 0:
        sigma = sigma.expand(x.shape[0])
    if sigma.shape != (x.shape[0],):
        raise ValueError(f"sigma must be a scalar or shaped [B]={x.shape[0]}, got {tuple(sigma.shape)}")
    return sigma


def expand_like(v: Tensor, x: Tensor) -> Tensor:
    """[B] -> [B, 1, ..., 1] so that it broadcasts against x [B, ...]."""
    return v.reshape(v.shape[0], *([1] * (x.ndim - 1)))


class Denoiser(torch.nn.Module):
    """Preconditioning wrapper around a raw backbone (EDM's `EDMPrecond`, generic over the network).

    backbone(x_in [B, ...], c_noise [B], **cond) -> [B, ...] (same shape as x_in).
    forward(x [B, ...], sigma scalar or [B], **cond) -> D(x; sigma) [B, ...] in x's dtype.

    With parameterization="consistency" the module is the consistency function f(x, sigma) of
    Song et al. 2023 (f(x, sigma_min) = x exactly).
    """

    def __init__(
        self,
        backbone: torch.nn.Module | Callable[..., Tensor],
        sigma_data: float = 0.5,
        sigma_min: float = 0.002,
        parameterization: str = "edm",
    ):
        super().__init__()
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}")
        if not (sigma_data > 0 and sigma_min > 0 and math.isfinite(sigma_data)):
            raise ValueError(f"need sigma_data > 0 and sigma_min > 0, got {sigma_data}, {sigma_min}")
        self.backbone = backbone
        self.sigma_data = float(sigma_data)
        self.sigma_min = float(sigma_min)
        self.parameterization = parameterization

    def scalings(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if self.parameterization == "consistency":
            return consistency_scalings(sigma, self.sigma_data, self.sigma_min)
        return edm_scalings(sigma, self.sigma_data)

    def forward(self, x: Tensor, sigma: Tensor | float, **cond) -> Tensor:
        sigma = as_sigma(sigma, x)  # [B]
        c_skip, c_out, c_in, c_noise = self.scalings(sigma)
        F_x = self.backbone(expand_like(c_in, x) * x, c_noise, **cond)
        if F_x.shape != x.shape:
            raise ValueError(f"backbone returned {tuple(F_x.shape)}, expected {tuple(x.shape)}")
        D_x = expand_like(c_skip, x) * x + expand_like(c_out, x) * F_x.to(x.dtype)
        return D_x
