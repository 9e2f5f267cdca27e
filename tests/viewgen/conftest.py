"""Fixtures of the view-generator maths tests: a 2-D Gaussian mixture whose denoiser is exact."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor


class GaussianMixture:
    """p(x0) = sum_k pi_k N(mu_k, Sigma_k) in 2 dimensions (float64), with its exact denoiser.

    Noising with sigma gives x ~ sum_k pi_k N(mu_k, Sigma_k + sigma^2 I), so
    E[x0 | x] = sum_k r_k(x) (mu_k + Sigma_k (Sigma_k + sigma^2 I)^-1 (x - mu_k)),
    r_k(x) the posterior responsibility of component k under the noised mixture.
    """

    def __init__(self, weights: Tensor, means: Tensor, covs: Tensor):
        assert means.shape[1] == 2, "the closed-form 2x2 inverse below needs D = 2"
        self.weights = weights / weights.sum()  # [K]
        self.means = means  # [K, D]
        self.covs = covs  # [K, D, D]

    @property
    def mean(self) -> Tensor:  # [D]
        return (self.weights[:, None] * self.means).sum(0)

    @property
    def cov(self) -> Tensor:  # [D, D]
        d = self.means - self.mean
        second = self.covs + d[:, :, None] * d[:, None, :]
        return (self.weights[:, None, None] * second).sum(0)

    @property
    def sigma_data(self) -> float:
        """RMS per-coordinate standard deviation (the sigma_data of EDM)."""
        return math.sqrt(float(torch.diagonal(self.cov).mean()))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:  # [n, D]
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        L = torch.linalg.cholesky(self.covs)[k]  # [n, D, D]
        z = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)
        return self.means[k] + (L @ z[:, :, None])[:, :, 0]

    def component_of(self, x: Tensor) -> Tensor:
        """Most likely component of each clean point x [B, D] -> [B] (for occupancy checks)."""
        return self._responsibilities(x, torch.zeros(x.shape[0], dtype=x.dtype))[0].argmax(1)

    def _responsibilities(self, x: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior r_k(x) [B, K] under N(mu_k, S_k = Sigma_k + sigma^2 I), and S_k^-1 (x - mu_k) [B, K, 2].

        2x2 inverses in closed form (batched Cholesky of tiny matrices is slow on CPU)."""
        S = self.covs[None] + (sigma**2)[:, None, None, None] * torch.eye(2, dtype=x.dtype)  # [B, K, 2, 2]
        a, b, d = S[..., 0, 0], S[..., 0, 1], S[..., 1, 1]  # [B, K]
        det = a * d - b * b
        diff = x[:, None, :] - self.means[None]  # [B, K, 2]
        u, v = diff[..., 0], diff[..., 1]
        sol = torch.stack([d * u - b * v, a * v - b * u], -1) / det[..., None]  # [B, K, 2]
        logp = self.weights.log()[None] - 0.5 * (diff * sol).sum(-1) - 0.5 * det.log()
        return torch.softmax(logp, dim=1), sol

    def denoise(self, x: Tensor, sigma: Tensor | float, **cond) -> Tensor:
        """Exact D(x; sigma) = E[x0 | x_sigma = x]: x [B, D], sigma scalar or [B] -> [B, D]."""
        sigma = torch.as_tensor(sigma, dtype=x.dtype).expand(x.shape[0])
        r, sol = self._responsibilities(x, sigma)  # [B, K], [B, K, D]
        posterior_means = self.means[None] + (self.covs[None] @ sol[..., None])[..., 0]  # [B, K, D]
        return (r[..., None] * posterior_means).sum(1)


def make_mixture() -> GaussianMixture:
    """Three anisotropic components on a circle of radius 1 (separation ~1.7), float64."""
    angles = torch.tensor([90.0, 210.0, 330.0], dtype=torch.float64).deg2rad()
    means = torch.stack([angles.cos(), angles.sin()], 1)  # [3, 2]
    covs = torch.tensor(
        [[[0.02, 0.0], [0.0, 0.005]], [[0.01, 0.006], [0.006, 0.01]], [[0.005, -0.002], [-0.002, 0.015]]],
        dtype=torch.float64,
    )
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    return GaussianMixture(weights, means, covs)


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread: these tests use tiny tensors, where a second thread only adds contention
    (measured 10x slower with 2 threads on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def mixture() -> GaussianMixture:
    return make_mixture()
