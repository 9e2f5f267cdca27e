"""Floater removal before export: Gaussians that the views' silhouettes do not support.

A fit leaves some Gaussians where no target has an object: half-transparent ones hanging in the air or
sticking out of the outline, which splat viewers show as fur. Before a scene is written, each Gaussian's
centre is projected into the views it was fitted to, and it is removed when

    * a TRUSTED view (the real photo) sees it more than `margin_px` outside its silhouette, or
    * at least `min_outside_fraction` of the other views that see it, see it outside theirs, or
    * no view sees it at all (outside every image: nothing supports it; the visual hull's rule too).

Generated views alone are not trusted to remove a Gaussian: their masks may be wrong, so they need a
majority. The silhouettes are dilated by `margin_px` so that Gaussians on the rim stay.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from img2gs.cameras import points_in_masks
from img2gs.posed_views import PosedViews
from img2gs.splat.gaussians import Gaussians


@dataclass(frozen=True)
class FloaterConfig:
    enabled: bool = True
    margin_px: int = 2  # silhouettes dilated by this many pixels of each view
    min_outside_fraction: float = 0.5  # of the untrusted views that see a centre
    alpha_threshold: float = 0.5  # a view's silhouette: alpha above this

    def __post_init__(self) -> None:
        if self.margin_px < 0 or not 0.0 < self.min_outside_fraction <= 1.0:
            raise ValueError("floaters: margin_px >= 0 and min_outside_fraction in (0, 1] are required")


def outside_silhouettes(means: Tensor, views: PosedViews, config: FloaterConfig) -> tuple[Tensor, Tensor]:
    """Per view and point: (seen [V, N] — projects in front of the camera and inside its image, outside
    [V, N] — seen, and outside the view's silhouette dilated by margin_px), for centres `means` [N, 3]."""
    silhouette = (views.images[..., 3] > config.alpha_threshold).float()[:, None]  # [V, 1, H, W]
    k = 2 * config.margin_px + 1
    dilated = F.max_pool2d(silhouette, k, stride=1, padding=config.margin_px)[:, 0] > 0.5  # [V, H, W]
    seen, inside = points_in_masks(means, dilated, views.c2w, views.K)
    return seen, seen & ~inside


def floater_mask(means: Tensor, views: PosedViews, trusted: int, config: FloaterConfig = FloaterConfig()) -> Tensor:
    """[N] bool: the centres to remove; views[:trusted] are trusted (the photo), the rest vote."""
    seen, outside = outside_silhouettes(means, views, config)
    vetoed = outside[:trusted].any(dim=0)
    votes_seen, votes_outside = seen[trusted:].sum(dim=0), outside[trusted:].sum(dim=0)
    outvoted = (votes_seen > 0) & (votes_outside >= config.min_outside_fraction * votes_seen)
    return vetoed | outvoted | ~seen.any(dim=0)


def remove_floaters(gaussians: Gaussians, views: PosedViews, trusted: int,
                    config: FloaterConfig = FloaterConfig()) -> tuple[Gaussians, int]:
    """(the Gaussians without their floaters, how many were removed)."""
    if not config.enabled or len(gaussians) == 0:
        return gaussians, 0
    with torch.no_grad():
        drop = floater_mask(gaussians.means.detach().cpu(), views, trusted, config)
    return gaussians.subset(~drop.to(gaussians.device)), int(drop.sum())
