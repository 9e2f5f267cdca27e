"""The Gaussians of a scene: raw (unconstrained) parameters, their activations, and initialisations.

Parameters are stored raw, as in 3DGS / gsplat, so the optimiser works on unconstrained values:

    means      [N, 3]        world positions
    scales     [N, 3]        log of the per-axis standard deviations      (activation: exp)
    quats      [N, 4]        rotation quaternion w, x, y, z, unnormalised (activation: normalise)
    opacities  [N]           logit of the opacity                        (activation: sigmoid)
    sh0        [N, 1, 3]     degree-0 spherical-harmonics coefficients (colour = 0.5 + C0 * sh0, sh.py)
    shN        [N, K-1, 3]   higher SH bands, K = (sh_degree + 1) ** 2

`Gaussians.params` is a plain dict of tensors (gsplat's "splats"); densification (strategy.py) replaces
its entries, so never hold on to one parameter tensor across a densification step.

Initialisations: `from_points` (given points and colours) and `random_in_sphere`; the visual hull of
posed views (visual_hull.py) and the lifted photo (img2gs.proxy) build on `from_points`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from torch import Tensor

from img2gs.splat.sh import num_sh_bases, rgb_to_sh0, sh0_to_rgb

PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")


@dataclass
class Gaussians:
    """A set of 3D Gaussians; see the module docstring for the parameters and their activations."""

    params: dict[str, Tensor]

    def __post_init__(self) -> None:
        missing = [k for k in PARAM_NAMES if k not in self.params]
        if missing:
            raise ValueError(f"Gaussians need parameters {PARAM_NAMES}, missing {missing}")
        n = self.params["means"].shape[0]
        expected = {"means": (n, 3), "scales": (n, 3), "quats": (n, 4), "opacities": (n,)}
        for name, shape in expected.items():
            if tuple(self.params[name].shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(self.params[name].shape)}")
        if self.params["sh0"].shape != (n, 1, 3) or self.params["shN"].ndim != 3 or self.params["shN"].shape[0] != n:
            raise ValueError("sh0 must be [N, 1, 3] and shN [N, K-1, 3]")
        k = self.params["shN"].shape[1] + 1
        if math.isqrt(k) ** 2 != k:
            raise ValueError(f"shN has {k - 1} bands; (sh_degree + 1)^2 - 1 expected")

    # --- sizes -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.params["means"].shape[0]

    @property
    def sh_degree(self) -> int:
        return math.isqrt(self.params["shN"].shape[1] + 1) - 1

    @property
    def device(self) -> torch.device:
        return self.params["means"].device

    # --- activated values --------------------------------------------------------------------------
    @property
    def means(self) -> Tensor:  # [N, 3]
        return self.params["means"]

    @property
    def scales(self) -> Tensor:  # [N, 3]
        return torch.exp(self.params["scales"])

    @property
    def quats(self) -> Tensor:  # [N, 4] unit quaternions, wxyz
        return F.normalize(self.params["quats"], dim=-1)

    @property
    def opacities(self) -> Tensor:  # [N]
        return torch.sigmoid(self.params["opacities"])

    @property
    def sh(self) -> Tensor:  # [N, K, 3]
        return torch.cat([self.params["sh0"], self.params["shN"]], dim=1)

    @property
    def base_colors(self) -> Tensor:  # [N, 3] view-independent colour (degree 0 only), clipped to [0, 1]
        return sh0_to_rgb(self.params["sh0"][:, 0]).clamp(0.0, 1.0)

    # --- copies ------------------------------------------------------------------------------------
    def detached(self) -> "Gaussians":
        """A copy of plain tensors (no autograd), e.g. to export or to keep the best state."""
        return Gaussians({k: v.detach().clone() for k, v in self.params.items()})

    def to(self, device: torch.device | str) -> "Gaussians":
        return Gaussians({k: v.to(device) for k, v in self.params.items()})

    def subset(self, keep: Tensor) -> "Gaussians":
        """The Gaussians where `keep` [N] bool is True (detached copies)."""
        return Gaussians({k: v.detach()[keep].clone() for k, v in self.params.items()})

    def trainable(self) -> "Gaussians":
        """A copy whose parameters are leaf `torch.nn.Parameter`s, ready for an optimiser."""
        return Gaussians({k: torch.nn.Parameter(v.detach().clone()) for k, v in self.params.items()})

    def with_sh_degree(self, sh_degree: int) -> "Gaussians":
        """The same Gaussians with `sh_degree` SH bands: higher bands added as zeros or dropped."""
        k = num_sh_bases(sh_degree) - 1
        sh_n = self.params["shN"][:, :k]
        if sh_n.shape[1] < k:
            pad = sh_n.new_zeros(sh_n.shape[0], k - sh_n.shape[1], 3)
            sh_n = torch.cat([sh_n, pad], dim=1)
        return Gaussians({**self.params, "shN": sh_n})

    def is_finite(self) -> bool:
        return all(bool(torch.isfinite(v).all()) for v in self.params.values())

    # --- constructors ------------------------------------------------------------------------------
    @classmethod
    def from_points(
        cls,
        points: Tensor,  # [N, 3]
        colors: Tensor,  # [N, 3] in [0, 1]
        sh_degree: int = 3,
        init_opacity: float = 0.1,
        init_scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> "Gaussians":
        """Isotropic Gaussians at `points`, sized `init_scale` x the mean distance to their 3 nearest
        neighbours (as 3DGS / gsplat), random rotations, opacity `init_opacity`, DC colour `colors`."""
        if points.ndim != 2 or points.shape[-1] != 3 or colors.shape != points.shape:
            raise ValueError(f"points and colors must be [N, 3], got {tuple(points.shape)}, {tuple(colors.shape)}")
        if points.shape[0] < 2:
            raise ValueError("need at least 2 points to initialise Gaussians")
        n = points.shape[0]
        points = points.float()
        dist = _mean_neighbour_distance(points, k=3).clamp_min(1e-4)  # [N]
        quats = torch.randn(n, 4, generator=generator, dtype=torch.float32).to(points.device)
        params = {
            "means": points.clone(),
            "scales": torch.log(dist * init_scale)[:, None].repeat(1, 3),
            "quats": F.normalize(quats, dim=-1),
            "opacities": torch.full((n,), _logit(init_opacity), device=points.device),
            "sh0": rgb_to_sh0(colors.float().clamp(0.0, 1.0))[:, None, :],
            "shN": torch.zeros(n, num_sh_bases(sh_degree) - 1, 3, device=points.device),
        }
        return cls(params)

    @classmethod
    def random_in_sphere(
        cls, n: int, radius: float = 1.0, sh_degree: int = 3, init_opacity: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> "Gaussians":
        """`n` Gaussians uniformly distributed in a ball of `radius`, random colours."""
        direction = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
        r = radius * torch.rand(n, 1, generator=generator) ** (1.0 / 3.0)
        colors = torch.rand(n, 3, generator=generator)
        return cls.from_points(direction * r, colors, sh_degree, init_opacity, generator=generator)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _mean_neighbour_distance(points: Tensor, k: int = 3) -> Tensor:
    """Mean distance [N] from each point to its `k` nearest other points (scipy KD-tree)."""
    pts = points.detach().cpu().numpy().astype(np.float64)
    k_eff = min(k + 1, len(pts))
    dist, _ = cKDTree(pts).query(pts, k=k_eff)
    return torch.from_numpy(dist[:, 1:].mean(axis=1)).float().to(points.device)
