"""The training loop's config, shared by every trainer (shape stage, teacher, distillation)."""

from __future__ import annotations

from dataclasses import dataclass

from img2gs.device import PRECISIONS
from img2gs.errors import PresetError


@dataclass(frozen=True)
class LoopConfig:
    """What the training loop (loop.py) and the batch sampler need, for both trainers."""

    steps: int = 1000
    batch_objects: int = 4  # objects per batch
    views_per_object: int = 4  # target views per object, generated jointly (cross-view attention)
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 100
    lr_final_ratio: float = 1.0  # 1: constant after warm-up; < 1: half-cosine decay to lr x this at the end
    grad_clip: float = 1.0
    ema_halflife_steps: float = 200.0  # EMA of the weights that are saved for sampling
    ema_rampup_ratio: float = 0.05  # early half-life = ratio * step (EDM's ema_rampup_ratio)
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    data_split: str = "train"
    precision: str = "fp32"  # "bf16": the network's forward pass under bf16 autocast (img2gs.device.autocast)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise PresetError(f"loop: precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if min(self.steps, self.batch_objects, self.views_per_object, self.checkpoint_every, self.log_every) < 1:
            raise PresetError("loop: steps, batch_objects, views_per_object, checkpoint_every, log_every must be >= 1")
        if not 0.0 <= self.lr_final_ratio <= 1.0:
            raise PresetError(f"loop: lr_final_ratio must be in [0, 1], got {self.lr_final_ratio}")
