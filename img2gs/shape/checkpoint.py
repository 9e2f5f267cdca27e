"""Shape-stage checkpoints: a folder with `config.json` + `model.safetensors`, like the view generator's.

    <dir>/config.json        {"format": "img2gs-shape", "version": 1, "model": {ShapeNetConfig},
                              "provenance": {...}}
    <dir>/model.safetensors  the network's (EMA) weights

The default model folder holds the shape stage in its `shape/` subfolder (`shape_dir_of`), beside the
view generator's own config.json and weights. A run folder (`img2gs train shape -o RUN`) keeps it in
RUN/checkpoint/ like every other run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from img2gs.errors import CheckpointError
from img2gs.presets import from_dict, to_dict
from img2gs.shape.config import ShapeNetConfig
from img2gs.training.weights import (
    CONFIG_ERRORS,
    CONFIG_FILE,
    RUN_CHECKPOINT_SUBDIR,
    WEIGHTS_FILE,
    build_fitting,
    json_object,
    load_state_into,
    load_weights,
    write_checkpoint,
)

FORMAT = "img2gs-shape"
VERSION = 1
MODEL_SUBDIR = "shape"


@dataclass(frozen=True)
class ShapeCheckpointInfo:
    model: ShapeNetConfig
    provenance: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "model": to_dict(self.model), "provenance": self.provenance}


def shape_dir_of(path: str | os.PathLike) -> Path:
    """The shape checkpoint folder of `path`: itself, its `shape/` subfolder (a model folder) or its
    `checkpoint/` subfolder (a run folder)."""
    path = Path(path)
    for candidate in (path, path / MODEL_SUBDIR, path / RUN_CHECKPOINT_SUBDIR):
        if _is_shape_checkpoint(candidate / CONFIG_FILE):
            return candidate
    raise CheckpointError(f"{path}: no shape-stage checkpoint here or in {MODEL_SUBDIR}/ or "
                          f"{RUN_CHECKPOINT_SUBDIR}/ (train one with `img2gs train shape`)")


def _is_shape_checkpoint(config_file: Path) -> bool:
    try:
        return json.loads(config_file.read_text()).get("format") == FORMAT
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, AttributeError):
        return False


def load_shape_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu"):
    """(ShapeNet in eval mode, ShapeCheckpointInfo) of a checkpoint, model or run folder."""
    from img2gs.shape.network import ShapeNet

    folder = shape_dir_of(path)
    meta = json.loads((folder / CONFIG_FILE).read_text())
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{folder / CONFIG_FILE}: shape checkpoint version {meta.get('version')!r}, "
                              f"expected {VERSION}")
    try:
        config = from_dict(ShapeNetConfig, meta.get("model") or {}, where=str(folder / CONFIG_FILE))
    except CONFIG_ERRORS as e:
        raise CheckpointError(f"{folder / CONFIG_FILE}: invalid shape model config ({e})") from None
    provenance = json_object(meta, "provenance", folder / CONFIG_FILE)
    net = build_fitting(lambda: ShapeNet(config), folder / WEIGHTS_FILE)  # the weights' shapes checked first
    load_state_into(net, load_weights(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    return net.to(device).eval(), ShapeCheckpointInfo(config, provenance)


def export_shape_checkpoint(source: str | os.PathLike, destination: str | os.PathLike,
                            dtype: torch.dtype = torch.float16) -> Path:
    """Write the shape stage of a run, model or checkpoint folder `source` as a plain checkpoint folder
    (config.json + model.safetensors, floating weights as `dtype`: half the size at fp16, what a model
    folder ships) at `destination`, atomically; a non-empty destination img2gs did not write is refused."""
    from img2gs.atomic import atomic_directory

    net, info = load_shape_checkpoint(source)
    with atomic_directory(destination) as tmp:
        write_checkpoint(tmp, net, info, dtype)
    return Path(destination)
