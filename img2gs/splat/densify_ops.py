"""Adding and removing Gaussians while keeping the optimisers' moments aligned (gsplat's strategy/ops.py).

Every operation rewrites, row for row, three things together:
  * the parameters in `params` (name -> leaf tensor; each is replaced by a new `nn.Parameter`),
  * the per-parameter Adam state in `optimizers` (name -> optimiser over that one parameter):
    moments of kept rows move with their rows, new rows start with zero moments,
  * the per-Gaussian tensors of the strategy's `state` (first dimension N).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from img2gs.splat.projection import quat_to_rotmat

SPLIT_SCALE_DIVISOR = 1.6  # children of a split are this much smaller (3DGS, Kerbl et al. 2023, Sec. 5.2)


@torch.no_grad()
def _rewrite(
    params: dict[str, Tensor],
    optimizers: dict[str, torch.optim.Optimizer],
    param_fn: Callable[[str, Tensor], Tensor],
    moment_fn: Callable[[Tensor], Tensor],
    names: list[str] | None = None,
) -> None:
    """Replace `params[name]` by `param_fn(name, old)` and each Adam moment `m` by `moment_fn(m)`."""
    for name in names or list(params):
        old = params[name]
        new = torch.nn.Parameter(param_fn(name, old), requires_grad=old.requires_grad)
        params[name] = new
        optimizer = optimizers.get(name)
        if optimizer is None:
            continue
        for group in optimizer.param_groups:
            if not any(p is old for p in group["params"]):
                continue
            moments = optimizer.state.pop(old, {})
            for key, value in moments.items():
                if key != "step":
                    moments[key] = moment_fn(value)
            group["params"] = [new if p is old else p for p in group["params"]]
            if moments:
                optimizer.state[new] = moments


def _rewrite_state(state: dict, fn: Callable[[Tensor], Tensor]) -> None:
    for key, value in state.items():
        if isinstance(value, Tensor):
            state[key] = fn(value)


def _zeros_like_rows(v: Tensor, n: int) -> Tensor:
    return torch.zeros((n, *v.shape[1:]), dtype=v.dtype, device=v.device)


def duplicate(params: dict[str, Tensor], optimizers: dict, state: dict, mask: Tensor) -> None:
    """Append a copy of each Gaussian selected by `mask` [N] (the 'clone' of small Gaussians)."""
    sel = torch.where(mask)[0]
    _rewrite(params, optimizers, lambda _, p: torch.cat([p, p[sel]]),
             lambda v: torch.cat([v, _zeros_like_rows(v, len(sel))]))
    _rewrite_state(state, lambda v: torch.cat([v, v[sel]]))


def split(
    params: dict[str, Tensor], optimizers: dict, state: dict, mask: Tensor,
    generator: torch.Generator | None = None,
) -> None:
    """Replace each Gaussian selected by `mask` [N] by two children sampled from it, with scales
    divided by `SPLIT_SCALE_DIVISOR`. Kept Gaussians come first, then the 2 x n children."""
    sel, rest = torch.where(mask)[0], torch.where(~mask)[0]
    scales = torch.exp(params["scales"][sel])  # [S, 3]
    rotmats = quat_to_rotmat(params["quats"][sel])  # [S, 3, 3]
    noise = torch.randn(2, len(sel), 3, generator=generator).to(scales)
    offsets = torch.einsum("nij,nj,bnj->bni", rotmats, scales, noise)  # [2, S, 3]

    def param_fn(name: str, p: Tensor) -> Tensor:
        if name == "means":
            children = (p[sel] + offsets).reshape(-1, 3)
        elif name == "scales":
            children = torch.log(scales / SPLIT_SCALE_DIVISOR).repeat(2, 1)
        else:
            children = p[sel].repeat(2, *[1] * (p.dim() - 1))
        return torch.cat([p[rest], children])

    _rewrite(params, optimizers, param_fn, lambda v: torch.cat([v[rest], _zeros_like_rows(v, 2 * len(sel))]))
    _rewrite_state(state, lambda v: torch.cat([v[rest], v[sel].repeat(2, *[1] * (v.dim() - 1))]))


def remove(params: dict[str, Tensor], optimizers: dict, state: dict, mask: Tensor) -> None:
    """Delete the Gaussians selected by `mask` [N]."""
    keep = torch.where(~mask)[0]
    _rewrite(params, optimizers, lambda _, p: p[keep], lambda v: v[keep])
    _rewrite_state(state, lambda v: v[keep])


def reset_opacities(params: dict[str, Tensor], optimizers: dict, value: float) -> None:
    """Clamp every opacity to at most `value` and zero the opacity optimiser's moments (3DGS)."""
    max_logit = float(torch.logit(torch.tensor(value)))
    _rewrite(params, optimizers, lambda _, p: p.clamp(max=max_logit), torch.zeros_like, names=["opacities"])
