"""Frozen dataclass configs of the view generator: the network, the teacher run, the distillation run.

Named presets live in `configs/viewgen/<name>.json` as one object per preset:
    {"model": {...ModelConfig}, "teacher": {...TeacherTrainConfig}, "distill": {...DistillTrainConfig}}
`load_viewgen_preset(name)` builds all three; the train configs each carry the model config they use,
so a run folder's `training_options.json` says everything about the run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from img2gs.errors import PresetError
from img2gs.presets import from_dict, preset_path, read_preset
from img2gs.training.config import LoopConfig  # noqa: F401 (the train configs below nest it)
from img2gs.viewgen.distill import DistillConfig

PRESET_KIND = "viewgen"


@dataclass(frozen=True)
class EncoderConfig:
    """The image encoder whose tokens the U-Net cross-attends to."""

    kind: str = "conv"  # "conv": small trainable CNN | "timm": a ViT from timm (e.g. DINOv2)
    channels: tuple[int, ...] = (32, 64)  # conv: widths of the stride-2 stages (tokens at H / 2**len)
    timm_model: str = "vit_small_patch14_dinov2"  # timm: architecture name given to timm.create_model
    timm_weights: str | None = None  # timm: path to a .safetensors state dict of that architecture
    timm_image_size: int = 224  # timm: the photo is resized to this side before encoding
    timm_kwargs: dict = field(default_factory=dict)  # timm: extra create_model arguments (tests: tiny ViTs)
    freeze: bool = True  # timm: keep pretrained weights fixed (the projection still trains)


@dataclass(frozen=True)
class ModelConfig:
    """The conditional U-Net backbone (diffusers UNet2DConditionModel in pixel space) and its sigmas."""

    resolution: int = 32  # working side in pixels; photos and targets are resized to it
    block_out_channels: tuple[int, ...] = (64, 128, 128)
    attention: tuple[bool, ...] = (False, True, True)  # per level: cross-attention (and self-attention) blocks
    layers_per_block: int = 1
    num_heads: int = 4  # attention heads per attention layer
    cross_attention_dim: int = 128  # width of the image tokens
    norm_num_groups: int = 16
    cross_view_attention: bool = True  # self-attention spans all target views of one object
    cross_view_levels: int = 1  # ... at the lowest this many levels (and the middle block)
    encoder: EncoderConfig = EncoderConfig()
    proxy_conditioning: bool = False  # each view also sees the proxy's render and its Plücker ray map
    residual_on_proxy: bool = False  # with proxy_conditioning: diffuse x - proxy render (a zero residual is
    #                                  the proxy itself), so what the proxy gets right needs no learning
    sigma_data: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    seed: int = 0  # initialisation seed

    def __post_init__(self) -> None:
        if len(self.attention) != len(self.block_out_channels):
            raise PresetError("model.attention needs one flag per entry of model.block_out_channels")
        if self.resolution % 2 ** (len(self.block_out_channels) - 1):
            raise PresetError(f"model.resolution {self.resolution} must be divisible by 2**(levels - 1)")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise PresetError("model.block_out_channels must be multiples of model.norm_num_groups")
        if self.residual_on_proxy and not self.proxy_conditioning:
            raise PresetError("model.residual_on_proxy needs model.proxy_conditioning")
        if self.cross_view_attention and not any(self.attention[-self.cross_view_levels:]):
            raise PresetError("cross-view attention needs attention at the lowest model.cross_view_levels levels")


@dataclass(frozen=True)
class TeacherTrainConfig:
    """EDM training of the diffusion teacher (Karras et al. 2022, "Elucidating the Design Space...")."""

    model: ModelConfig = ModelConfig()
    loop: LoopConfig = LoopConfig()
    p_mean: float = -1.2  # lognormal sigma distribution of EDM (Table 1)
    p_std: float = 1.2
    cond_dropout: float = 0.1  # probability of dropping photo + pose together (classifier-free guidance)
    sample_steps: int = 25  # default number of Heun steps of the teacher's sampler
    sample_guidance: float = 1.0  # default guidance weight of the teacher's sampler (1 = none)


@dataclass(frozen=True)
class DistillTrainConfig:
    """Consistency distillation of the student from the teacher (Song et al. 2023, "Consistency Models").

    `distill` holds the algorithm's own hyper-parameters (img2gs.viewgen.distill.DistillConfig); its
    sigma settings are taken from the teacher's checkpoint.
    """

    loop: LoopConfig = LoopConfig(lr=5e-5, warmup_steps=10, ema_halflife_steps=100.0)
    distill: DistillConfig = DistillConfig()
    lambda_photo: float = 0.0  # weight of an L2 loss of the one-step prediction (from sigma_max) vs the true views
    lambda_percep: float = 0.0  # weight of an LPIPS loss of that prediction vs the true views
    sample_steps: int = 1  # default number of consistency steps of the student's sampler


@dataclass(frozen=True)
class ViewgenPreset:
    model: ModelConfig
    teacher: TeacherTrainConfig
    distill: DistillTrainConfig


def load_viewgen_preset(name: str) -> ViewgenPreset:
    """Build the model, teacher and distill configs of preset `name` (or a path to a preset .json)."""
    path = preset_path(PRESET_KIND, name)
    values = read_preset(ViewgenPreset, PRESET_KIND, name)
    unknown = set(values) - {"model", "teacher", "distill"}
    if unknown:
        raise PresetError(f"{path}: unknown section(s) {sorted(unknown)} (expected model, teacher, distill)")
    model = from_dict(ModelConfig, values.get("model", {}), where=f"{path}:model")
    teacher_values = dict(values.get("teacher", {}))
    if "model" in teacher_values:
        raise PresetError(f"{path}: put the model config in the top-level 'model' section, not under 'teacher'")
    teacher = dataclasses.replace(from_dict(TeacherTrainConfig, teacher_values, where=f"{path}:teacher"), model=model)
    distill = from_dict(DistillTrainConfig, values.get("distill", {}), where=f"{path}:distill")
    return ViewgenPreset(model=model, teacher=teacher, distill=distill)


def model_config_from_dict(values: dict, where: str = "model config") -> ModelConfig:
    return from_dict(ModelConfig, values, where=where)
