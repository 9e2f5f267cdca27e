"""Render the lifted proxy at any pose: what the next stages condition on or fit to.

`render_proxy` returns, per camera, the proxy's straight-alpha RGBA, its expected depth (camera z)
and a SEEN mask: the share of each pixel's colour that comes from front Gaussians, i.e. from surface
the photo shows (a second pass of the same rasterizer with the Gaussians' seen flag as colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.cameras import FOV_DEG, intrinsics_from_fov, orbit_to_c2w
from img2gs.proxy.lift import LiftedProxy
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.sh import rgb_to_sh0
from img2gs.splat.render import render_gaussians, unpremultiply

# Screen-space dilation of the proxy's Gaussians (pixels^2). 3DGS trains with 0.3, which widens every
# silhouette by about a pixel (measured: lifted true depth of a sphere covers 7% more area at 128 px);
# the proxy's Gaussians are sized to the lift's pixels already, so a smaller value keeps silhouettes true.
PROXY_EPS2D = 0.1


@dataclass(frozen=True)
class ProxyRender:
    rgba: Tensor  # [C, H, W, 4] straight alpha
    depth: Tensor  # [C, H, W] expected camera z (0 where empty)
    seen: Tensor  # [C, H, W] in [0, 1]: fraction of the pixel drawn by surface the photo shows


@torch.no_grad()
def render_proxy(proxy: LiftedProxy, c2w: Tensor, K: Tensor, width: int, height: int, *,
                 backend: str = "auto", eps2d: float = PROXY_EPS2D, chunk: int = 8) -> ProxyRender:
    """c2w [C, 4, 4] OpenGL, K [C, 3, 3] -> ProxyRender (`chunk` cameras at a time)."""
    g = _degree0(proxy.gaussians)
    seen_rgb = proxy.seen[:, None].expand(-1, 3)
    flags = Gaussians({**g.params, "sh0": rgb_to_sh0(seen_rgb)[:, None, :].contiguous()})
    rgba, depth, seen = [], [], []
    for start in range(0, c2w.shape[0], chunk):
        cams = (c2w[start:start + chunk], K[start:start + chunk], width, height)
        out, alpha, _ = render_gaussians(g, *cams, render_mode="RGB+ED", eps2d=eps2d, backend=backend)
        flag, _, _ = render_gaussians(flags, *cams, eps2d=eps2d, backend=backend)
        drawn = alpha > 1e-3  # [c, H, W, 1]
        rgba.append(torch.cat([unpremultiply(out[..., :3], alpha), alpha], dim=-1).cpu())
        depth.append(torch.where(drawn, out[..., 3:], torch.zeros_like(alpha))[..., 0].cpu())
        seen.append(torch.where(drawn, unpremultiply(flag, alpha), torch.zeros_like(flag))[..., 0].cpu())
    return ProxyRender(rgba=torch.cat(rgba), depth=torch.cat(depth), seen=torch.cat(seen))


def render_proxy_at_orbit(proxy: LiftedProxy, poses: Tensor, size: int, *, backend: str = "auto",
                         chunk: int = 8) -> ProxyRender:
    """The proxy rendered at orbit poses [N, 3] (elevation, azimuth, radius; img2gs.cameras) with the
    contract's field of view, `size` px square."""
    c2w = orbit_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2])
    K = intrinsics_from_fov(FOV_DEG, size, size).expand(len(poses), 3, 3)
    return render_proxy(proxy, c2w, K, size, size, backend=backend, chunk=chunk)


def _degree0(g: Gaussians) -> Gaussians:
    return Gaussians({**g.params, "shN": g.params["shN"][:, :0]})
