"""Teacher training: a conditional multi-view diffusion model trained with EDM's loss.

Karras et al. 2022: EDM preconditioning (precond.Denoiser, "edm"), ln(sigma) ~ N(P_mean, P_std^2),
loss weighting lambda(sigma) (loss.EDMLoss); AdamW, linear warm-up, gradient clipping, EMA of the
weights (training_loop.py). One sample is one object: its V target views share sigma. Photo, pose and proxy
are dropped together with probability `cond_dropout` so that classifier-free guidance (Ho & Salimans
2022) is available at sampling time.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

import img2gs
from img2gs.device import autocast, training_layout
from img2gs.presets import to_dict
from img2gs.training.distributed import Shard
from img2gs.training.loop import TrainResult, run_training, start_fresh
from img2gs.viewgen.batches import BatchSampler, check_proxies, relative_to
from img2gs.viewgen.checkpoint import CheckpointInfo
from img2gs.viewgen.config import TeacherTrainConfig
from img2gs.viewgen.loss import EDMLoss
from img2gs.viewgen.network import ViewGenNet, drop_condition
from img2gs.viewgen.precond import Denoiser


class TeacherTask:
    """EDM training of a ViewGenNet (a `TrainTask` for training_loop.run_training)."""

    def __init__(self, config: TeacherTrainConfig, sampler: BatchSampler, device: torch.device,
                 provenance: dict | None = None, shard: Shard = Shard()):
        shard.check_batch(config.loop.batch_objects)
        self.config, self.sampler, self.device, self.shard = config, sampler, device, shard
        self.online = training_layout(ViewGenNet(config.model).to(device), device).train()
        self.ema = copy.deepcopy(self.online).eval().requires_grad_(False)
        self.denoiser = Denoiser(shard.wrap(self.online), config.model.sigma_data, config.model.sigma_min, "edm")
        self.loss_fn = EDMLoss(config.p_mean, config.p_std, config.model.sigma_data)
        self.optimizer = torch.optim.AdamW([p for p in self.online.parameters() if p.requires_grad],
                                           lr=config.loop.lr, weight_decay=config.loop.weight_decay)
        self.provenance = provenance or {}

    def extra_modules(self) -> dict:
        return {}

    def loss(self, step: int, generator: torch.Generator) -> tuple[Tensor, dict]:
        batch = self.sampler.batch(step).to(self.device)
        cond = drop_condition(batch.cond(), self.config.cond_dropout, generator)
        x0 = relative_to(batch.targets, batch.residual_base(self.config.model))  # the proxy stays the base
        with autocast(self.config.loop.precision, self.device):  # the backbone in bf16; EDM's maths in fp32
            per_object = self.loss_fn(self.denoiser, x0, cond, generator, self.shard)  # [B / world]
        return per_object.mean(), {}

    def after_step(self, step: int) -> None:
        pass

    def checkpoint_info(self, step: int) -> CheckpointInfo:
        return CheckpointInfo(
            kind="teacher", model=self.config.model,
            sampling={"steps": self.config.sample_steps, "guidance": self.config.sample_guidance},
            provenance={**self.provenance, "step": step, "img2gs_version": img2gs.__version__,
                        "training": to_dict(self.config)},
        )


def train_teacher(config: TeacherTrainConfig, dataset, run_dir: str | Path, *, proxies=None, resume: bool = False,
                  device: torch.device | str = "cpu", provenance: dict | None = None,
                  report: Callable[[int, dict], None] | None = None, shard: Shard = Shard()) -> TrainResult:
    """Train (or, with `resume`, continue) a teacher on `dataset` (a ViewDataset) into `run_dir`;
    `proxies` (a ProxyViewStore of `dataset`) is needed by a proxy-conditioned model. Under torchrun,
    `shard` is this process's (distributed.py)."""
    run_dir = Path(run_dir)
    device = torch.device(device)
    sampler = BatchSampler(dataset, config.loop.batch_objects, config.loop.views_per_object,
                           config.model.resolution, config.loop.seed, proxies=check_proxies(config.model, proxies))
    task = TeacherTask(config, sampler, device, provenance, shard)
    if not resume and shard.is_main:
        start_fresh(run_dir, config)
    shard.barrier()
    return run_training(task, config.loop, run_dir, resume=resume, report=report, shard=shard)
