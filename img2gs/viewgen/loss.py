"""Training losses and distances of the view generator.

- `EDMLoss`: the denoising loss of Karras et al. 2022 (eq. 2 with the Table 1 weighting), used to
  train the diffusion teacher.
- Distances d(a, b) -> [B] for consistency models: `l2_distance` (Song et al. 2023),
  `pseudo_huber_distance` (Song & Dhariwal 2023), `LPIPSDistance` (Song et al. 2023, Sec. 6).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import torch
import torch.nn.functional as Fn
from torch import Tensor

from img2gs.training.distributed import Shard
from img2gs.viewgen.precond import expand_like
from img2gs.viewgen.schedule import sample_lognormal_sigmas


def mean_flat(x: Tensor) -> Tensor:
    """[B, ...] -> [B]: mean over all but the batch dimension."""
    return x.flatten(1).mean(1)


class EDMLoss:
    """Karras et al. 2022, eq. 2 / Table 1: ln(sigma) ~ N(P_mean, P_std^2),
    loss = lambda(sigma) ||D(y + n; sigma) - y||^2 with lambda = (sigma^2 + sd^2) / (sigma sd)^2.

    Returns the per-sample loss [B] (squared error averaged over elements, so an untrained
    EDM-preconditioned network starts near 1). Condition dropout for classifier-free guidance is the
    caller's business: it passes the (partly dropped) conditions in `cond`.
    """

    def __init__(self, P_mean: float = -1.2, P_std: float = 1.2, sigma_data: float = 0.5):
        self.P_mean, self.P_std, self.sigma_data = P_mean, P_std, sigma_data

    def __call__(
        self,
        denoiser: Callable[..., Tensor],
        y: Tensor,  # [B, ...] clean data
        cond: Mapping | None = None,
        generator: torch.Generator | None = None,
        shard: Shard = Shard(),
    ) -> Tensor:
        """[B / world]: the loss of this process's `shard` of the batch (the noise drawn for all of it)."""
        sigma = sample_lognormal_sigmas(
            y.shape[0], self.P_mean, self.P_std, generator, device=y.device, dtype=y.dtype
        )  # [B]
        n = torch.randn(y.shape, generator=generator, device=y.device, dtype=y.dtype) * expand_like(sigma, y)
        y, n, sigma, cond = shard.take(y), shard.take(n), shard.take(sigma), shard.take(dict(cond or {}))
        weight = (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2  # [B]
        D_yn = denoiser(y + n, sigma, **cond)
        return weight * mean_flat((D_yn - y) ** 2)


def l2_distance(a: Tensor, b: Tensor) -> Tensor:
    """Squared L2 distance averaged over elements (Song et al. 2023, "l2"): [B, ...] x2 -> [B]."""
    return mean_flat((a - b) ** 2)


def pseudo_huber_distance(a: Tensor, b: Tensor, c: float | None = None) -> Tensor:
    """Song & Dhariwal 2023, Sec. 3.3: sqrt(||a - b||^2 + c^2) - c, [B, ...] x2 -> [B].

    c defaults to 0.00054 sqrt(d), d = elements per sample (their choice for data in [-1, 1]).
    Quadratic (||a - b||^2 / 2c) for small differences, linear (||a - b||) for large ones.
    """
    if c is None:
        c = 0.00054 * math.sqrt(a[0].numel())
    return ((a - b).flatten(1).square().sum(1) + c**2).sqrt() - c


class LPIPSDistance:
    """LPIPS as a consistency distance (Song et al. 2023, Sec. 6), an adapter around a perceptual network.

    `network(a, b) -> [B]` compares [B, 3, H, W] images in [-1, 1] (default: `img2gs.lpips.LPIPS.load()`,
    built on first use). Inputs are [B, C, H, W] in [-1, 1]; the first three channels (RGB) go through
    LPIPS after a bilinear resize to `resolution` (224, as in the paper; None keeps the size), and any
    further channels (alpha) add their `l2_distance`. Gradients flow to the inputs, not the network.
    """

    def __init__(self, network: Callable[[Tensor, Tensor], Tensor] | None = None, resolution: int | None = 224):
        self.network = network
        self.resolution = resolution

    def _network(self, like: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
        if self.network is None:
            from img2gs.lpips import LPIPS  # lazily: weights are loaded only when LPIPS is used

            self.network = LPIPS.load()
        if isinstance(self.network, torch.nn.Module):
            self.network.to(device=like.device).eval().requires_grad_(False)
        return self.network

    def __call__(self, a: Tensor, b: Tensor) -> Tensor:
        if a.ndim != 4 or a.shape[1] < 3 or a.shape != b.shape:
            raise ValueError(f"LPIPS needs two [B, C>=3, H, W] images, got {tuple(a.shape)}, {tuple(b.shape)}")
        rgb_a, rgb_b = a[:, :3], b[:, :3]
        if self.resolution is not None and rgb_a.shape[-2:] != (self.resolution, self.resolution):
            size = (self.resolution, self.resolution)
            rgb_a = Fn.interpolate(rgb_a, size=size, mode="bilinear", align_corners=False)
            rgb_b = Fn.interpolate(rgb_b, size=size, mode="bilinear", align_corners=False)
        d = self._network(a)(rgb_a, rgb_b).reshape(a.shape[0])
        if a.shape[1] > 3:
            d = d + l2_distance(a[:, 3:], b[:, 3:])
        return d
