"""Resolve a user's `--device auto|cpu|cuda[:N]` setting to a torch.device, and a training precision to
an autocast context, in one place."""

from __future__ import annotations

import contextlib

import torch

from img2gs.errors import Img2gsError


def resolve_device(name: str = "auto") -> torch.device:
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise Img2gsError(f"--device {name} was asked for, but torch sees no CUDA GPU (use --device cpu)")
        return torch.device(name)
    raise Img2gsError(f"unknown device {name!r}: expected auto, cpu or cuda[:N]")


PRECISIONS = ("fp32", "bf16")


def autocast(precision: str, device: torch.device):
    """The context a network's forward pass runs in for `precision`: "fp32" (no autocast) or "bf16"
    (torch.autocast to bfloat16 on `device`: matmuls and convolutions in bf16 with fp32 weights; on 2 CPU
    cores with AVX-512 BF16 a shape step is 1.6x, a teacher step 1.1x and a distillation step 1.3x as fast
    as in fp32, bench/train_precision.py). Losses stay outside it."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    raise Img2gsError(f"unknown precision {precision!r}: expected one of {', '.join(PRECISIONS)}")


def training_layout(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`module` in the memory layout its training runs fastest in on `device`: channels-last (NHWC) on
    CUDA, where cuDNN's convolutions (and bf16 tensor cores) want it; unchanged on the CPU. Checkpoints do
    not depend on it (save_weights writes contiguous tensors; loading copies into either layout)."""
    if device.type == "cuda":
        return module.to(memory_format=torch.channels_last)
    return module
