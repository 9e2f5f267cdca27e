"""Adaptive density control: a `Strategy` base (gsplat's interface) and 3DGS's `DefaultStrategy`.

A strategy holds only hyper-parameters; all mutable state (e.g. accumulated view-space gradients and
their counts) lives in the dict returned by `initialize_state` and is passed to every call:

    strategy.check_sanity(params, optimizers)
    state = strategy.initialize_state(scene_scale)
    for step in range(n):
        renders, alphas, meta = rasterize(...)
        strategy.step_pre_backward(params, optimizers, state, step, meta)   # e.g. retain means2d's grad
        loss.backward()
        strategy.step_post_backward(params, optimizers, state, step, meta)  # grow / prune / reset

Another strategy (gsplat's MCMC: relocation and noise instead of clone / split) plugs in by
subclassing `Strategy`; the fitter calls nothing else.

`DefaultStrategy` (Kerbl et al. 2023, Sec. 5, with gsplat's DefaultStrategy semantics): every
`refine_every` steps in (`refine_start_iter`, `refine_stop_iter`):
  * Gaussians whose mean screen-space gradient (in NDC units, i.e. pixels x 2 / image size) exceeds
    `grow_grad2d` are grown: small ones (max scale <= `grow_scale3d` x scene scale) are cloned, large
    ones are split into two children with scales / 1.6;
  * Gaussians with opacity < `prune_opa` are removed, and after the first opacity reset also those
    larger than `prune_scale3d` x scene scale.
Every `reset_every` steps (step > 0, before `refine_stop_iter`) opacities are clamped to 2 x
`prune_opa`. (gsplat v1.5.3 wrote that condition with a bitwise `&`, which silently disabled the
reset; tests/splat/test_strategy.py checks the step at which it happens.)

Differences from gsplat: no 2D-scale criteria, no "revised opacity", and an optional cap
`max_gaussians` (growth keeps the candidates with the largest gradients) to bound CPU cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from img2gs.splat.densify_ops import duplicate, remove, reset_opacities, split


@dataclass(frozen=True)
class Strategy:
    """The interface the fitter calls (gsplat's `Strategy`); subclasses add hyper-parameters as fields."""

    def initialize_state(self, scene_scale: float = 1.0) -> dict:
        return {"scene_scale": float(scene_scale)}

    def check_sanity(self, params: dict[str, Tensor], optimizers: dict) -> None:
        """Raise ValueError unless `params` are a Gaussian set the strategy can edit (once, before fitting)."""
        for name in ("means", "scales", "quats", "opacities"):
            if name not in params:
                raise ValueError(f"Strategy needs parameter {name!r}")
        n = params["means"].shape[0]
        if any(p.shape[0] != n for p in params.values()):
            raise ValueError("all parameters must have the same number of rows")
        if set(optimizers) - set(params):
            raise ValueError("optimizers must be keyed by parameter name")

    def step_pre_backward(self, params: dict[str, Tensor], optimizers: dict, state: dict, step: int,
                          meta: dict) -> None:
        """After the render, before loss.backward()."""

    def step_post_backward(self, params: dict[str, Tensor], optimizers: dict, state: dict, step: int,
                           meta: dict, generator: torch.Generator | None = None) -> dict[str, int]:
        """After the optimizer step: edit the set; returns counts of what it did."""
        raise NotImplementedError


@dataclass(frozen=True)
class DefaultStrategy(Strategy):
    prune_opa: float = 0.005  # prune Gaussians with opacity below this
    grow_grad2d: float = 0.0002  # grow Gaussians whose mean NDC gradient exceeds this
    grow_scale3d: float = 0.01  # clone if max scale <= this x scene_scale, else split
    prune_scale3d: float = 0.1  # prune (after the first reset) if max scale > this x scene_scale
    refine_start_iter: int = 500
    refine_stop_iter: int = 15_000
    refine_every: int = 100
    reset_every: int = 3000
    pause_refine_after_reset: int = 0  # skip refinement this many steps after a reset
    max_gaussians: int = 0  # 0 = unlimited

    def initialize_state(self, scene_scale: float = 1.0) -> dict:
        return {**super().initialize_state(scene_scale), "grad2d": None, "count": None}

    def step_pre_backward(self, params: dict[str, Tensor], optimizers: dict, state: dict, step: int,
                          meta: dict) -> None:
        """Keep the screen-space means' gradient (the growth criterion) through backward()."""
        if step < self.refine_stop_iter and meta["means2d"].requires_grad:
            meta["means2d"].retain_grad()

    @torch.no_grad()
    def step_post_backward(
        self,
        params: dict[str, Tensor],
        optimizers: dict[str, torch.optim.Optimizer],
        state: dict,
        step: int,
        meta: dict,
        generator: torch.Generator | None = None,
    ) -> dict[str, int]:
        """Accumulate gradient statistics, then grow / prune / reset when scheduled.

        Returns counts {"duplicated", "split", "pruned", "reset"} of what this step did.
        """
        done = {"duplicated": 0, "split": 0, "pruned": 0, "reset": 0}
        if step >= self.refine_stop_iter:
            return done
        self._update_state(params, state, meta)
        if self._is_refine_step(step):
            done["duplicated"], done["split"] = self._grow(params, optimizers, state, generator)
            done["pruned"] = self._prune(params, optimizers, state, step)
            state["grad2d"].zero_()
            state["count"].zero_()
        if self._is_reset_step(step):
            reset_opacities(params, optimizers, value=2.0 * self.prune_opa)
            done["reset"] = 1
        return done

    def _is_refine_step(self, step: int) -> bool:
        return (
            step > self.refine_start_iter
            and step % self.refine_every == 0
            and step % self.reset_every >= self.pause_refine_after_reset
        )

    def _is_reset_step(self, step: int) -> bool:
        return step > 0 and step % self.reset_every == 0

    def _update_state(self, params: dict[str, Tensor], state: dict, meta: dict) -> None:
        means2d = meta["means2d"]  # [C, N, 2]
        if means2d.grad is None:
            raise RuntimeError("meta['means2d'].grad is None: call step_pre_backward before loss.backward() and "
                               "step_post_backward after it")
        grads = means2d.grad.detach().clone()
        # Pixel gradients of a loss averaged over C cameras -> NDC units per camera (as gsplat).
        grads[..., 0] *= meta["width"] / 2.0 * meta["n_cameras"]
        grads[..., 1] *= meta["height"] / 2.0 * meta["n_cameras"]
        n = params["means"].shape[0]
        if state["grad2d"] is None or state["grad2d"].shape[0] != n:
            state["grad2d"] = torch.zeros(n, device=grads.device)
            state["count"] = torch.zeros(n, device=grads.device)
        visible = meta["radii"] > 0  # [C, N]
        gs_ids = torch.where(visible)[1]
        state["grad2d"].index_add_(0, gs_ids, grads[visible].norm(dim=-1))
        state["count"].index_add_(0, gs_ids, torch.ones_like(gs_ids, dtype=torch.float32))

    def _grow(self, params: dict, optimizers: dict, state: dict, generator: torch.Generator | None) -> tuple[int, int]:
        grads = state["grad2d"] / state["count"].clamp_min(1.0)
        is_grad_high = grads > self.grow_grad2d
        if self.max_gaussians > 0:
            is_grad_high = self._cap_growth(is_grad_high, grads, params, state)
        is_small = torch.exp(params["scales"]).max(dim=-1).values <= self.grow_scale3d * state["scene_scale"]
        is_dupli = is_grad_high & is_small
        is_split = is_grad_high & ~is_small
        n_dupli, n_split = int(is_dupli.sum()), int(is_split.sum())
        if n_dupli > 0:
            duplicate(params, optimizers, state, is_dupli)
        is_split = torch.cat([is_split, torch.zeros(n_dupli, dtype=torch.bool, device=is_split.device)])
        if n_split > 0:
            split(params, optimizers, state, is_split, generator=generator)
        return n_dupli, n_split

    def _cap_growth(self, candidates: Tensor, grads: Tensor, params: dict, state: dict) -> Tensor:
        """Keep the highest-gradient candidates so that growth adds at most max_gaussians - N rows
        (a clone or a split each add one Gaussian)."""
        room = max(self.max_gaussians - params["means"].shape[0], 0)
        if int(candidates.sum()) <= room:
            return candidates
        ranked = torch.where(candidates, grads, torch.full_like(grads, -1.0))
        keep = torch.zeros_like(candidates)
        keep[torch.topk(ranked, room).indices] = True
        return keep & candidates

    def _prune(self, params: dict, optimizers: dict, state: dict, step: int) -> int:
        is_prune = torch.sigmoid(params["opacities"].flatten()) < self.prune_opa
        if step > self.reset_every:
            too_big = torch.exp(params["scales"]).max(dim=-1).values > self.prune_scale3d * state["scene_scale"]
            is_prune = is_prune | too_big
        n_prune = int(is_prune.sum())
        if n_prune > 0:
            remove(params, optimizers, state, is_prune)
        return n_prune
