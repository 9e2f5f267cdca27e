"""View-generator checkpoints: a folder with `config.json` + `model.safetensors`, never a pickle.

    <dir>/config.json        {"format": "img2gs-viewgen", "version": 1, "kind": "teacher"|"student",
                              "model": {ModelConfig}, "sampling": {...}, "provenance": {...}}
    <dir>/model.safetensors  the backbone's weights (the EMA weights of a run), fp32 or fp16

A training run keeps its checkpoint in `<run>/checkpoint/` beside `training_options.json`, so both a
run folder and a checkpoint folder can be given wherever a model is expected
(`resolve_checkpoint_dir`). Every problem a user can cause (missing folder, missing or corrupt file,
foreign config, weights that do not fit) is a CheckpointError with a one-line message. The shapes the
config implies are compared with the weights file's header before the network is built (`build_fitting`),
so a config.json that does not match its weights is refused without allocating anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from img2gs.errors import CheckpointError
from img2gs.presets import to_dict
from img2gs.training.weights import (  # noqa: F401 (re-exported: the generator's checkpoint API in one place)
    CONFIG_ERRORS,
    CONFIG_FILE,
    RUN_CHECKPOINT_SUBDIR,
    WEIGHTS_FILE,
    build_fitting,
    check_fits,
    json_object,
    load_state_into,
    load_weights,
    save_weights,
    weight_shapes,
    write_checkpoint,
)
from img2gs.viewgen.config import ModelConfig, model_config_from_dict

FORMAT = "img2gs-viewgen"
VERSION = 1
KINDS = ("teacher", "student")


@dataclass(frozen=True)
class CheckpointInfo:
    """What config.json says about a checkpoint."""

    kind: str  # "teacher" (diffusion, Heun sampler) | "student" (consistency, 1-4 steps)
    model: ModelConfig
    sampling: dict = field(default_factory=dict)  # default sampler settings: steps, guidance
    provenance: dict = field(default_factory=dict)  # training run: step, data, config, versions

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "kind": self.kind, "model": to_dict(self.model),
                "sampling": self.sampling, "provenance": self.provenance}


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint folder of `path`: a checkpoint folder itself, or a run folder holding one."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    if not path.is_dir():
        raise CheckpointError(f"{path}: not a folder (a checkpoint is a folder with {CONFIG_FILE} and {WEIGHTS_FILE})")
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / RUN_CHECKPOINT_SUBDIR / CONFIG_FILE).is_file():
        return path / RUN_CHECKPOINT_SUBDIR
    raise CheckpointError(f"{path}: no {CONFIG_FILE} here or in {RUN_CHECKPOINT_SUBDIR}/ "
                          "(not a view-generator checkpoint)")


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """Parse and validate `<checkpoint>/config.json`."""
    folder = resolve_checkpoint_dir(path)
    try:
        meta = json.loads((folder / CONFIG_FILE).read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: bad JSON
        raise CheckpointError(f"{folder / CONFIG_FILE}: cannot read JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{folder / CONFIG_FILE}: not an img2gs view-generator config (format != {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{folder / CONFIG_FILE}: checkpoint version {meta.get('version')!r}, expected {VERSION}")
    if meta.get("kind") not in KINDS:
        raise CheckpointError(f"{folder / CONFIG_FILE}: kind {meta.get('kind')!r} is not one of {KINDS}")
    try:
        model = model_config_from_dict(meta.get("model") or {}, where=str(folder / CONFIG_FILE))
    except CONFIG_ERRORS as e:
        raise CheckpointError(f"{folder / CONFIG_FILE}: invalid model config ({e})") from None
    return CheckpointInfo(kind=meta["kind"], model=model, sampling=json_object(meta, "sampling", folder / CONFIG_FILE),
                          provenance=json_object(meta, "provenance", folder / CONFIG_FILE))


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[nn.Module, CheckpointInfo]:
    """The backbone (`ViewGenNet`, eval mode, fp32) and info of a checkpoint or run folder."""
    from img2gs.viewgen.network import ViewGenNet

    folder = resolve_checkpoint_dir(path)
    info = read_checkpoint_info(folder)
    net = build_fitting(lambda: ViewGenNet(info.model), folder / WEIGHTS_FILE)
    load_state_into(net, load_weights(folder / WEIGHTS_FILE), folder / WEIGHTS_FILE)
    return net.to(device).eval(), info
