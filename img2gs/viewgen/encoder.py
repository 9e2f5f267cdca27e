"""Image encoders: the input photo -> tokens [B, T, D] that the U-Net cross-attends to.

`ConvImageEncoder` (default) is a small trainable CNN: stride-2 residual stages, a 2-D sinusoidal
position code, a linear projection to the token width. `TimmImageEncoder` wraps a timm ViT (DINOv2
when the user has its weights as a safetensors file; tests build a tiny random ViT) and projects its
patch tokens. Both take photos [B, 3, H, W] in [-1, 1] (RGB composited on white).

Null conditioning (classifier-free guidance) is an all-zero photo; the encoder maps it to fixed
tokens that training learns to read as "no photo".
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2gs.errors import CheckpointError
from img2gs.optional import require
from img2gs.viewgen.config import EncoderConfig

# DINOv2 was trained on ImageNet-normalised RGB.
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def sincos_position_code(height: int, width: int, dim: int, device: torch.device) -> Tensor:
    """[height * width, dim] 2-D sinusoidal position code (half the channels per axis)."""
    quarter = dim // 4
    freqs = torch.exp(-math.log(10000.0) * torch.arange(quarter, device=device) / max(quarter, 1))
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    parts = [f(c.reshape(-1, 1).float() * freqs) for c in (ys, xs) for f in (torch.sin, torch.cos)]
    code = torch.cat(parts, dim=-1)  # [h*w, 4*quarter]
    return F.pad(code, (0, dim - code.shape[-1]))


class _ResidualDown(nn.Module):
    """conv(stride 2) -> GroupNorm -> SiLU -> conv, with a strided 1x1 skip."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(min(8, c_out), c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.conv2(F.silu(self.norm(self.conv1(x))))


class ConvImageEncoder(nn.Module):
    """Photo [B, 3, H, W] -> tokens [B, (H / 2**S) * (W / 2**S), token_dim]."""

    def __init__(self, config: EncoderConfig, token_dim: int):
        super().__init__()
        widths = (3, *config.channels)
        self.stages = nn.Sequential(*[_ResidualDown(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.norm = nn.LayerNorm(widths[-1])
        self.proj = nn.Linear(widths[-1], token_dim)

    def forward(self, photo: Tensor) -> Tensor:
        feats = self.stages(photo)  # [B, C, h, w]
        _, c, h, w = feats.shape
        tokens = feats.flatten(2).transpose(1, 2)  # [B, h*w, C]
        tokens = self.norm(tokens) + sincos_position_code(h, w, c, photo.device)
        return self.proj(tokens)


class TimmImageEncoder(nn.Module):
    """A timm ViT (e.g. DINOv2): photo [B, 3, H, W] -> its tokens projected to [B, T, token_dim]."""

    def __init__(self, config: EncoderConfig, token_dim: int):
        super().__init__()
        timm = require("timm", "the DINOv2 image encoder")
        self.image_size = config.timm_image_size
        self.vit = timm.create_model(config.timm_model, pretrained=False, num_classes=0,
                                     img_size=config.timm_image_size, **config.timm_kwargs)
        if config.timm_weights:
            load_timm_weights(self.vit, Path(config.timm_weights))
        self.freeze = config.freeze
        if self.freeze:
            self.vit.requires_grad_(False)
        self.proj = nn.Linear(self.vit.num_features, token_dim)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, photo: Tensor) -> Tensor:
        x = F.interpolate(photo, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        x = ((x + 1.0) / 2.0 - self.mean) / self.std
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            tokens = self.vit.forward_features(x)  # [B, T, C] (class / register tokens included)
        return self.proj(tokens)


def load_timm_weights(vit: nn.Module, path: Path) -> None:
    """Load a safetensors state dict into a timm model; CheckpointError names what does not fit."""
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path}: image-encoder weights not found")
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    missing, unexpected = vit.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("head")]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the timm model ({len(missing)} missing e.g. {missing[:2]}, "
            f"{len(unexpected)} unexpected e.g. {unexpected[:2]})"
        )


def build_image_encoder(config: EncoderConfig, token_dim: int) -> nn.Module:
    if config.kind == "conv":
        return ConvImageEncoder(config, token_dim)
    if config.kind == "timm":
        return TimmImageEncoder(config, token_dim)
    raise CheckpointError(f"unknown image encoder kind {config.kind!r} (expected 'conv' or 'timm')")
