"""Regression losses of the shape stage (one class, EDM-style: a small `__call__`).

Depth is supervised in metric camera z on the object's pixels (true alpha > 0.5 and both true layers
hit): the camera contract fixes the scale (radius 3.2, field of view 40 degrees, object framed to
0.8 of the image), so no scale-invariant loss is needed and none would be right.

    L = w_f |front - front*|  +  w_b |back - back*|                    (L1: robust to the back's ambiguity)
      + w_g (|d(front) - d(front*)| + |d(back) - d(back*)|)            (finite differences, both axes)
      + w_c (e_b / b + log b),  e_b = |back - back*| detached           (Laplace NLL: confidence only)
      + w_e smoothL1((elevation - elevation*) / 10 degrees)
      + w_carve carve + w_cover cover                                   (silhouette.py: the layers lifted and
                                                                         seen from the sample's other views)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from img2gs.shape.config import ShapeLossConfig
from img2gs.shape.network import ShapePrediction
from img2gs.shape.silhouette import silhouette_terms

ELEVATION_UNIT_DEG = 10.0


def object_mask(alpha: Tensor, depth: Tensor) -> Tensor:
    """[B, R, R] bool: pixels with coverage > 0.5 whose two depth layers both hit (depth [B, 2, R, R])."""
    return (alpha > 0.5) & (depth[:, 0] > 0) & (depth[:, 1] > 0)


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    return (x * mask).sum() / mask.sum().clamp_min(1)


def _gradient_l1(pred: Tensor, true: Tensor, mask: Tensor) -> Tensor:
    """Mean L1 between finite differences of pred and true [B, R, R], where both pixels are masked."""
    total = pred.new_zeros(())
    for dim in (1, 2):
        d_pred, d_true = torch.diff(pred, dim=dim), torch.diff(true, dim=dim)
        both = mask.narrow(dim, 1, mask.shape[dim] - 1) & mask.narrow(dim, 0, mask.shape[dim] - 1)
        total = total + _masked_mean((d_pred - d_true).abs(), both)
    return total


class ShapeLoss:
    def __init__(self, weights: ShapeLossConfig):
        self.w = weights

    def __call__(self, pred: ShapePrediction, depth: Tensor, alpha: Tensor, elevation: Tensor,
                 views: tuple[Tensor, Tensor] | None = None, generator: torch.Generator | None = None
                 ) -> tuple[Tensor, dict]:
        """depth [B, 2, R, R] true (front, back); alpha [B, R, R]; elevation [B] degrees; views: the other
        views' (alpha [B, T, R, R], poses [B, T, 3]), needed when the carve or cover weight is not 0."""
        mask = object_mask(alpha, depth)
        front_err = (pred.front - depth[:, 0]).abs()
        back_err = (pred.back - depth[:, 1]).abs()
        terms = {
            "front": _masked_mean(front_err, mask),
            "back": _masked_mean(back_err, mask),
            "gradient": _gradient_l1(pred.front, depth[:, 0], mask) + _gradient_l1(pred.back, depth[:, 1], mask),
            "confidence": _masked_mean(back_err.detach() / pred.log_b.exp() + pred.log_b, mask),
            "elevation": F.smooth_l1_loss((pred.elevation - elevation) / ELEVATION_UNIT_DEG, torch.zeros_like(elevation)),
        }
        if self.w.carve or self.w.cover:
            if views is None:
                raise ValueError("the silhouette terms need the sample's other views")
            generator = generator or torch.Generator().manual_seed(0)
            terms |= silhouette_terms(pred.front, pred.back, alpha > 0.5, elevation, *views, generator)
        total = sum(getattr(self.w, name) * value for name, value in terms.items())
        return total, {name: float(value.detach()) for name, value in terms.items()}
