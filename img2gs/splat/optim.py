"""Per-parameter Adam optimisers of the Gaussians and the exponential decay of the means' learning rate.

One optimiser per parameter, as gsplat's simple_trainer, so densification (densify_ops.py) can rewrite
each parameter and its moments independently. Defaults are 3DGS's (Kerbl et al. 2023) learning rates;
the means' rate is scaled by the scene scale and decays exponentially to `means_final_ratio` of its
initial value over the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class LearningRates:
    means: float = 1.6e-4  # x scene_scale
    means_final_ratio: float = 0.01  # the means' rate decays to this fraction at the last step
    scales: float = 5e-3
    quats: float = 1e-3
    opacities: float = 5e-2
    sh0: float = 2.5e-3
    shN: float = 2.5e-3 / 20.0

    def initial(self, name: str, scene_scale: float) -> float:
        return self.means * scene_scale if name == "means" else getattr(self, name)


def make_optimizers(params: dict[str, Tensor], lrs: LearningRates, scene_scale: float) -> dict[str, torch.optim.Adam]:
    """One Adam per parameter (eps 1e-15, as 3DGS: gradients of tiny Gaussians are tiny)."""
    return {
        name: torch.optim.Adam([{"params": [p], "lr": lrs.initial(name, scene_scale), "name": name}], eps=1e-15)
        for name, p in params.items()
    }


def means_lr_at(step: int, max_steps: int, lrs: LearningRates, scene_scale: float) -> float:
    """Learning rate of the means at `step`: exponential interpolation from the initial to the final."""
    t = min(max(step / max(max_steps, 1), 0.0), 1.0)
    return lrs.means * scene_scale * lrs.means_final_ratio**t


def set_means_lr(optimizers: dict[str, torch.optim.Adam], lr: float) -> None:
    for group in optimizers["means"].param_groups:
        group["lr"] = lr
