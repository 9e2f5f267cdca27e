"""Distillation of the teacher into a few-step student: consistency distillation (Song et al. 2023, Alg. 2).

The student starts from the teacher's (EMA) weights with the consistency preconditioning (precond.py,
"consistency": f(x, sigma_min) = x), or, fine-tuning (`init`), from an earlier student's; the target
network theta^- is an EMA of the student with decay `distill.mu`; the teacher takes one Heun step per
sample (distill.consistency_distillation_loss). The discretisation (fixed / ict / progression) and the
distance (l2 / pseudo_huber / lpips) are options of `DistillConfig`.

Optional image-space terms against the ground-truth views, on the student's ONE-step prediction
f_theta(T z, T) (what the product uses):
    lambda_photo  * ||f - x0||^2                (mean over pixels)
    lambda_percep * LPIPS(f_rgb, x0_rgb) + alpha L2
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

import img2gs
from img2gs.device import autocast, training_layout
from img2gs.errors import CheckpointError, PresetError
from img2gs.presets import to_dict
from img2gs.training.distributed import Shard
from img2gs.training.ema import ema_update
from img2gs.training.loop import TrainResult, run_training, start_fresh
from img2gs.viewgen.batches import BatchSampler, check_proxies, relative_to
from img2gs.viewgen.checkpoint import CheckpointInfo, load_checkpoint, read_checkpoint_info
from img2gs.viewgen.config import DistillTrainConfig, ModelConfig
from img2gs.viewgen.distill import DistillConfig, consistency_distillation_loss, make_distance
from img2gs.viewgen.loss import LPIPSDistance, l2_distance
from img2gs.viewgen.network import ViewGenNet, null_condition
from img2gs.viewgen.precond import Denoiser

# LPIPS (img2gs.lpips) needs images of at least 32 px; smaller views are upsampled to this side for it.
LPIPS_MIN_SIDE = 64


def per_object(distance: Callable[[Tensor, Tensor], Tensor]) -> Callable[[Tensor, Tensor], Tensor]:
    """A per-image distance on [N, C, H, W] -> [N] as a per-object one on [B, V, C, H, W] -> [B] (mean over V)."""

    def d(a: Tensor, b: Tensor) -> Tensor:
        bsz, views = a.shape[:2]
        return distance(a.flatten(0, 1), b.flatten(0, 1)).view(bsz, views).mean(1)

    return d


def object_distance(cfg: DistillConfig, lpips_side: int) -> Callable[[Tensor, Tensor], Tensor]:
    """The distillation distance on object samples [B, V, 4, H, W]: l2 and pseudo-Huber see a whole object
    as one vector (as DistillConfig defines them); LPIPS is taken per view at `lpips_side` pixels (not the
    paper's 224: ~50x cheaper at our 32 px, which matters on a CPU) and averaged over the views."""
    if cfg.distance == "lpips":
        return per_object(LPIPSDistance(resolution=lpips_side))
    return make_distance(cfg)


class DistillTask:
    """Consistency distillation of a ViewGenNet (a `TrainTask` for training_loop.run_training)."""

    def __init__(self, config: DistillTrainConfig, teacher_net: torch.nn.Module, model: ModelConfig,
                 sampler: BatchSampler, device: torch.device, provenance: dict | None = None,
                 shard: Shard = Shard(), init_net: torch.nn.Module | None = None):
        shard.check_batch(config.loop.batch_objects)
        self.shard = shard
        if config.distill.guidance_max is not None:
            raise PresetError("distill.guidance_max (guidance-conditioned students) is not supported by the "
                              "view-generator network; use a fixed distill.guidance")
        self.config, self.model_config, self.sampler, self.device = config, model, sampler, device
        self.cfg = dataclasses.replace(config.distill, sigma_min=model.sigma_min, sigma_max=model.sigma_max,
                                       sigma_data=model.sigma_data)
        teacher_net = training_layout(teacher_net.to(device), device).eval().requires_grad_(False)
        self.teacher = Denoiser(teacher_net, model.sigma_data, model.sigma_min, "edm")
        # fresh, so its trainable set is the network's own
        self.online = training_layout(ViewGenNet(model).to(device), device).train()
        self.online.load_state_dict((init_net if init_net is not None else teacher_net).state_dict())
        self.target = copy.deepcopy(self.online).eval().requires_grad_(False)
        self.ema = copy.deepcopy(self.online).eval().requires_grad_(False)
        self.student = Denoiser(shard.wrap(self.online), model.sigma_data, model.sigma_min, "consistency")
        self.target_fn = Denoiser(self.target, model.sigma_data, model.sigma_min, "consistency")
        lpips_side = max(LPIPS_MIN_SIDE, model.resolution)
        self.distance = object_distance(self.cfg, lpips_side)
        self.percep = per_object(LPIPSDistance(resolution=lpips_side)) if config.lambda_percep > 0 else None
        self.optimizer = torch.optim.AdamW([p for p in self.online.parameters() if p.requires_grad],
                                           lr=config.loop.lr, weight_decay=config.loop.weight_decay)
        self.provenance = provenance or {}

    def extra_modules(self) -> dict:
        return {"target": self.target}

    def loss(self, step: int, generator: torch.Generator) -> tuple[Tensor, dict]:
        with autocast(self.config.loop.precision, self.device):  # the networks in bf16; Denoiser returns fp32
            return self._loss(step, generator)

    def _loss(self, step: int, generator: torch.Generator) -> tuple[Tensor, dict]:
        batch = self.sampler.batch(step).to(self.device)
        cond = batch.cond()
        x0 = relative_to(batch.targets, batch.residual_base(self.model_config))  # a residual model's space
        loss, stats = consistency_distillation_loss(
            self.student, self.target_fn, self.teacher, x0, cond, null_condition(**cond), self.cfg,
            step, self.config.loop.steps, generator, distance=self.distance, shard=self.shard)
        logged = {"cd_loss": float(stats["loss"]), "N": int(stats["N"])}
        if self.config.lambda_photo > 0 or self.percep is not None:
            loss = loss + self._image_loss(x0, batch.residual_base(self.model_config), cond, generator, logged)
        return loss, logged

    def _image_loss(self, x0: Tensor, base: Tensor | None, cond: dict, generator: torch.Generator,
                    logged: dict) -> Tensor:
        """Image-space losses of the one-step prediction f_theta(T z, T) against the true views (x0 in the
        model's space, `base` added back for the images)."""
        T = self.cfg.sigma_max
        z = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)  # the whole batch's
        x0, z, base, cond = self.shard.take(x0), self.shard.take(z), self.shard.take(base), self.shard.take(cond)
        pred = self.student(z * T, T, **cond)  # [B / world, V, 4, H, W]
        if base is not None:
            pred, x0 = pred + base, x0 + base
        total = x0.new_zeros(())
        if self.config.lambda_photo > 0:
            photo = l2_distance(pred, x0).mean()
            logged["photo_loss"] = photo.item()
            total = total + self.config.lambda_photo * photo
        if self.percep is not None:
            percep = self.percep(pred, x0).mean()
            logged["percep_loss"] = percep.item()
            total = total + self.config.lambda_percep * percep
        return total

    def after_step(self, step: int) -> None:
        ema_update(self.target, self.online, self.cfg.mu)  # theta^- <- mu theta^- + (1 - mu) theta

    def checkpoint_info(self, step: int) -> CheckpointInfo:
        return CheckpointInfo(
            kind="student", model=self.model_config, sampling={"steps": self.config.sample_steps},
            provenance={**self.provenance, "step": step, "img2gs_version": img2gs.__version__,
                        "training": to_dict(self.config)},
        )


def check_student_init(init: str | Path, teacher_model: ModelConfig) -> None:
    """Raise CheckpointError unless `init` holds a student of `teacher_model`'s config (metadata only)."""
    init_info = read_checkpoint_info(init)
    if init_info.kind != "student":
        raise CheckpointError(f"{init}: --init needs a student checkpoint, this is a {init_info.kind}")
    if init_info.model != teacher_model:
        raise CheckpointError(f"{init}: --init needs a student of the teacher's model config; this one's differs")


def _init_record(run_dir: Path) -> dict:
    """{"init", "init_step"} of the run's checkpoint when it was started with `init`, else {}."""
    try:
        saved = read_checkpoint_info(run_dir).provenance
    except CheckpointError:  # no checkpoint yet: run_training reports that
        return {}
    return {k: saved[k] for k in ("init", "init_step") if k in saved}


def train_distill(config: DistillTrainConfig, teacher_dir: str | Path, dataset, run_dir: str | Path, *,
                  proxies=None, resume: bool = False, device: torch.device | str = "cpu", provenance: dict | None = None,
                  report: Callable[[int, dict], None] | None = None, shard: Shard = Shard(),
                  init: str | Path | None = None) -> TrainResult:
    """Distil the teacher checkpoint (or run folder) `teacher_dir` into a student in `run_dir` (`proxies`: a
    ProxyViewStore of `dataset`, for a proxy-conditioned teacher; `shard`: this process's under torchrun;
    `init`: a student checkpoint, run or model folder of the same model config whose weights a new run
    starts from instead of the teacher's: fine-tuning a shipped student on new proxies or a new teacher)."""
    run_dir, device = Path(run_dir), torch.device(device)
    teacher_net, info = load_checkpoint(teacher_dir, device)
    if info.kind != "teacher":
        raise CheckpointError(f"{teacher_dir}: a {info.kind} checkpoint cannot be distilled (need a teacher)")
    init_net = None
    if init is not None and not resume:
        check_student_init(init, info.model)
        init_net, init_info = load_checkpoint(init, device)
        provenance = {**(provenance or {}), "init": str(init), "init_step": init_info.provenance.get("step")}
    elif resume:  # a resumed run keeps the record of where it started
        provenance = {**(provenance or {}), **_init_record(run_dir)}
    sampler = BatchSampler(dataset, config.loop.batch_objects, config.loop.views_per_object,
                           info.model.resolution, config.loop.seed, proxies=check_proxies(info.model, proxies))
    provenance = {**(provenance or {}), "teacher": str(teacher_dir), "teacher_step": info.provenance.get("step")}
    task = DistillTask(config, teacher_net, info.model, sampler, device, provenance, shard, init_net)
    if not resume and shard.is_main:
        start_fresh(run_dir, config)
    shard.barrier()
    return run_training(task, config.loop, run_dir, resume=resume, report=report, shard=shard)
