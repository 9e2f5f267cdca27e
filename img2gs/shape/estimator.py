"""The shape stage on a user's photo: `ShapeEstimator(photo) -> ShapeEstimate`.

The framed photo (img2gs.pipeline.preprocess) is resized to the network's resolution; the prediction
is the mean of the photo's and its mirror image's (test-time flip, undone), which halves the
network's left-right bias at the cost of a second forward pass of a few milliseconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.image_io import resize_rgba
from img2gs.model_cache import load_once
from img2gs.shape.checkpoint import ShapeCheckpointInfo, load_shape_checkpoint
from img2gs.shape.network import ShapeNet, encode_input


@dataclass(frozen=True)
class ShapeEstimate:
    front: Tensor  # [R, R] camera z of the first surface
    back: Tensor  # [R, R] camera z of the last surface (>= front)
    log_b: Tensor  # [R, R] log Laplace scale of the back layer's error
    valid: Tensor  # [R, R] bool: the object's pixels at R (alpha > 0.5)
    elevation: float  # estimated camera elevation, degrees


class ShapeEstimator:
    def __init__(self, net: ShapeNet, info: ShapeCheckpointInfo | None = None, device: torch.device | str = "cpu"):
        self.net, self.info, self.device = net.to(device).eval(), info, torch.device(device)

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> "ShapeEstimator":
        net, info = load_shape_checkpoint(path, device)
        return cls(net, info, device)

    @classmethod
    def cached(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> "ShapeEstimator":
        """`load`, once per (folder, device) and process: a batch's photos share the loaded model."""
        return load_once("shape stage", path, device, lambda: cls.load(path, device))

    @property
    def resolution(self) -> int:
        return self.net.config.resolution

    @torch.no_grad()
    def __call__(self, photo: Tensor) -> ShapeEstimate:
        """photo [S, S, 4] straight-alpha RGBA, framed by the camera contract."""
        small = resize_rgba(photo.float(), self.resolution)  # [R, R, 4]
        x = encode_input(torch.stack([small, small.flip(1)])).to(self.device)
        pred = self.net(x)

        def mean(t: Tensor) -> Tensor:  # [2, R, R] (photo, mirror) -> [R, R]
            return (0.5 * (t[0] + t[1].flip(-1))).cpu()

        return ShapeEstimate(front=mean(pred.front), back=mean(pred.back), log_b=mean(pred.log_b),
                             valid=small[..., 3] > 0.5, elevation=float(pred.elevation.mean()))
