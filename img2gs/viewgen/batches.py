"""From dataset samples / user images to the network's tensors, and back.

Image layout of the network (see network.py):
    target views  [..., 4, H, W] in [-1, 1]: RGB composited on white, then alpha
    photo         [..., 3, H, W] in [-1, 1]: RGB composited on white
`encode_views` / `decode_views` convert between that and img2gs images ([..., H, W, 4] in [0, 1],
straight alpha).

With proxy conditioning (network.py), each target view also gets its proxy render (`encode_proxy`,
[..., 6, H, W]: RGB on white, alpha, depth relative to the orbit centre, seen mask; all about [-1, 1])
and its Plücker ray map relative to the input camera (`view_rays`, img2gs.ray_maps).

`BatchSampler` draws training batches that depend only on (seed, step): the objects in the order of
img2gs.training.sampler (shared with the shape stage's trainer), target views chosen by a generator
seeded by (seed, step). A resumed run therefore sees exactly the batches the uninterrupted run would
have seen, with no random state to save.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.cameras import FOV_DEG, OBJECT_RADIUS, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w, relative_pose_encoding
from img2gs.errors import DataFormatError
from img2gs.image_io import composite_on, resize_chw
from img2gs.proxy.render import ProxyRender
from img2gs.ray_maps import plucker_ray_map
from img2gs.training.sampler import ObjectOrder


@dataclass(frozen=True)
class ViewBatch:
    """Model inputs of B objects with V target views each."""

    photo: Tensor  # [B, 3, R, R] in [-1, 1], RGB on white
    targets: Tensor  # [B, V, 4, R, R] in [-1, 1], RGB on white + alpha
    pose: Tensor  # [B, V, 4] relative pose encoding input -> target
    proxy: Tensor | None = None  # [B, V, 6, R, R] encode_proxy of the proxy's render at each target
    rays: Tensor | None = None  # [B, V, 6, R, R] Plücker ray maps relative to the input camera

    def cond(self) -> dict[str, Tensor]:
        cond = {"photo": self.photo, "pose": self.pose}
        if self.proxy is not None:
            cond.update(proxy=self.proxy, rays=self.rays)
        return cond

    def residual_base(self, model) -> Tensor | None:
        """[B, V, 4, R, R]: what the model's sample is relative to -- the proxy's RGB-on-white + alpha for
        a `residual_on_proxy` model (it denoises targets - base), None otherwise."""
        return self.proxy[:, :, :4] if model.residual_on_proxy else None

    def to(self, device: torch.device) -> "ViewBatch":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return ViewBatch(*(move(t) for t in (self.photo, self.targets, self.pose, self.proxy, self.rays)))


def encode_views(images: Tensor, size: int | None = None) -> Tensor:
    """Images [..., H, W, 4] in [0, 1] -> target-view tensors [..., 4, size, size] in [-1, 1]."""
    x = torch.cat([composite_on(images, 1.0), images[..., 3:4]], dim=-1)  # [..., H, W, 4]
    x = x.movedim(-1, -3)  # [..., 4, H, W]
    x = resize_chw(x, size) if size else x
    return x * 2.0 - 1.0


def encode_photo(image: Tensor, size: int | None = None) -> Tensor:
    """Photo(s) [..., H, W, 4] in [0, 1] -> [..., 3, size, size] in [-1, 1], composited on white."""
    x = composite_on(image, 1.0).movedim(-1, -3)  # [..., 3, H, W]
    x = resize_chw(x, size) if size else x
    return x * 2.0 - 1.0


def decode_views(x: Tensor, min_alpha: float = 1e-3) -> Tensor:
    """Network output [..., 4, H, W] in [-1, 1] -> images [..., H, W, 4] in [0, 1], straight alpha.

    The network predicts colour composited on white, c = rgb * a + (1 - a); straight colour is
    (c - (1 - a)) / a where a > min_alpha (white elsewhere).
    """
    x = ((x.movedim(-3, -1) + 1.0) / 2.0).clamp(0.0, 1.0)  # [..., H, W, 4]
    on_white, alpha = x[..., :3], x[..., 3:4]
    straight = ((on_white - (1.0 - alpha)) / alpha.clamp_min(min_alpha)).clamp(0.0, 1.0)
    rgb = torch.where(alpha > min_alpha, straight, torch.ones_like(straight))
    return torch.cat([rgb, alpha], dim=-1)


def encode_proxy(render: ProxyRender, size: int | None = None) -> Tensor:
    """A proxy render at V views (img2gs.proxy.render) -> [V, 6, size, size]: RGB on white and alpha in
    [-1, 1] (as target views), camera depth relative to the orbit centre in object radii (0 where empty),
    seen mask in [-1, 1]."""
    views = encode_views(render.rgba)  # [V, 4, H, W]
    drawn = render.rgba[..., 3] > 1e-3
    depth = torch.where(drawn, (render.depth - ORBIT_RADIUS) / OBJECT_RADIUS, torch.zeros_like(render.depth))
    x = torch.cat([views, depth.clamp(-2.0, 2.0)[:, None], render.seen[:, None] * 2.0 - 1.0], dim=1)
    return resize_chw(x, size) if size else x


def view_rays(input_pose: Tensor, target_poses: Tensor, size: int) -> Tensor:
    """Plücker ray maps [V, 6, size, size] of the target cameras (poses [V, 3]) relative to the input
    camera (pose [3]), at `size` px with the contract's field of view."""
    c2w_in = orbit_to_c2w(input_pose[0], input_pose[1], input_pose[2])  # [4, 4]
    c2w = orbit_to_c2w(target_poses[:, 0], target_poses[:, 1], target_poses[:, 2])  # [V, 4, 4]
    return plucker_ray_map(c2w, c2w_in, intrinsics_from_fov(FOV_DEG, size, size), size)


def views_on_white(x: Tensor) -> Tensor:
    """Network-space views [..., 4, H, W] -> RGB on white [..., H, W, 3] in [0, 1] (for metrics)."""
    return ((x[..., :3, :, :].movedim(-3, -1) + 1.0) / 2.0).clamp(0.0, 1.0)


def make_batch(samples: list[dict], view_index: Tensor, resolution: int,
               proxies: list[ProxyRender] | None = None) -> ViewBatch:
    """Batch B dataset samples (images [V, H, W, 4], poses [V, 3]; view 0 = input) with the target
    views `view_index` [B, V_t] (indices >= 1); with `proxies` (one render of all V views per sample),
    the proxy conditioning of those views too."""
    photos, targets, poses, proxy, rays = [], [], [], [], []
    for k, (sample, idx) in enumerate(zip(samples, view_index)):
        images, p = sample["images"], sample["poses"]
        photos.append(encode_photo(images[0], resolution))
        targets.append(encode_views(images[idx], resolution))
        poses.append(relative_pose_encoding(p[0].expand(len(idx), 3), p[idx]))
        if proxies is not None:
            render = proxies[k]
            proxy.append(encode_proxy(ProxyRender(render.rgba[idx], render.depth[idx], render.seen[idx]), resolution))
            rays.append(view_rays(p[0], p[idx], resolution))
    stacked = (torch.stack(proxy), torch.stack(rays).float()) if proxies is not None else (None, None)
    return ViewBatch(torch.stack(photos), torch.stack(targets), torch.stack(poses).float(), *stacked)


def relative_to(x: Tensor, base: Tensor | None) -> Tensor:
    """x - base (x itself without a base): views in the space a residual model diffuses."""
    return x if base is None else x - base


def check_proxies(model, proxies):
    """`proxies` if the model config needs them and they fit it (DataFormatError otherwise)."""
    if not model.proxy_conditioning:
        return None
    if proxies is None:
        raise DataFormatError("this model is conditioned on the lifted proxy: pass its proxy views (--proxies, "
                              "made by `img2gs train proxies`)")
    if proxies.resolution != model.resolution:
        raise DataFormatError(f"the proxy views are {proxies.resolution} px but the model works at "
                              f"{model.resolution} px; make them with --resolution {model.resolution}")
    return proxies


class BatchSampler:
    """Deterministic training batches: batch(step) depends only on (seed, step): the objects in the order
    of img2gs.training.sampler, the target views drawn by a generator seeded by (seed, step)."""

    def __init__(self, dataset, batch_objects: int, views_per_object: int, resolution: int, seed: int,
                 proxies=None):
        """`proxies`: a ProxyViewStore of `dataset` (proxy conditioning); objects are then drawn from the
        samples that have proxy views."""
        self.proxies = proxies
        pool = proxies.indices if proxies is not None else None
        self.order = ObjectOrder(len(dataset), batch_objects, seed, pool)  # raises on an empty training split
        available = dataset[0]["images"].shape[0] - 1
        if views_per_object > available:
            raise DataFormatError(f"views_per_object={views_per_object} but the dataset has only {available} "
                                  "target views per sample (lower it in the preset)")
        self.dataset, self.batch_objects, self.views = dataset, batch_objects, views_per_object
        self.available, self.resolution, self.seed = available, resolution, seed

    def object_indices(self, step: int) -> list[int]:
        return self.order.object_indices(step)

    def batch(self, step: int) -> ViewBatch:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7_919 * step + 1)
        view_index = torch.stack([torch.randperm(self.available, generator=g)[: self.views] + 1
                                  for _ in range(self.batch_objects)])  # [B, V_t]
        indices = self.object_indices(step)
        samples = [self.dataset[i] for i in indices]
        proxies = [self.proxies[i] for i in indices] if self.proxies is not None else None
        return make_batch(samples, view_index, self.resolution, proxies)
