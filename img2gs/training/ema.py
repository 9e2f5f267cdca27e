"""Exponential moving average of network weights.

Consistency models (Song et al. 2023, Alg. 2 / 3) keep a target network theta^- updated as
theta^- <- stopgrad(mu theta^- + (1 - mu) theta); the same update with mu close to 1 gives the
averaged weights used for sampling.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def ema_update(target: torch.nn.Module, online: torch.nn.Module, mu: float) -> None:
    """theta^- <- mu theta^- + (1 - mu) theta for every parameter; buffers are copied from `online`.

    Both modules must have the same parameter and buffer names and shapes (a deep copy of one another).
    mu = 0 copies the online weights; mu = 1 leaves the target unchanged.
    """
    if not 0.0 <= mu <= 1.0:
        raise ValueError(f"EMA decay mu must be in [0, 1], got {mu}")
    online_params = dict(online.named_parameters())
    target_params = dict(target.named_parameters())
    if online_params.keys() != target_params.keys():
        raise ValueError("EMA target and online networks have different parameters")
    names = list(target_params)
    targets = [target_params[k] for k in names]
    onlines = [online_params[k].detach().to(target_params[k].dtype) for k in names]
    if targets:
        torch._foreach_lerp_(targets, onlines, 1.0 - mu)  # one fused kernel per dtype/device group
    online_buffers = dict(online.named_buffers())
    for name, b_target in target.named_buffers():
        b_target.copy_(online_buffers[name])
