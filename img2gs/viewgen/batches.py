"""From dataset samples / user images to the network's tensors, and back.

Image layout of the network (see network.py):
    target views  [..., 4, H, W] in [-1, 1]: RGB composited on white, then alpha
    photo         [..., 3, H, W] in [-1, 1]: RGB composited on white
`encode_views` / `decode_views` convert between that and img2gs images ([..., H, W, 4] in [0, 1],
straight alpha).

`BatchSampler` draws training batches with an order that depends only on (seed, step): objects in a
per-epoch permutation seeded by (seed, epoch), target views chosen by a generator seeded by
(seed, step). A resumed run therefore sees exactly the batches the uninterrupted run would have seen,
with no random state to save.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.cameras import relative_pose_encoding
from img2gs.errors import DataFormatError
from img2gs.image_io import composite_on, resize_chw


@dataclass(frozen=True)
class ViewBatch:
    """Model inputs of B objects with V target views each."""

    photo: Tensor  # [B, 3, R, R] in [-1, 1], RGB on white
    targets: Tensor  # [B, V, 4, R, R] in [-1, 1], RGB on white + alpha
    pose: Tensor  # [B, V, 4] relative pose encoding input -> target

    def cond(self) -> dict[str, Tensor]:
        return {"photo": self.photo, "pose": self.pose}

    def to(self, device: torch.device) -> "ViewBatch":
        return ViewBatch(self.photo.to(device), self.targets.to(device), self.pose.to(device))


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


def views_on_white(x: Tensor) -> Tensor:
    """Network-space views [..., 4, H, W] -> RGB on white [..., H, W, 3] in [0, 1] (for metrics)."""
    return ((x[..., :3, :, :].movedim(-3, -1) + 1.0) / 2.0).clamp(0.0, 1.0)


def make_batch(samples: list[dict], view_index: Tensor, resolution: int) -> ViewBatch:
    """Batch B dataset samples (images [V, H, W, 4], poses [V, 3]; view 0 = input) with the target
    views `view_index` [B, V_t] (indices >= 1)."""
    photos, targets, poses = [], [], []
    for sample, idx in zip(samples, view_index):
        images, p = sample["images"], sample["poses"]
        photos.append(encode_photo(images[0], resolution))
        targets.append(encode_views(images[idx], resolution))
        poses.append(relative_pose_encoding(p[0].expand(len(idx), 3), p[idx]))
    return ViewBatch(torch.stack(photos), torch.stack(targets), torch.stack(poses).float())


class BatchSampler:
    """Deterministic training batches: batch(step) depends only on (seed, step)."""

    def __init__(self, dataset, batch_objects: int, views_per_object: int, resolution: int, seed: int):
        if len(dataset) == 0:
            raise DataFormatError("the training split has no samples")
        available = dataset[0]["images"].shape[0] - 1
        if views_per_object > available:
            raise DataFormatError(f"views_per_object={views_per_object} but the dataset has only {available} "
                                  "target views per sample (lower it in the preset)")
        self.dataset, self.batch_objects, self.views = dataset, batch_objects, views_per_object
        self.available, self.resolution, self.seed = available, resolution, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int) -> Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(len(self.dataset), generator=g)
        return self._perm

    def object_indices(self, step: int) -> list[int]:
        n = len(self.dataset)
        positions = range(step * self.batch_objects, (step + 1) * self.batch_objects)
        return [int(self._permutation(p // n)[p % n]) for p in positions]

    def batch(self, step: int) -> ViewBatch:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + 7_919 * step + 1)
        view_index = torch.stack([torch.randperm(self.available, generator=g)[: self.views] + 1
                                  for _ in range(self.batch_objects)])  # [B, V_t]
        samples = [self.dataset[i] for i in self.object_indices(step)]
        return make_batch(samples, view_index, self.resolution)
