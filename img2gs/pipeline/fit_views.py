"""The views the splats are fitted to: the photo at full resolution, and one target view per pose.

* The photo, the one view known exactly, enters at its FULL resolution as `tiles x tiles` views of
  `size` px each: the same camera with its principal point shifted per tile, so a 256 px photo is
  fitted at 256 px while every rendered view stays `size` px (one image size for the whole fit).
* Target views come from a view source:
    "proxy"      the lifted proxy rendered at the target poses (img2gs.proxy);
    "generator"  the view generator's views (made at its low resolution) applied to the proxy's render
                 at `size` as a correction of its low frequencies (`transfer_generated`: the generator
                 fixes colour, shading and shape, the proxy keeps the photo's detail), with every pixel
                 the photo sees taken from the proxy itself (weighted by the proxy's seen mask):
                 generated views fill in what the photo cannot show and cannot overrule what it does.
"""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.cameras import FOV_DEG, OrbitPose, intrinsics_from_fov, poses_c2w
from img2gs.image_io import resize_chw, resize_rgba
from img2gs.posed_views import PosedViews
from img2gs.proxy.lift import LiftedProxy
from img2gs.proxy.render import ProxyRender, render_proxy

VIEW_SOURCES = ("proxy", "generator")


def photo_tiles(photo: Tensor, pose: OrbitPose, size: int) -> PosedViews:
    """The framed photo [S, S, 4] as (S / size)^2 views of `size` px (one view if S <= size)."""
    side = photo.shape[0]
    if side <= size:
        image = resize_rgba(photo, size)
        K = intrinsics_from_fov(FOV_DEG, size, size)
        return PosedViews(image[None], pose.c2w()[None], K[None], names=["images/input.png"])
    tiles = -(-side // size)  # ceil: the photo is resampled to tiles * size first
    full = resize_rgba(photo, tiles * size)
    K_full = intrinsics_from_fov(FOV_DEG, tiles * size, tiles * size)
    images, Ks, names = [], [], []
    for row in range(tiles):
        for col in range(tiles):
            images.append(full[row * size:(row + 1) * size, col * size:(col + 1) * size])
            K = K_full.clone()
            K[0, 2] -= col * size
            K[1, 2] -= row * size
            Ks.append(K)
            names.append(f"images/input_tile_{row}{col}.png")
    c2w = pose.c2w()[None].expand(len(images), 4, 4).clone()
    return PosedViews(torch.stack(images), c2w, torch.stack(Ks), names=names)


def proxy_target_views(proxy: LiftedProxy, poses: list[OrbitPose], size: int,
                       backend: str = "auto") -> tuple[PosedViews, ProxyRender]:
    """The proxy rendered at `poses`, as posed views, and the render itself (depth, seen)."""
    c2w = poses_c2w(poses)
    K = intrinsics_from_fov(FOV_DEG, size, size).expand(len(poses), 3, 3).clone()
    render = render_proxy(proxy, c2w, K, size, size, backend=backend)
    names = [f"images/view_{i:03d}.png" for i in range(len(poses))]
    return PosedViews(render.rgba, c2w, K, names=names), render


def transfer_generated(generated: Tensor, render: ProxyRender) -> Tensor:
    """Generated views [N, r, r, 4] (straight alpha, r <= the proxy's size H) as a low-frequency correction
    of the proxy's render [N, H, H, 4]: in premultiplied RGBA,
        out = proxy + upsample(generated - downsample(proxy))
    so that out downsampled to r is (up to clamping) the generated view, and the proxy's detail above
    r stays. At r = H it is the generated view itself."""
    size, low = render.rgba.shape[1], generated.shape[1]
    premul = lambda x: torch.cat([x[..., :3] * x[..., 3:], x[..., 3:]], dim=-1).movedim(-1, -3)  # noqa: E731
    proxy = premul(render.rgba)  # [N, 4, H, H]
    correction = resize_chw(premul(generated) - resize_chw(proxy, low), size)
    out = (proxy + correction).clamp(0.0, 1.0).movedim(-3, -1)  # [N, H, H, 4] premultiplied
    alpha = out[..., 3:]
    rgb = torch.where(alpha > 1e-6, (out[..., :3] / alpha.clamp_min(1e-6)).clamp(0.0, 1.0), torch.ones_like(alpha))
    return torch.cat([rgb.expand_as(out[..., :3]), alpha], dim=-1)


def blend_seen(generated: Tensor, render: ProxyRender) -> Tensor:
    """Generated views [N, r, r, 4] (any r <= the proxy's size) transferred onto the proxy's render
    (`transfer_generated`), with seen pixels from the proxy."""
    generated = transfer_generated(generated, render)
    w = render.seen[..., None]  # [N, H, W, 1]
    return w * render.rgba + (1.0 - w) * generated


def concat_views(first: PosedViews, second: PosedViews) -> PosedViews:
    return PosedViews(torch.cat([first.images, second.images]), torch.cat([first.c2w, second.c2w]),
                      torch.cat([first.K, second.K]), names=first.names + second.names)
