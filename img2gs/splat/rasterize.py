"""Render 3D Gaussians into C cameras: one API, three backends ("gsplat", "cpu", "torch").

Semantics are those of gsplat's `rasterization` (classic mode, not packed, 16x16 tiles), which follows
3D Gaussian Splatting (Kerbl et al. 2023):

1. Projection (`projection.py`): EWA projection with the perspective Jacobian, eps2d dilation,
   3-sigma radius; culling behind the near plane, beyond the far plane, or fully off-screen.
2. Colour: RGB as given, or SH of degree `sh_degree` (`sh.py`) evaluated at the direction from the
   camera centre to the mean, then max(. + 0.5, 0). Depth modes append / replace with camera z.
3. Rasterization to pixels: per 16x16 tile, Gaussians front to back by depth,
   alpha = min(0.999, opacity exp(-0.5 d^T conic d)) at the pixel centre (+0.5), skipped below
   1/255, stop once transmittance would fall to 1e-4, background added as T_final * bg.

The `cpu` backend rasterizes with numba kernels and a hand-written backward (`_rasterize_numba.py`), the
`torch` backend with the dense pure-torch twin (`_rasterize_torch.py`); both share steps 1-2 in torch.
The `gsplat` backend hands everything to gsplat (`_rasterize_gsplat.py`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.splat.backends import resolve_backend
from img2gs.splat.projection import project_gaussians
from img2gs.splat.sh import MAX_SH_DEGREE, num_sh_bases, sh_to_rgb

RENDER_MODES = ("RGB", "D", "ED", "RGB+D", "RGB+ED")


def rasterize(
    means: Tensor,  # [N, 3] world positions
    quats: Tensor,  # [N, 4] (w, x, y, z), need not be normalised
    scales: Tensor,  # [N, 3] positive (activated)
    opacities: Tensor,  # [N] in (0, 1) (activated)
    colors: Tensor,  # [N, 3] RGB, or [N, K, 3] SH coefficients when sh_degree is given
    viewmats: Tensor,  # [C, 4, 4] world-to-camera, OpenCV convention
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,  # [C, 3]
    render_mode: str = "RGB",
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    backend: str = "auto",
) -> tuple[Tensor, Tensor, dict]:
    """Render Gaussians into C cameras.

    Returns render_colors [C, H, W, 3|1|4] (RGB, D/ED, RGB+D/RGB+ED; D = alpha-weighted depth sum,
    ED = D / alpha), render_alphas [C, H, W, 1] and a meta dict with "means2d" [C, N, 2] (in the
    graph: a densification strategy retains its gradient, strategy.py), "radii" [C, N] int (0 = culled), "depths"
    [C, N], "width", "height", "n_cameras", "backend".
    """
    C, N = check_inputs(means, quats, scales, opacities, colors, viewmats, Ks, width, height,
                        sh_degree, backgrounds, render_mode)
    name = resolve_backend(backend, means.device)
    if name == "gsplat":
        from img2gs.splat._rasterize_gsplat import rasterize_gsplat

        return rasterize_gsplat(
            means, quats, scales, opacities, colors, viewmats, Ks, width, height, sh_degree=sh_degree,
            backgrounds=backgrounds, render_mode=render_mode, near_plane=near_plane, far_plane=far_plane,
            eps2d=eps2d,
        )
    if name == "cpu":
        from img2gs.splat._rasterize_numba import rasterize_to_pixels
    else:
        from img2gs.splat._rasterize_torch import rasterize_to_pixels

    proj = project_gaussians(means, quats, scales, viewmats, Ks, width, height, eps2d, near_plane, far_plane)
    rgb = view_colors(means, colors, viewmats, sh_degree)  # [C, N, 3]
    channels, bgs = render_channels(render_mode, rgb, proj.depths, backgrounds)
    render_colors, render_alphas = rasterize_to_pixels(
        proj.means2d, proj.conics, channels, opacities[None].expand(C, N), proj.depths, proj.radii,
        width, height, bgs,
    )
    if render_mode in ("ED", "RGB+ED"):
        expected = render_colors[..., -1:] / render_alphas.clamp_min(1e-10)
        render_colors = torch.cat([render_colors[..., :-1], expected], dim=-1)
    meta = {
        "means2d": proj.means2d,
        "radii": proj.radii,
        "depths": proj.depths,
        "conics": proj.conics,
        "width": width,
        "height": height,
        "n_cameras": C,
        "backend": name,
    }
    return render_colors, render_alphas, meta


def view_colors(
    means: Tensor,  # [N, 3]
    colors: Tensor,  # [N, 3] or [N, K, 3]
    viewmats: Tensor,  # [C, 4, 4]
    sh_degree: int | None,
) -> Tensor:
    """Per-camera RGB [C, N, 3]: the colours as given, or SH evaluated towards each camera centre."""
    C = viewmats.shape[0]
    if sh_degree is None:
        return colors[None].expand(C, -1, -1)
    R, t = viewmats[:, :3, :3], viewmats[:, :3, 3]
    campos = -(R.transpose(-1, -2) @ t[..., None])[..., 0]  # [C, 3] camera centres in the world
    dirs = means[None] - campos[:, None]  # [C, N, 3]
    return sh_to_rgb(sh_degree, dirs, colors[None].expand(C, -1, -1, -1))


def render_channels(
    render_mode: str,
    rgb: Tensor,  # [C, N, 3]
    depths: Tensor,  # [C, N]
    backgrounds: Tensor | None,  # [C, 3]
) -> tuple[Tensor, Tensor | None]:
    """Per-Gaussian channels [C, N, D] to composite and their backgrounds [C, D] (depth's is 0)."""
    if render_mode == "RGB":
        return rgb, backgrounds
    if render_mode in ("D", "ED"):
        return depths[..., None], None if backgrounds is None else backgrounds.new_zeros(len(backgrounds), 1)
    channels = torch.cat([rgb, depths[..., None]], dim=-1)
    if backgrounds is not None:
        backgrounds = torch.cat([backgrounds, backgrounds.new_zeros(len(backgrounds), 1)], dim=-1)
    return channels, backgrounds


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(s) for s in t.shape) + "]"


def check_inputs(
    means: Tensor, quats: Tensor, scales: Tensor, opacities: Tensor, colors: Tensor, viewmats: Tensor,
    Ks: Tensor, width: int, height: int, sh_degree: int | None, backgrounds: Tensor | None, render_mode: str,
) -> tuple[int, int]:
    """Validate shapes, dtypes and options; return (C, N). Raises ValueError naming the culprit."""
    tensors = {"means": means, "quats": quats, "scales": scales, "opacities": opacities, "colors": colors,
               "viewmats": viewmats, "Ks": Ks}
    if backgrounds is not None:
        tensors["backgrounds"] = backgrounds
    for key, t in tensors.items():
        if not isinstance(t, Tensor):
            raise ValueError(f"rasterize: {key} must be a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise ValueError(f"rasterize: {key} must be a floating-point tensor, got {t.dtype}")
        if t.dtype != means.dtype or t.device != means.device:
            raise ValueError(f"rasterize: {key} is {t.dtype} on {t.device} but means is {means.dtype} on "
                             f"{means.device}; all inputs must share dtype and device")
    if means.ndim != 2 or means.shape[1] != 3:
        raise ValueError(f"rasterize: means must be [N, 3], got {_shape(means)}")
    N = means.shape[0]
    expected = {"quats": (N, 4), "scales": (N, 3), "opacities": (N,)}
    for key, shape in expected.items():
        if tuple(tensors[key].shape) != shape:
            raise ValueError(f"rasterize: {key} must be {list(shape)} for N={N} Gaussians, got "
                             f"{_shape(tensors[key])}")
    if sh_degree is None:
        if tuple(colors.shape) != (N, 3):
            raise ValueError(f"rasterize: colors must be [N, 3] RGB (or pass sh_degree for [N, K, 3] SH "
                             f"coefficients), got {_shape(colors)} for N={N}")
    else:
        if not isinstance(sh_degree, int) or not 0 <= sh_degree <= MAX_SH_DEGREE:
            raise ValueError(f"rasterize: sh_degree must be an int in 0..{MAX_SH_DEGREE}, got {sh_degree!r}")
        k = num_sh_bases(sh_degree)
        if colors.ndim != 3 or colors.shape[0] != N or colors.shape[2] != 3 or colors.shape[1] < k:
            raise ValueError(f"rasterize: with sh_degree={sh_degree}, colors must be [N, K, 3] SH "
                             f"coefficients with K >= {k}, got {_shape(colors)} for N={N}")
    if viewmats.ndim != 3 or viewmats.shape[1:] != (4, 4) or viewmats.shape[0] < 1:
        raise ValueError(f"rasterize: viewmats must be [C, 4, 4] with C >= 1, got {_shape(viewmats)}")
    C = viewmats.shape[0]
    if tuple(Ks.shape) != (C, 3, 3):
        raise ValueError(f"rasterize: Ks must be [C, 3, 3] with C={C} (as viewmats), got {_shape(Ks)}")
    if backgrounds is not None and tuple(backgrounds.shape) != (C, 3):
        raise ValueError(f"rasterize: backgrounds must be [C, 3] with C={C}, got {_shape(backgrounds)}")
    for key, size in (("width", width), ("height", height)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"rasterize: {key} must be a positive int, got {size!r}")
    if render_mode not in RENDER_MODES:
        raise ValueError(f"rasterize: render_mode must be one of {', '.join(RENDER_MODES)}, got {render_mode!r}")
    return C, N
