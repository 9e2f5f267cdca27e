"""The order in which a trainer meets its training objects: a function of (seed, step) alone.

Objects come in a per-epoch permutation seeded by (seed, epoch), `batch_objects` per step, so a resumed
run sees exactly the objects the uninterrupted run would have seen, with no random state to save, and
every torchrun process draws the same global batch (distributed.py gives each its share).
"""

from __future__ import annotations

import torch
from torch import Tensor

from img2gs.errors import DataFormatError


class ObjectOrder:
    """Dataset indices of the objects of each step; `pool` (optional) restricts them to those indices."""

    def __init__(self, n_samples: int, batch_objects: int, seed: int, pool: list[int] | None = None):
        if n_samples == 0 or (pool is not None and not pool):
            raise DataFormatError("the training split has no samples")
        self.n, self.batch_objects, self.seed, self.pool = n_samples, batch_objects, seed, pool
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.long)

    def _permutation(self, epoch: int, n: int) -> Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._epoch, self._perm = epoch, torch.randperm(n, generator=g)
        return self._perm

    def object_indices(self, step: int) -> list[int]:
        n = self.n if self.pool is None else len(self.pool)
        positions = range(step * self.batch_objects, (step + 1) * self.batch_objects)
        drawn = [int(self._permutation(p // n, n)[p % n]) for p in positions]
        return drawn if self.pool is None else [self.pool[i] for i in drawn]
