"""Training of the shape stage: supervised regression of the input view's two depth layers and its
camera elevation (loss.py), on the data builder's samples (view 0 + its `depth`).

Runs on the shared training loop (img2gs.training.loop: AdamW with warm-up, gradient
clipping, EMA weights, atomic checkpoints every K steps and on SIGINT / SIGTERM, --resume). Batches
depend on (seed, step) only, augmentations on the step's generator, so a resumed run reproduces the
uninterrupted one.

Augmentations: a left-right mirror of photo, depth and the other views (a mirrored object is an
object, seen from the same elevation) and colour jitter (per-channel gains, channel order, greyscale)
so that depth is read from shape and shading, not from the palette of the procedural objects.

The loss (loss.py) scores the depth layers per pixel and, with the carve / cover weights, the photo
lifted on them as seen from the sample's other views (silhouette.py).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

import img2gs
from img2gs.device import autocast, training_layout
from img2gs.errors import CheckpointError, DataFormatError
from img2gs.presets import to_dict
from img2gs.shape.checkpoint import ShapeCheckpointInfo, load_shape_checkpoint
from img2gs.shape.config import ShapeTrainConfig
from img2gs.shape.loss import ShapeLoss
from img2gs.shape.network import ShapeNet, encode_input, grows_into, load_grown
from img2gs.training.loop import TrainResult, run_training, start_fresh
from img2gs.training.sampler import ObjectOrder


@dataclass(frozen=True)
class ShapeBatch:
    photos: Tensor  # [B, R, R, 4] view 0, straight alpha
    depth: Tensor  # [B, 2, R, R] its true front / back camera z
    elevation: Tensor  # [B] its elevation, degrees
    target_alpha: Tensor  # [B, T, R, R] the other views' silhouettes
    target_poses: Tensor  # [B, T, 3] their (elevation, azimuth, radius)


def shape_batch(dataset, indices: list[int], resolution: int) -> ShapeBatch:
    """The dataset samples `indices` as a ShapeBatch."""
    items = [dataset[i] for i in indices]
    images = torch.stack([item["images"] for item in items])  # [B, V, R, R, 4]
    poses = torch.stack([item["poses"] for item in items])  # [B, V, 3]
    if images.shape[2] != resolution:
        raise DataFormatError(f"the dataset is at {images.shape[2]} px but the shape model at {resolution} px")
    return ShapeBatch(photos=images[:, 0], depth=torch.stack([item["depth"] for item in items]),
                      elevation=poses[:, 0, 0], target_alpha=images[:, 1:, ..., 3], target_poses=poses[:, 1:])


def augment(batch: ShapeBatch, config: ShapeTrainConfig, generator: torch.Generator) -> ShapeBatch:
    """Mirror and colour-jitter a batch. The mirror is the world's mirror through the input camera's
    vertical plane: the photo, its depth and every other view flip left-right, their azimuths change sign."""
    photos, b = batch.photos, batch.photos.shape[0]
    flip = torch.rand(b, generator=generator) < config.flip_probability
    photos = torch.where(flip[:, None, None, None], photos.flip(2), photos)
    depth = torch.where(flip[:, None, None, None], batch.depth.flip(3), batch.depth)
    target_alpha = torch.where(flip[:, None, None, None], batch.target_alpha.flip(3), batch.target_alpha)
    mirror = torch.tensor([1.0, -1.0, 1.0])
    target_poses = torch.where(flip[:, None, None], batch.target_poses * mirror, batch.target_poses)
    rgb = photos[..., :3]
    gains = 1.0 + config.color_jitter * (2.0 * torch.rand(b, 1, 1, 3, generator=generator) - 1.0)
    rgb = (rgb * gains).clamp(0.0, 1.0)
    order = torch.stack([torch.randperm(3, generator=generator) for _ in range(b)])  # [B, 3]
    permute = torch.rand(b, generator=generator) < 0.5
    order = torch.where(permute[:, None], order, torch.arange(3).expand(b, 3))
    rgb = torch.gather(rgb, 3, order[:, None, None, :].expand_as(rgb))
    grey = torch.rand(b, generator=generator) < 0.15
    rgb = torch.where(grey[:, None, None, None], rgb.mean(-1, keepdim=True).expand_as(rgb), rgb)
    return ShapeBatch(torch.cat([rgb, photos[..., 3:]], dim=-1), depth, batch.elevation, target_alpha, target_poses)


class ShapeTask:
    """A `TrainTask` (img2gs.training.loop) for the shape network."""

    def __init__(self, config: ShapeTrainConfig, dataset, device: torch.device, provenance: dict | None = None,
                 init: ShapeNet | None = None):
        if not getattr(dataset, "has_depth", False):
            raise DataFormatError(f"{dataset.folder}: the dataset has no depth layers (built before format 2; "
                                  "rebuild it with `img2gs data build`)")
        self.config, self.dataset, self.device = config, dataset, device
        self.sampler = ObjectOrder(len(dataset), config.loop.batch_objects, config.loop.seed)
        self.online = training_layout(ShapeNet(config.model).to(device), device).train()
        if init is not None:  # fine-tuning: start from another run's (EMA) weights, grown by middle blocks
            load_grown(self.online, init)
        self.ema = copy.deepcopy(self.online).eval().requires_grad_(False)
        self.loss_fn = ShapeLoss(config.loss)
        self.optimizer = torch.optim.AdamW(self.online.parameters(), lr=config.loop.lr,
                                           weight_decay=config.loop.weight_decay)
        self.provenance = provenance or {}

    def extra_modules(self) -> dict:
        return {}

    def loss(self, step: int, generator: torch.Generator) -> tuple[Tensor, dict]:
        batch = augment(shape_batch(self.dataset, self.sampler.object_indices(step), self.config.model.resolution),
                        self.config, generator)
        with autocast(self.config.loop.precision, self.device):
            pred = self.online(encode_input(batch.photos).to(self.device))
        views = (batch.target_alpha.to(self.device), batch.target_poses.to(self.device))
        return self.loss_fn(pred, batch.depth.to(self.device), batch.photos[..., 3].to(self.device),
                            batch.elevation.to(self.device), views, generator)

    def after_step(self, step: int) -> None:
        pass

    def checkpoint_info(self, step: int) -> ShapeCheckpointInfo:
        return ShapeCheckpointInfo(self.config.model, {**self.provenance, "step": step,
                                                       "img2gs_version": img2gs.__version__,
                                                       "training": to_dict(self.config)})


def train_shape(config: ShapeTrainConfig, dataset, run_dir: str | Path, *, resume: bool = False,
                device: torch.device | str = "cpu", provenance: dict | None = None,
                report: Callable[[int, dict], None] | None = None, init: str | Path | None = None) -> TrainResult:
    """Train (or, with `resume`, continue) the shape stage on `dataset` (a ViewDataset) into `run_dir`.
    `init`: a shape checkpoint or run whose weights a new run starts from (fine-tuning, e.g. a cool-down
    at a lower learning rate); its model config must equal `config.model`, or have fewer middle blocks
    (the network grows: the new blocks start as the identity)."""
    run_dir = Path(run_dir)
    start = None
    if init is not None and not resume:
        start, info = load_shape_checkpoint(init)
        if not grows_into(info.model, config.model):
            raise CheckpointError(f"{init}: its shape model config differs from the preset's by more than added "
                                  "middle blocks; cannot start from it")
        provenance = {**(provenance or {}), "init": str(init), "init_step": info.provenance.get("step")}
    task = ShapeTask(config, dataset, torch.device(device), provenance, start)
    if not resume:
        start_fresh(run_dir, config)
    return run_training(task, config.loop, run_dir, resume=resume, report=report)
