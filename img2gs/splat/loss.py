"""The photometric loss of 3DGS (Kerbl et al. 2023, Eq. 7) plus a silhouette term.

    L = sum_v w_v [(1 - lambda) L1(rgb_v, gt_v) + lambda (1 - SSIM(rgb_v, gt_v)) + mu L1(alpha_v, mask_v)] / sum_v w_v

`rgb_v` is the render composited on the background `bg_v` and `gt_v` the straight-alpha target
composited on the same background, so a wrong alpha is penalised whatever the background colour. The
optional per-view weights `w_v` let the product pipeline trust the real input photo more than
generated views.

`flatten_loss` (optional, added by the fitter) is the mean of each Gaussian's smallest scale, which
drives Gaussians towards flat discs lying on the surface, as in Gaussian-surfel / 2DGS-style methods
(e.g. Dai et al. 2024, "Gaussian Surfels"): rendered depth then sits on the surface rather than
inside a fuzzy shell, which is what mesh extraction needs.

`shape_regularisers` (optional) keep the Gaussians from turning into fur, the half-transparent needles
that splat viewers show sticking out of a silhouette:
    opacity   mean opacity                      (gsplat's MCMC strategy's `opacity_reg`, Kheradmand et
    scale     mean scale / scene scale           al. 2024: unneeded Gaussians fade and get pruned)
    needle    mean max(s_max / s_min - r, 0)    (PhysGaussian's anisotropy term, Xie et al. 2024:
                                                 no Gaussian longer than r times its width)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.metrics import ssim


@dataclass(frozen=True)
class LossWeights:
    ssim_lambda: float = 0.2  # lambda: weight of the D-SSIM term (3DGS: 0.2)
    alpha_weight: float = 0.1  # mu: weight of the L1 silhouette term
    flatten_weight: float = 0.0  # weight of `flatten_loss` (thin, surface-like Gaussians)
    opacity_weight: float = 0.0  # weight of the mean opacity (`shape_regularisers`)
    scale_weight: float = 0.0  # weight of the mean scale over the scene scale
    needle_weight: float = 0.0  # weight of the anisotropy hinge
    max_anisotropy: float = 10.0  # r: longest / shortest axis allowed before the hinge bites

    def __post_init__(self) -> None:
        if min(self.ssim_lambda, self.alpha_weight, self.flatten_weight, self.opacity_weight,
               self.scale_weight, self.needle_weight) < 0 or self.max_anisotropy < 1:
            raise ValueError("loss weights must be >= 0 and max_anisotropy >= 1")

    @property
    def regularised(self) -> bool:
        return self.opacity_weight > 0 or self.scale_weight > 0 or self.needle_weight > 0


def composite(rgba: Tensor, background: Tensor) -> Tensor:
    """RGB [C, H, W, 3] of straight-alpha `rgba` [C, H, W, 4] over per-view `background` [C, 3]."""
    alpha = rgba[..., 3:4]
    return rgba[..., :3] * alpha + background[:, None, None, :] * (1.0 - alpha)


def splat_loss(
    render_rgb: Tensor,  # [C, H, W, 3] render composited on `background`
    render_alpha: Tensor,  # [C, H, W, 1]
    target: Tensor,  # [C, H, W, 4] straight alpha
    background: Tensor,  # [C, 3]
    weights: LossWeights = LossWeights(),
    view_weights: Tensor | None = None,  # [C] >= 0 (a batch of zero-weight views gives a zero loss)
) -> tuple[Tensor, dict[str, Tensor]]:
    """The loss (scalar) and its parts per view {"l1", "dssim", "alpha"} ([C] each, detached)."""
    c = render_rgb.shape[0]
    if render_rgb.shape[-1] != 3 or target.shape[:-1] != render_rgb.shape[:-1] or target.shape[-1] != 4:
        raise ValueError(f"render [C,H,W,3] and target [C,H,W,4] must agree: "
                         f"{tuple(render_rgb.shape)}, {tuple(target.shape)}")
    if render_alpha.shape != (*render_rgb.shape[:-1], 1) or background.shape != (c, 3):
        raise ValueError("render_alpha must be [C, H, W, 1] and background [C, 3]")
    gt_rgb = composite(target, background)
    l1 = (render_rgb - gt_rgb).abs().mean(dim=(1, 2, 3))  # [C]
    dssim = 1.0 - ssim(render_rgb, gt_rgb)  # [C]
    alpha = (render_alpha - target[..., 3:4]).abs().mean(dim=(1, 2, 3))  # [C]
    per_view = (1.0 - weights.ssim_lambda) * l1 + weights.ssim_lambda * dssim + weights.alpha_weight * alpha
    w = torch.ones(c, device=per_view.device) if view_weights is None else view_weights.to(per_view)
    if w.shape != (c,) or bool((w < 0).any()):
        raise ValueError("view_weights must be [C] and non-negative")
    loss = (w * per_view).sum() / w.sum().clamp_min(1e-12)
    return loss, {"l1": l1.detach(), "dssim": dssim.detach(), "alpha": alpha.detach()}


def flatten_loss(scales: Tensor) -> Tensor:  # scales [N, 3] activated
    """Mean smallest scale of the Gaussians (scalar)."""
    return scales.min(dim=-1).values.mean()


def shape_regularisers(scales: Tensor, opacities: Tensor, scene_scale: float,
                       weights: LossWeights) -> tuple[Tensor, dict[str, Tensor]]:
    """The weighted sum of the opacity, scale and needle terms (scalar) and each term (detached).

    scales [N, 3] activated (world units), opacities [N] activated, scene_scale the scene's radius."""
    terms = {
        "opacity": opacities.mean(),
        "scale": scales.mean() / scene_scale,
        "needle": (scales.max(dim=-1).values / scales.min(dim=-1).values.clamp_min(1e-12)
                   - weights.max_anisotropy).clamp_min(0.0).mean(),
    }
    total = (weights.opacity_weight * terms["opacity"] + weights.scale_weight * terms["scale"]
             + weights.needle_weight * terms["needle"])
    return total, {k: v.detach() for k, v in terms.items()}
