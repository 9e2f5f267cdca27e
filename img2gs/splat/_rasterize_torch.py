"""The `torch` backend: a slow, obviously-correct pure-torch twin of the tile rasterizer.

It evaluates every (pixel, Gaussian) pair densely and composites with a cumulative product, so the
whole forward pass reads as the formula of 3DGS (Kerbl et al. 2023, eq. 3) with gsplat's numerical
rules (`rasterize_to_pixels`):

    pixel centre        p = (x + 0.5, y + 0.5)
    d                   = mean2d_i - p
    sigma_i             = 0.5 (a dx^2 + c dy^2) + b dx dy          (conic = (a, b, c))
    alpha_i             = min(0.999, opacity_i exp(-sigma_i)),  set to 0 if alpha_i < 1/255, sigma_i < 0
                          or p's 16x16 tile is outside Gaussian i's tile rectangle (tiles.py)
    T_i                 = prod_{j < i} (1 - alpha_j)              Gaussians sorted front to back
    stop                : Gaussian i and all behind it are dropped once T_i (1 - alpha_i) <= 1e-4
    colour              = sum_i alpha_i T_i c_i + T_final * background,   alpha_out = 1 - T_final

Gradients come from autograd. The image is processed one band of 16 pixel rows at a time against
the Gaussians whose tile rectangle overlaps the band (all others have alpha 0 there), in chunks of
pixels under activation checkpointing, so 5,000 Gaussians at 128x128 fit in a few hundred MB even
with gradients. Nothing else is skipped: every (pixel, Gaussian) pair of a band is evaluated.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from img2gs.splat._rasterize_constants import ALPHA_MAX, ALPHA_MIN, T_MIN, TILE_SIZE
from img2gs.splat.tiles import tile_bounds

CHUNK_ELEMENTS = 1 << 21  # (pixels x Gaussians) per chunk


def _exclusive_cumprod(x: Tensor) -> Tensor:
    """[P, G] -> [P, G] with out[:, i] = prod_{j < i} x[:, j]."""
    return torch.cumprod(torch.cat([torch.ones_like(x[:, :1]), x[:, :-1]], dim=1), dim=1)


def _composite_pixels(
    pix: Tensor,  # [P, 2] pixel centres
    pix_tile: Tensor,  # [P, 2] the pixels' tile column and row
    means2d: Tensor,  # [G, 2] sorted front to back
    conics: Tensor,  # [G, 3]
    colors: Tensor,  # [G, D]
    opacities: Tensor,  # [G]
    rects: Tensor,  # [G, 4] tile rectangles
) -> tuple[Tensor, Tensor]:
    """Colour [P, D] (without background) and final transmittance [P] of a chunk of pixels."""
    dx = means2d[None, :, 0] - pix[:, None, 0]  # [P, G]
    dy = means2d[None, :, 1] - pix[:, None, 1]
    a, b, c = conics[:, 0], conics[:, 1], conics[:, 2]
    sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
    alpha = torch.clamp_max(opacities * torch.exp(-sigma), ALPHA_MAX)
    tx, ty = pix_tile[:, None, 0], pix_tile[:, None, 1]
    in_tile = (tx >= rects[:, 0]) & (tx < rects[:, 2]) & (ty >= rects[:, 1]) & (ty < rects[:, 3])
    alpha = torch.where(in_tile & (sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
    # Early stop: keep Gaussian i only while the transmittance after it stays above T_MIN.
    with torch.no_grad():
        kept = _exclusive_cumprod(1 - alpha) * (1 - alpha) > T_MIN
    alpha = torch.where(kept, alpha, torch.zeros_like(alpha))
    T = _exclusive_cumprod(1 - alpha)  # [P, G] transmittance in front of each Gaussian
    color = (alpha * T) @ colors
    T_final = T[:, -1] * (1 - alpha[:, -1])
    return color, T_final


def rasterize_to_pixels(
    means2d: Tensor,  # [C, N, 2]
    conics: Tensor,  # [C, N, 3]
    colors: Tensor,  # [C, N, D]
    opacities: Tensor,  # [C, N]
    depths: Tensor,  # [C, N] sort key
    radii: Tensor,  # [C, N] int, 0 = culled
    width: int,
    height: int,
    backgrounds: Tensor | None = None,  # [C, D]
) -> tuple[Tensor, Tensor]:
    """Dense front-to-back compositing. Returns colours [C, H, W, D] and alphas [C, H, W, 1].

    The image is processed one band of tile rows (16 pixel rows) at a time, against the Gaussians
    whose tile rectangle overlaps that band -- the others have alpha 0 on every pixel of the band --
    and within a band every (pixel, Gaussian) pair is evaluated.
    """
    C, N, D = colors.shape
    rects = tile_bounds(means2d, radii, width, height)  # [C, N, 4]
    out_colors, out_alphas = [], []
    for cam in range(C):
        order = torch.sort(depths[cam].detach(), stable=True).indices  # front to back
        order = order[radii[cam, order] > 0]
        bands = [
            _composite_band(means2d[cam, order], conics[cam, order], colors[cam, order],
                            opacities[cam, order], rects[cam, order], y0, min(y0 + TILE_SIZE, height), width)
            for y0 in range(0, height, TILE_SIZE)
        ]
        color = torch.cat([b[0] for b in bands])  # [H * W, D]
        T_final = torch.cat([b[1] for b in bands])  # [H * W]
        if backgrounds is not None:
            color = color + T_final[:, None] * backgrounds[cam]
        out_colors.append(color.reshape(height, width, D))
        out_alphas.append((1 - T_final).reshape(height, width, 1))
    return torch.stack(out_colors), torch.stack(out_alphas)


def _composite_band(
    means2d: Tensor,  # [G, 2] front to back
    conics: Tensor,  # [G, 3]
    colors: Tensor,  # [G, D]
    opacities: Tensor,  # [G]
    rects: Tensor,  # [G, 4]
    y0: int,
    y1: int,
    width: int,
) -> tuple[Tensor, Tensor]:
    """Colour [P, D] (no background) and final transmittance [P] of pixel rows y0..y1-1."""
    ys, xs = torch.meshgrid(torch.arange(y0, y1), torch.arange(width), indexing="ij")
    pix_int = torch.stack([xs, ys], -1).reshape(-1, 2).to(means2d.device)  # [P, 2]
    pix = pix_int.to(means2d.dtype) + 0.5  # pixel centres
    pix_tile = pix_int // TILE_SIZE
    band = y0 // TILE_SIZE
    touching = (rects[:, 1] <= band) & (band < rects[:, 3])
    args = (means2d[touching], conics[touching], colors[touching], opacities[touching], rects[touching])
    G = int(touching.sum())
    if G == 0:
        return means2d.new_zeros(len(pix), colors.shape[1]), means2d.new_ones(len(pix))
    chunk = max(1, CHUNK_ELEMENTS // G)
    parts = [
        checkpoint(_composite_pixels, pix[s : s + chunk], pix_tile[s : s + chunk], *args, use_reentrant=False)
        for s in range(0, len(pix), chunk)
    ]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
