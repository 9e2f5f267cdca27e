"""The training loop every trainer shares (shape stage, teacher, distillation), and its resumable state.

A trainer is a `TrainTask`: it owns its networks and optimizer and computes one step's loss; this file
owns everything around it (learning-rate warm-up, gradient clipping, EMA, logging, checkpoints,
signals). Run folder layout:

    <run>/training_options.json      the resolved config of the run (written first)
    <run>/log.jsonl                  one JSON line per logged step
    <run>/checkpoint/                written atomically (temp folder + rename) every K steps, at the
        config.json                  end, and on SIGINT / SIGTERM; a loadable model checkpoint
        model.safetensors            (EMA weights) plus what --resume needs:
        train_state.safetensors      online weights, optimizer moments, extra networks (e.g. the
                                     consistency target), one tensor each
        train_state.json             step counter, optimizer hyper-parameters, elapsed time

There is no random state to save: every step draws from `step_generator(seed, step)`, and the data
order is a function of (seed, step) too (sampler.py), so a resumed run reproduces the uninterrupted one.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from torch import Tensor, nn

from img2gs.atomic import atomic_directory
from img2gs.errors import CheckpointError, PresetError
from img2gs.presets import from_dict, save_config
from img2gs.training.config import LoopConfig
from img2gs.training.distributed import Shard
from img2gs.training.ema import ema_update
from img2gs.training.weights import (
    RUN_CHECKPOINT_SUBDIR,
    CheckpointConfig,
    load_state_into,
    load_weights,
    save_weights,
    write_checkpoint,
)

STATE_TENSORS = "train_state.safetensors"
STATE_JSON = "train_state.json"
OPTIONS_FILE = "training_options.json"
LOG_FILE = "log.jsonl"


class TrainTask(Protocol):
    """What a trainer provides to `run_training`."""

    online: nn.Module  # the backbone being optimised
    ema: nn.Module  # its exponential moving average (written as model.safetensors)
    optimizer: torch.optim.Optimizer

    def extra_modules(self) -> dict[str, nn.Module]:
        """Further networks whose weights a resume needs (e.g. the consistency target)."""

    def loss(self, step: int, generator: torch.Generator) -> tuple[Tensor, dict[str, float]]:
        """Scalar loss of training step `step` (0-based) and numbers to log."""

    def after_step(self, step: int) -> None:
        """Called after the optimizer step (e.g. update the consistency target)."""

    def checkpoint_info(self, step: int) -> CheckpointConfig:
        """config.json contents for a checkpoint at `step` completed steps."""


@dataclass
class TrainResult:
    step: int  # completed steps
    interrupted: bool  # stopped by SIGINT / SIGTERM (a checkpoint was written)
    last_stats: dict
    checkpoint_dir: Path


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator of one training step: a function of (seed, step) only."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + 104_729 * step + 17)


def learning_rate(config: LoopConfig, step: int) -> float:
    """Linear warm-up to config.lr, then constant (EDM's schedule; `lr_final_ratio` 1) or a half-cosine
    from config.lr down to config.lr x `lr_final_ratio` at the last step."""
    warmup = max(1, config.warmup_steps)
    if step + 1 < warmup or config.lr_final_ratio == 1.0:
        return config.lr * min(1.0, (step + 1) / warmup)
    progress = min(1.0, (step + 1 - warmup) / max(1, config.steps - warmup))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return config.lr * (config.lr_final_ratio + (1.0 - config.lr_final_ratio) * cosine)


def ema_decay(config: LoopConfig, step: int) -> float:
    """Per-step EMA decay from a half-life in steps, ramped up early as in EDM's training loop."""
    halflife = min(config.ema_halflife_steps, config.ema_rampup_ratio * (step + 1))
    return 0.5 ** (1.0 / max(halflife, 1e-8))


class StopRequest:
    """Turns the first SIGINT / SIGTERM into a flag the loop checks after each step (a second SIGINT
    interrupts at once). Handlers are installed only in the main thread and restored on exit."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def run_training(task: TrainTask, config: LoopConfig, run_dir: Path, resume: bool = False,
                 report: Callable[[int, dict], None] | None = None, shard: Shard = Shard()) -> TrainResult:
    """Train `task` from its current state (or the run folder's checkpoint with `resume`) to config.steps.
    Under torchrun (`shard`, distributed.py) the task's loss is its shard's, DDP averages the gradients,
    the logged numbers are averaged over the processes and rank 0 alone writes."""
    start = load_training_state(task, run_dir) if resume else 0
    params = [p for p in task.online.parameters() if p.requires_grad]
    stats: dict = {}
    with StopRequest() as stop:
        step = start
        t_last, step_last = time.perf_counter(), start
        stopping = False
        while step < config.steps and not stopping:
            for group in task.optimizer.param_groups:
                group["lr"] = learning_rate(config, step)
            loss, stats = task.loss(step, step_generator(config.seed, step, _device_of(task.online)))
            task.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            if torch.isfinite(grad_norm):
                task.optimizer.step()
            ema_update(task.ema, task.online, ema_decay(config, step))
            task.after_step(step)
            step += 1
            stats = {"step": step, "loss": loss.item(), "grad_norm": float(grad_norm),
                     "lr": learning_rate(config, step - 1), **stats}
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                stats = {k: shard.mean(v) if isinstance(v, float) else v for k, v in stats.items()}
                stats["it_per_s"] = (step - step_last) / max(now - t_last, 1e-9)
                t_last, step_last = now, step
                if shard.is_main:
                    _append_log(run_dir, stats)
            if report is not None and shard.is_main:
                report(step, stats)
            stopping = shard.any_rank(stop.requested)  # every process stops after the same step
            if step % config.checkpoint_every == 0 or step == config.steps or stopping:
                if shard.is_main:
                    save_training_state(task, run_dir, step)
                shard.barrier()  # nobody runs ahead of (or resumes before) the checkpoint
    return TrainResult(step=step, interrupted=stopping and step < config.steps, last_stats=stats,
                       checkpoint_dir=run_dir / RUN_CHECKPOINT_SUBDIR)


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def _append_log(run_dir: Path, stats: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in stats.items()})
    with open(run_dir / LOG_FILE, "a") as f:
        f.write(line + "\n")


def start_fresh(run_dir: Path, config) -> None:
    """Begin a new run in `run_dir`: drop a previous run's checkpoint and log, write the resolved config."""
    shutil.rmtree(run_dir / RUN_CHECKPOINT_SUBDIR, ignore_errors=True)
    (run_dir / LOG_FILE).unlink(missing_ok=True)
    save_config(config, run_dir / OPTIONS_FILE)


def load_run_config(run_dir: Path, cls: type):
    """The resolved config a run was started with (`<run>/training_options.json`), for --resume."""
    path = Path(run_dir) / OPTIONS_FILE
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read the run's config ({e})") from None
    try:
        return from_dict(cls, values, where=str(path))
    except (PresetError, TypeError) as e:
        raise CheckpointError(f"{path}: not a {cls.__name__} ({e})") from None


# --- resumable state ------------------------------------------------------------------------------


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict]:
    """Optimizer state as flat tensors ("optim.<param>.<key>") plus the JSON-able rest."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_training_state(task: TrainTask, run_dir: Path, step: int) -> Path:
    """Write `<run>/checkpoint/` atomically: model checkpoint (EMA) + everything --resume needs."""
    target = run_dir / RUN_CHECKPOINT_SUBDIR
    with atomic_directory(target) as tmp:
        write_checkpoint(tmp, task.ema, task.checkpoint_info(step))
        optim_tensors, optim_meta = _optimizer_tensors(task.optimizer)
        tensors = {f"online.{k}": v for k, v in task.online.state_dict().items()}
        for name, module in task.extra_modules().items():
            tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
        tensors.update(optim_tensors)
        save_weights(tmp / STATE_TENSORS, tensors)
        meta = {"step": step, "optimizer": optim_meta, "saved_at": time.time()}
        (tmp / STATE_JSON).write_text(json.dumps(meta, indent=2) + "\n")
    return target


def _checkpoint_folder(run_dir: Path) -> Path:
    """`<run>/checkpoint`, or the backup a kill between atomic_directory's two renames left behind."""
    folder = run_dir / RUN_CHECKPOINT_SUBDIR
    if folder.is_dir():
        return folder
    backups = sorted(run_dir.glob(f".{RUN_CHECKPOINT_SUBDIR}.old-*"))
    if backups:
        shutil.move(str(backups[-1]), folder)
        return folder
    raise CheckpointError(f"{run_dir}: nothing to resume (no {RUN_CHECKPOINT_SUBDIR}/ folder)")


def load_training_state(task: TrainTask, run_dir: Path) -> int:
    """Restore online / EMA / extra weights and optimizer moments; returns the completed step count."""
    folder = _checkpoint_folder(run_dir)
    try:
        meta = json.loads((folder / STATE_JSON).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{folder / STATE_JSON}: cannot read training state ({e})") from None
    tensors = load_weights(folder / STATE_TENSORS)
    load_state_into(task.ema, load_weights(folder / "model.safetensors"), folder / "model.safetensors")
    modules = {"online": task.online, **task.extra_modules()}
    for name, module in modules.items():
        prefix = f"{name}."
        load_state_into(module, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)},
                        folder / STATE_TENSORS)
    try:
        _restore_optimizer(task.optimizer, tensors, meta["optimizer"])
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{folder}: optimizer state does not fit ({e})") from None
    return int(meta["step"])
