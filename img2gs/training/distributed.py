"""Data-parallel training under `torchrun` (torch DDP): which share of each global batch a process takes.

    torchrun --nproc-per-node N -m img2gs train teacher ...      (the same command, N processes)

Every process builds the WHOLE batch of step `step` and draws every random number of that step for the
whole batch (they are functions of (seed, step): training_loop.step_generator, batches.BatchSampler), then
keeps its `Shard` of the objects for the network passes. DDP averages the gradients of the N equal
shards, which is the gradient of the whole batch's mean loss: the run does not depend on N (up to the
order of floating-point sums), and a checkpoint written by N processes resumes in any other number.
Building the whole batch N times costs data loading, not network time.

Rank 0 alone writes checkpoints and logs; a stop request (SIGINT / SIGTERM) is agreed across the
processes every step (`any_rank`), so that all of them stop after the same step and nobody waits
forever for a gradient. Backend: NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from img2gs.errors import PresetError


@dataclass(frozen=True)
class Shard:
    """Process `rank` of `world`: it takes objects [rank B / world, (rank + 1) B / world) of a batch of B."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def check_batch(self, batch_objects: int) -> None:
        if batch_objects % self.world:
            raise PresetError(f"a batch of {batch_objects} objects cannot be split over {self.world} processes: "
                              f"choose a batch_objects divisible by the process count")

    def take(self, x):
        """This process's share of `x` along dim 0: a tensor [B, ...], a dict of them, or a per-batch
        scalar (returned as it is)."""
        if isinstance(x, dict):
            return {k: self.take(v) for k, v in x.items()}
        if not isinstance(x, Tensor) or x.ndim == 0 or self.world == 1:
            return x
        n = x.shape[0] // self.world
        return x[self.rank * n:(self.rank + 1) * n]

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` in DistributedDataParallel when distributed (gradients averaged over the processes)."""
        if not self.distributed:
            return module
        device = next(module.parameters()).device
        return nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)

    def mean(self, value: float) -> float:
        """The mean of a per-process number over the processes (what one process would log)."""
        if not self.distributed:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(t)
        return float(t) / self.world

    def any_rank(self, flag: bool) -> bool:
        """True on every process when `flag` is true on any of them."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=_collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t > 0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def shard_from_env() -> Shard:
    """The process's shard under torchrun (RANK / WORLD_SIZE set): joins the process group. One process
    (no torchrun, or WORLD_SIZE 1): Shard(0, 1) and no process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Shard()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return Shard(rank=dist.get_rank(), world=dist.get_world_size())


def process_device(requested: torch.device) -> torch.device:
    """The device this process trains on: its own GPU (LOCAL_RANK) under torchrun on CUDA."""
    if requested.type == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return requested


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
