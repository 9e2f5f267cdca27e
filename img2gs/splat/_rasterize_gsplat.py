"""The `gsplat` backend: gsplat's fused CUDA kernels behind img2gs's rasterize() contract.

gsplat is imported only when this backend is used (`img2gs.optional.require`), so img2gs never needs
it or CUDA otherwise. Options are passed so that gsplat follows exactly the rules of the `cpu` and
`torch` backends: classic (not antialiased) mode, not packed (meta tensors are [C, N, ...]),
16x16 tiles, no radius clipping.
"""

from __future__ import annotations

from torch import Tensor

from img2gs.optional import require


def rasterize_gsplat(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [N, 3] or [N, K, 3]
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    sh_degree: int | None,
    backgrounds: Tensor | None,  # [C, 3]
    render_mode: str,
    near_plane: float,
    far_plane: float,
    eps2d: float,
) -> tuple[Tensor, Tensor, dict]:
    """Call `gsplat.rasterization` and map its meta dict to rasterize()'s keys."""
    gsplat = require("gsplat", "the gsplat rasterizer backend")
    render_colors, render_alphas, info = gsplat.rasterization(
        means, quats, scales, opacities, colors, viewmats, Ks, width, height,
        near_plane=near_plane, far_plane=far_plane, radius_clip=0.0, eps2d=eps2d, sh_degree=sh_degree,
        packed=False, tile_size=16, backgrounds=backgrounds, render_mode=render_mode,
        rasterize_mode="classic",
    )
    means2d = info["means2d"]
    radii = info["radii"]
    if radii.ndim == 3:  # gsplat >= 1.5 keeps separate x / y extents
        radii = radii.amax(dim=-1)
    meta = {
        "means2d": means2d,
        "radii": radii.int(),
        "depths": info["depths"],
        "conics": info["conics"],
        "width": width,
        "height": height,
        "n_cameras": viewmats.shape[0],
        "backend": "gsplat",
    }
    return render_colors, render_alphas, meta
