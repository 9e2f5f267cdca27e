"""Frozen configs of the shape stage; presets in `configs/shape/{tiny,cpu}.json` are ShapeTrainConfig
objects: {"model": {...ShapeNetConfig}, "loop": {...LoopConfig}, "loss": {...}, ...}."""

from __future__ import annotations

from dataclasses import dataclass, field

from img2gs.errors import PresetError
from img2gs.presets import from_dict, read_preset
from img2gs.training.config import LoopConfig

PRESET_KIND = "shape"


@dataclass(frozen=True)
class ShapeNetConfig:
    """The U-Net of network.py."""

    resolution: int = 64  # working side: photos are resized to it, depth comes out at it
    channels: tuple[int, ...] = (32, 64, 128, 256)  # widths per level (each level halves the side)
    blocks_per_level: int = 2  # residual blocks per level, encoder and decoder
    norm_groups: int = 8
    mid_blocks: int = 0  # (residual block + self-attention) pairs at the bottleneck, each starting as the identity
    attention_heads: int = 4  # heads of the middle blocks' self-attention
    seed: int = 0  # initialisation seed

    def __post_init__(self) -> None:
        if self.resolution % 2 ** (len(self.channels) - 1):
            raise PresetError(f"shape model: resolution {self.resolution} must be divisible by 2**(levels - 1)")
        if any(c % self.norm_groups for c in self.channels):
            raise PresetError("shape model: channels must be multiples of norm_groups")
        if self.mid_blocks < 0 or self.attention_heads < 1 or self.channels[-1] % self.attention_heads:
            raise PresetError("shape model: mid_blocks must be >= 0 and attention_heads >= 1 must divide the "
                              "last level's channels")


@dataclass(frozen=True)
class ShapeLossConfig:
    """Weights of loss.py's terms."""

    front: float = 1.0  # L1 of the front depth on the object's pixels
    back: float = 1.0  # L1 of the back depth on the object's pixels
    gradient: float = 0.5  # L1 of the depth layers' finite differences (sharp, well-oriented surfaces)
    confidence: float = 0.1  # Laplace NLL of the back error (trains the confidence only)
    elevation: float = 0.2  # smooth L1 of the elevation, in units of 10 degrees
    carve: float = 0.0  # the layers' surface points inside the other views' silhouettes (silhouette.py)
    cover: float = 0.0  # the other views' silhouettes covered by the lifted points (silhouette.py)


@dataclass(frozen=True)
class ShapeTrainConfig:
    model: ShapeNetConfig = field(default_factory=ShapeNetConfig)
    loop: LoopConfig = field(default_factory=LoopConfig)  # batch_objects = photos per batch
    loss: ShapeLossConfig = field(default_factory=ShapeLossConfig)
    flip_probability: float = 0.5  # mirror photo and depth left-right (a mirrored object is an object)
    color_jitter: float = 0.35  # per-channel gain spread; also random channel order and greyscale


def load_shape_preset(name: str) -> ShapeTrainConfig:
    values = read_preset(ShapeTrainConfig, PRESET_KIND, name)
    return from_dict(ShapeTrainConfig, values, where=f"shape preset {name!r}")
