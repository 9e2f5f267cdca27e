"""The `cpu` backend's rasterize-to-pixels step: numba kernels (`_rasterize_kernels.py`) inside a
torch.autograd.Function with a hand-written backward, as gsplat wraps its CUDA kernels.

Projection, SH and the tile lists are computed in torch beforehand (rasterize.py, tiles.py), so only
the per-pixel compositing -- the expensive part -- runs in numba. The kernels are compiled on first
call and cached on disk (numba `cache=True`); they are imported lazily so `import img2gs` stays cheap.
"""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.splat.tiles import TileIntersections, intersect_tiles


def _np(t: Tensor):
    """A float64 (or int64) numpy copy for the kernels: one compiled signature serves every dtype, and
    later in-place edits of the tensor cannot reach what the backward pass reads."""
    t = t.detach()
    return t.to(torch.float64 if t.is_floating_point() else torch.int64, copy=True).contiguous().numpy()


class _RasterizeToPixels(torch.autograd.Function):
    """(means2d, conics, colors, opacities, backgrounds) -> (colours [C,H,W,D], alphas [C,H,W,1])."""

    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, backgrounds, isect: TileIntersections, width, height):
        from img2gs.splat import _rasterize_kernels as K

        C, N, D = colors.shape
        bgs = backgrounds if backgrounds is not None else colors.new_zeros(C, D)
        args = (
            _np(means2d.reshape(C * N, 2)), _np(conics.reshape(C * N, 3)), _np(colors.reshape(C * N, D)),
            _np(opacities.reshape(C * N)), _np(bgs), _np(isect.tile_offsets), _np(isect.flatten_ids),
            isect.tiles_x, isect.tiles_y, width, height,
        )
        out_color, out_T, n_contrib = K.rasterize_fwd(*args)
        ctx.args, ctx.isect, ctx.shape = args, isect, (C, N, D)
        ctx.has_bg = backgrounds is not None
        ctx.out_T, ctx.n_contrib = out_T, n_contrib
        out_alpha = 1.0 - torch.from_numpy(out_T)[..., None]
        return torch.from_numpy(out_color).to(colors.dtype), out_alpha.to(colors.dtype)

    @staticmethod
    def backward(ctx, v_color, v_alpha):
        from img2gs.splat import _rasterize_kernels as K

        C, N, D = ctx.shape
        v_isect, v_bg_tiles = K.rasterize_bwd(
            *ctx.args, ctx.out_T, ctx.n_contrib, _np(v_color), _np(v_alpha[..., 0])
        )
        v_isect = torch.from_numpy(v_isect).to(v_color.dtype)
        ids = ctx.isect.flatten_ids

        def gather(lo: int, hi: int) -> Tensor:  # sum the intersection rows of each Gaussian
            return v_color.new_zeros(C * N, hi - lo).index_add_(0, ids, v_isect[:, lo:hi])

        v_means2d = gather(K.G_MEAN, K.G_MEAN + 2).reshape(C, N, 2)
        v_conics = gather(K.G_CONIC, K.G_CONIC + 3).reshape(C, N, 3)
        v_opacities = gather(K.G_OPAC, K.G_OPAC + 1).reshape(C, N)
        v_colors = gather(K.G_COLOR, K.G_COLOR + D).reshape(C, N, D)
        v_bgs = None
        if ctx.has_bg:
            v_bgs = torch.from_numpy(v_bg_tiles).reshape(C, -1, D).sum(1).to(v_color.dtype)
        return v_means2d, v_conics, v_colors, v_opacities, v_bgs, None, None, None


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
    """Tile-based compositing in numba. Returns colours [C, H, W, D] and alphas [C, H, W, 1]."""
    isect = intersect_tiles(means2d, radii, depths, width, height)
    return _RasterizeToPixels.apply(means2d, conics, colors, opacities, backgrounds, isect, width, height)
