"""The saved progress of a dataset build, so that a stopped build continues where it stopped.

A build writes into the staging folder `NAME.partial/` beside its output (`partial_folder`). Besides
the finished shards, that folder holds `build_state.safetensors`: the samples collected but not yet
written to a shard (the tensors) and, in its metadata, the objects done, the shards written, the
counts and statistics, and the settings the build was started with. It is rewritten atomically after
every shard and when a stop is requested; a kill between two saves costs only the objects since the
last one. The object stream is deterministic (build.py), so a continued build writes exactly the
folder an uninterrupted one would. When the build finishes, the state file is removed, `meta.json`
written and the staging folder renamed onto the output.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import safetensors.numpy

from img2gs.atomic import atomic_path
from img2gs.errors import OutputError

STATE_FILE = "build_state.safetensors"
STATE_FORMAT = "img2gs-build-state/1"
PENDING_FIELDS = ("images", "poses", "depth")


def partial_folder(output: Path) -> Path:
    """Where a build of `output` stages its work until it is complete."""
    return output.with_name(output.name + ".partial")


@dataclass
class BuildState:
    """What a build has done so far (the part of it that is not already in the shards on disk)."""

    settings: dict  # the build's config and mesh folder: a continued build must have the same
    objects_done: int = 0
    shards: dict[str, list[str]] = field(default_factory=dict)  # split -> shard file names, in order
    counts: Counter = field(default_factory=Counter)  # split -> samples collected
    pending: dict[str, tuple[list, list, list, list]] = field(default_factory=dict)  # split -> images, poses,
    # depth (numpy arrays, one per sample) and object ids of the samples not yet in a shard
    stats: dict = field(default_factory=dict)  # build.py's statistics (JSON-able but for its Counters)

    def save(self, folder: Path) -> None:
        tensors = {}
        ids = {}
        for split, (images, poses, depth, object_ids) in self.pending.items():
            ids[split] = list(object_ids)
            if object_ids:
                for name, values in zip(PENDING_FIELDS, (images, poses, depth)):
                    tensors[f"{split}.{name}"] = np.stack(values)
        stats = {k: dict(v) if isinstance(v, Counter) else v for k, v in self.stats.items()}
        meta = {"format": STATE_FORMAT, "settings": self.settings, "objects_done": self.objects_done,
                "shards": self.shards, "counts": dict(self.counts), "pending_ids": ids, "stats": stats}
        with atomic_path(folder / STATE_FILE) as tmp:
            safetensors.numpy.save_file(tensors, str(tmp), metadata={"state": json.dumps(meta)})


def load_build_state(folder: Path) -> BuildState | None:
    """The state saved in the staging folder `folder`, or None if it holds none (or is not ours)."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        with safetensors.safe_open(str(path), framework="numpy") as f:
            meta = json.loads((f.metadata() or {}).get("state", "{}"))
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (OSError, ValueError, safetensors.SafetensorError):
        return None
    if meta.get("format") != STATE_FORMAT:
        return None
    pending = {}
    for split, object_ids in meta["pending_ids"].items():
        arrays = [list(tensors[f"{split}.{name}"]) if object_ids else [] for name in PENDING_FIELDS]
        pending[split] = (*arrays, list(object_ids))
    stats = {k: Counter(v) if isinstance(v, dict) else v for k, v in meta["stats"].items()}
    return BuildState(settings=meta["settings"], objects_done=int(meta["objects_done"]), shards=meta["shards"],
                      counts=Counter(meta["counts"]), pending=pending, stats=stats)


def open_staging(output: Path, settings: dict, force: bool) -> tuple[Path, BuildState | None]:
    """The staging folder of a build of `output` and the state to continue from (None: a new build).

    A stopped build with the same settings is continued; with other settings it is refused unless
    `force`, which starts over. A staging folder img2gs did not leave (no state file) is never touched.
    """
    staging = partial_folder(output)
    if staging.exists():
        state = load_build_state(staging) if staging.is_dir() else None
        if state is None and (not staging.is_dir() or any(staging.iterdir())):
            raise OutputError(f"{staging} exists and is not a stopped img2gs build; move it away first")
        if state is not None and not force:
            if state.settings != settings:
                raise OutputError(f"{staging} holds a stopped build with other settings (use --force to start over)")
            return staging, state
        shutil.rmtree(staging)
    os.makedirs(staging)
    return staging, None
