"""Reading a built dataset: `ViewDataset(folder, split)`, a torch Dataset over its samples.

Shards are memory-mapped (safetensors) and read one sample at a time, so a dataset larger than RAM
works; handles are opened lazily in each process, so the dataset can go to DataLoader workers. Every
shard's header is checked against meta.json when the dataset is opened (DataFormatError), so a corrupt,
truncated or mismatched shard stops a command before any work.
"""

from __future__ import annotations

import bisect
import os
from pathlib import Path

import torch
from safetensors import safe_open
from torch import Tensor

from img2gs.data.shards import SPLITS, ShardHeader, read_meta, read_shard_header
from img2gs.errors import DataFormatError


class ViewDataset(torch.utils.data.Dataset):
    """Samples of one split. Item i is a dict:
        images     float32 [V, H, W, 4] in [0, 1], straight alpha; view 0 is the input view
        poses      float32 [V, 3] (elevation, azimuth, radius), degrees
        depth      float32 [2, H, W] camera z of the first / last surface of view 0, 0 = miss
                   (only in datasets that have it: `has_depth`)
        object_id  str
    """

    def __init__(self, folder: str | os.PathLike, split: str = "train"):
        if split not in SPLITS:
            raise DataFormatError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
        self.folder = Path(folder)
        self.meta = read_meta(self.folder)
        self.split = split
        self.paths = [self.folder / name for name in self.meta["shards"].get(split, [])]
        missing = [p.name for p in self.paths if not p.is_file()]
        if missing:
            raise DataFormatError(f"{self.folder}: missing shard(s) {', '.join(missing)}")
        self.object_ids: list[str] = []
        self._starts: list[int] = []
        self.has_depth = bool(self.paths)  # every shard holds the depth layers (dataset format 2)
        for path in self.paths:
            header = self._checked_header(path)
            self._starts.append(len(self.object_ids))
            self.object_ids += header.object_ids
            self.has_depth &= header.has_depth
        self._handles: dict[int, object] = {}

    def _checked_header(self, path: Path) -> ShardHeader:
        """The shard's header, its views and resolution those of meta.json."""
        header = read_shard_header(path)
        expected = (self.views_per_sample, self.resolution, self.resolution)
        if (header.views, header.height, header.width) != expected:
            raise DataFormatError(f"{path}: {header.views} views of {header.width}x{header.height} per sample, "
                                  f"but meta.json says {expected[0]} of {expected[1]}x{expected[1]}")
        return header

    @property
    def resolution(self) -> int:
        return int(self.meta["resolution"])

    @property
    def views_per_sample(self) -> int:
        return int(self.meta["views_per_sample"])

    def __len__(self) -> int:
        return len(self.object_ids)

    def __getitem__(self, index: int) -> dict[str, Tensor | str]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        shard, local = self.locate(index)
        handle = self._handle(shard)
        images = handle.get_slice("images")[local].float() / 255.0  # [V, H, W, 4]
        poses = handle.get_slice("poses")[local].float()  # [V, 3]
        item = {"images": images, "poses": poses, "object_id": self.object_ids[index]}
        if self.has_depth:
            item["depth"] = handle.get_slice("depth")[local].float()  # [2, H, W]
        return item

    def locate(self, index: int) -> tuple[int, int]:
        """(shard, index within the shard) of sample `index`."""
        index %= len(self)
        shard = bisect.bisect_right(self._starts, index) - 1
        return shard, index - self._starts[shard]

    def shard_range(self, shard: int) -> range:
        """The sample indices held by shard `shard`."""
        end = self._starts[shard + 1] if shard + 1 < len(self._starts) else len(self)
        return range(self._starts[shard], end)

    def _handle(self, shard: int):
        if shard not in self._handles:
            self._handles[shard] = safe_open(str(self.paths[shard]), framework="pt")
        return self._handles[shard]

    def __getstate__(self) -> dict:  # handles are per process
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state


class ViewDatasets(torch.utils.data.Dataset):
    """Several built datasets read as one, one after the other (e.g. two builds with different seeds: more
    objects and views than one build's time allows). Their views per sample and resolutions must agree."""

    def __init__(self, parts: list[ViewDataset]):
        if not parts:
            raise DataFormatError("no dataset given")
        shape = lambda d: (d.views_per_sample, d.resolution)  # noqa: E731
        for part in parts[1:]:
            if shape(part) != shape(parts[0]):
                raise DataFormatError(f"{part.folder}: {part.views_per_sample} views at {part.resolution} px, but "
                                      f"{parts[0].folder} has {parts[0].views_per_sample} at {parts[0].resolution} px")
        self.parts, self.folder, self.split = parts, parts[0].folder, parts[0].split
        self.object_ids = [object_id for part in parts for object_id in part.object_ids]
        self.has_depth = all(part.has_depth for part in parts)
        self.views_per_sample, self.resolution = shape(parts[0])
        self._starts = [0]
        for part in parts:
            self._starts.append(self._starts[-1] + len(part))

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index: int) -> dict[str, Tensor | str]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        index %= len(self)
        part = bisect.bisect_right(self._starts, index) - 1
        return self.parts[part][index - self._starts[part]]


def load_shards(folder: str | os.PathLike | list, split: str = "train") -> ViewDataset | ViewDatasets:
    """The samples of `split` in the dataset `folder` (see ViewDataset), or in several folders read as one."""
    if isinstance(folder, (list, tuple)):
        parts = [ViewDataset(f, split) for f in folder]
        return parts[0] if len(parts) == 1 else ViewDatasets(parts)
    return ViewDataset(folder, split)
