"""`ShapeNet`: framed photo -> two depth layers, a confidence and the camera elevation.

Input  [B, 6, R, R]: RGB composited on white and alpha, both in [-1, 1], plus the pixel's image
       coordinates (x, y) in [-1, 1] (the camera contract fixes the intrinsics, so a pixel's position
       says where its ray goes: depth is regressed in absolute, metric units).
Output `ShapePrediction` at R x R:
    front = ORBIT_RADIUS + DEPTH_RANGE * tanh(h0)       camera z of the first surface
    back  = front + THICKNESS_SCALE * softplus(h1)      never in front of the front layer
    log_b = h2 (clamped)                                Laplace scale of the back layer's error
    elevation = ELEV_MEAN + ELEV_SCALE * g              from the pooled bottleneck, degrees
The parameterisation says what the photo cannot: the back is a THICKNESS behind the front.

A plain residual U-Net (GroupNorm, SiLU, stride-2 convs down, nearest-neighbour up + skip
concatenation): small enough to train on two CPU cores. `mid_blocks` adds (residual block, global
self-attention) pairs at the bottleneck, where a pixel's depth can depend on the whole object (the back
legs of a chair on its seat): capacity at a few hundred tokens' cost. Their last layers start at zero,
so each starts as the identity and a trained network GROWS into a larger one unchanged
(`ShapeNet.load_grown`), then trains on. Under bf16 autocast (LoopConfig.precision) the
heads still run in fp32: bf16 resolves camera z near 3.2 only to 0.016.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from img2gs.cameras import ORBIT_RADIUS
from img2gs.shape.config import ShapeNetConfig

DEPTH_RANGE = 1.25  # the framed object stays within radius 1.08 of the origin (data/config.py)
THICKNESS_SCALE = 0.5
ELEV_MEAN, ELEV_SCALE = 15.0, 25.0  # the training range of input elevations is [-10, 40]
LOG_B_RANGE = (-7.0, 2.0)


@dataclass(frozen=True)
class ShapePrediction:
    front: Tensor  # [B, R, R] camera z
    back: Tensor  # [B, R, R] camera z, >= front
    log_b: Tensor  # [B, R, R] log Laplace scale of the back error (lower = more confident)
    elevation: Tensor  # [B] degrees


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention2d(nn.Module):
    """Pre-norm multi-head self-attention over the H*W positions of a feature map, residual."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)  # [B, heads, H*W, C/heads]
        return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))


def zero_last_layer(block: nn.Module) -> nn.Module:
    """Start a residual block as the identity: its branch's last layer at zero."""
    last = block.conv2 if isinstance(block, ResBlock) else block.out
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    return block


class ShapeNet(nn.Module):
    IN_CHANNELS = 6

    def __init__(self, config: ShapeNetConfig):
        super().__init__()
        self.config = config
        torch.manual_seed(config.seed)
        c, g, n = config.channels, config.norm_groups, config.blocks_per_level
        self.stem = nn.Conv2d(self.IN_CHANNELS, c[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for level, width in enumerate(c):
            c_in = c[max(level - 1, 0)] if level else c[0]
            self.down.append(nn.Sequential(*[ResBlock(c_in if k == 0 else width, width, g) for k in range(n)]))
            if level < len(c) - 1:
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        self.up = nn.ModuleList()
        for level in range(len(c) - 2, -1, -1):
            self.up.append(nn.Sequential(*[ResBlock(c[level + 1] + c[level] if k == 0 else c[level], c[level], g)
                                           for k in range(n)]))
        self.head = nn.Sequential(nn.GroupNorm(g, c[0]), nn.SiLU(), nn.Conv2d(c[0], 3, 3, padding=1))
        self.elevation_head = nn.Sequential(nn.Linear(c[-1], 128), nn.SiLU(), nn.Linear(128, 1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.mid = nn.Sequential(*[zero_last_layer(m) for _ in range(config.mid_blocks)
                                   for m in (ResBlock(c[-1], c[-1], g), SelfAttention2d(c[-1], config.attention_heads, g))])

    def forward(self, x: Tensor) -> ShapePrediction:
        """x [B, 6, R, R] (see `encode_input`)."""
        h = self.stem(x)
        skips = []
        for level, block in enumerate(self.down):
            h = block(h)
            if level < len(self.downsample):
                skips.append(h)
                h = self.downsample[level](h)
        h = self.mid(h)
        with torch.autocast(device_type=x.device.type, enabled=False):  # heads in fp32 (depth ~3.2 needs it)
            elevation = ELEV_MEAN + ELEV_SCALE * self.elevation_head(h.float().mean(dim=(2, 3)))[:, 0]
        for block in self.up:
            skip = skips.pop()
            h = block(torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="nearest"), skip], dim=1))
        with torch.autocast(device_type=x.device.type, enabled=False):
            out = self.head(h.float())  # [B, 3, R, R]
        front = ORBIT_RADIUS + DEPTH_RANGE * torch.tanh(out[:, 0])
        back = front + THICKNESS_SCALE * F.softplus(out[:, 1])
        return ShapePrediction(front, back, out[:, 2].clamp(*LOG_B_RANGE), elevation)


def grows_into(smaller: ShapeNetConfig, larger: ShapeNetConfig) -> bool:
    """Whether a `smaller` network's weights start a `larger` one: equal but for more middle blocks."""
    return replace(smaller, mid_blocks=0) == replace(larger, mid_blocks=0) and smaller.mid_blocks <= larger.mid_blocks


def load_grown(net: ShapeNet, smaller: ShapeNet) -> ShapeNet:
    """Load `smaller`'s weights into `net` (`grows_into(smaller.config, net.config)`): the extra middle
    blocks keep their identity start, so `net` computes what `smaller` does."""
    a, b = net.config, smaller.config
    if not grows_into(b, a):
        raise ValueError("a shape network grows only by middle blocks; the other settings must be equal")
    missing, unexpected = net.load_state_dict(smaller.state_dict(), strict=False)
    new = {f"mid.{i}." for i in range(2 * b.mid_blocks, 2 * a.mid_blocks)}
    if unexpected or any(not any(key.startswith(prefix) for prefix in new) for key in missing):
        raise ValueError(f"unexpected weights when growing a shape network: {unexpected or missing}")
    return net


def encode_input(photos: Tensor) -> Tensor:
    """Photos [B, R, R, 4] in [0, 1] (straight alpha) -> network input [B, 6, R, R]."""
    b, r = photos.shape[0], photos.shape[1]
    alpha = photos[..., 3:4]
    on_white = photos[..., :3] * alpha + (1.0 - alpha)
    coords = (torch.arange(r, dtype=photos.dtype, device=photos.device) + 0.5) / r * 2.0 - 1.0
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    grid = torch.stack([x, y], dim=-1).expand(b, r, r, 2)
    return torch.cat([on_white * 2.0 - 1.0, alpha * 2.0 - 1.0, grid], dim=-1).permute(0, 3, 1, 2).contiguous()
