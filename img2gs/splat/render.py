"""Render Gaussians from posed cameras (OpenGL c2w, as in transforms.json): the one place where the
camera contract meets the rasterizer. Used by `fit` (training and evaluation), mesh extraction and
`img2gs render` (whose cameras without images come from img2gs.posed_views.read_cameras)."""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.cameras import viewmat_from_c2w
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.rasterize import rasterize


def render_gaussians(
    gaussians: Gaussians,
    c2w: Tensor,  # [C, 4, 4] OpenGL camera-to-world
    K: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    sh_degree: int | None = None,  # None: all bands the Gaussians have
    backgrounds: Tensor | None = None,  # [C, 3]
    render_mode: str = "RGB",
    eps2d: float = 0.3,
    backend: str = "auto",
) -> tuple[Tensor, Tensor, dict]:
    """Differentiable render of C cameras: (colours [C, H, W, D], alphas [C, H, W, 1], meta).
    `eps2d` is the screen-space dilation (pixels^2) of every Gaussian, 0.3 in 3DGS."""
    device = gaussians.device
    degree = gaussians.sh_degree if sh_degree is None else min(sh_degree, gaussians.sh_degree)
    viewmats = viewmat_from_c2w(c2w.to(device=device, dtype=torch.float32))
    return rasterize(
        gaussians.means, gaussians.quats, gaussians.scales, gaussians.opacities,
        gaussians.sh[:, : (degree + 1) ** 2], viewmats, K.to(device=device, dtype=torch.float32),
        width, height, sh_degree=degree,
        backgrounds=None if backgrounds is None else backgrounds.to(device=device, dtype=torch.float32),
        render_mode=render_mode, eps2d=eps2d, backend=backend,
    )


def unpremultiply(rgb: Tensor, alpha: Tensor) -> Tensor:
    """Straight colour [..., 3] in [0, 1] from the rasterizer's premultiplied colour (black background)
    and alpha [..., 1]; 0 where nothing was drawn."""
    return torch.where(alpha > 1e-6, rgb / alpha.clamp_min(1e-6), torch.zeros_like(rgb)).clamp(0.0, 1.0)


@torch.no_grad()
def render_rgba(
    gaussians: Gaussians,
    c2w: Tensor,  # [C, 4, 4]
    K: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    backend: str = "auto",
    chunk: int = 8,
) -> Tensor:
    """Straight-alpha RGBA images [C, H, W, 4] (no background), rendered `chunk` cameras at a time."""
    out = []
    for start in range(0, c2w.shape[0], chunk):
        rgb, alpha, _ = render_gaussians(gaussians, c2w[start : start + chunk], K[start : start + chunk],
                                         width, height, backend=backend)
        out.append(torch.cat([unpremultiply(rgb, alpha), alpha], dim=-1).cpu())
    return torch.cat(out)


@torch.no_grad()
def render_depth(
    gaussians: Gaussians,
    c2w: Tensor,  # [C, 4, 4]
    K: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    backend: str = "auto",
    chunk: int = 8,
) -> tuple[Tensor, Tensor, Tensor]:
    """(straight RGB [C, H, W, 3], expected depth [C, H, W] (camera z), alpha [C, H, W]) per camera."""
    rgbs, depths, alphas = [], [], []
    for start in range(0, c2w.shape[0], chunk):
        out, alpha, _ = render_gaussians(gaussians, c2w[start : start + chunk], K[start : start + chunk],
                                         width, height, render_mode="RGB+ED", backend=backend)
        rgbs.append(unpremultiply(out[..., :3], alpha).cpu())
        depths.append(out[..., 3].cpu())
        alphas.append(alpha[..., 0].cpu())
    return torch.cat(rgbs), torch.cat(depths), torch.cat(alphas)
