"""Model folders as every checkpoint of img2gs writes them: `config.json` + `model.safetensors`, never a
pickle (the view generator's checkpoints, viewgen/checkpoint.py; the shape stage's, shape/checkpoint.py;
a training run's `<run>/checkpoint/`). Every problem a user can cause (a missing or corrupt file, weights
that do not fit) is a CheckpointError with a one-line message; the shapes a config implies are compared
with the weights file's header before the network is built (`build_fitting`), so a config.json that does
not match its weights is refused without allocating anything."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.nn.modules import module as nn_module

from img2gs.atomic import atomic_path
from img2gs.errors import CheckpointError, PresetError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
RUN_CHECKPOINT_SUBDIR = "checkpoint"
# What making a config dataclass, or a network from it, raises for values of the wrong type or range
# (a string for a channel count, zero norm groups): all are the config's fault, hence CheckpointErrors.
CONFIG_ERRORS = (PresetError, TypeError, ValueError, AttributeError, LookupError, ArithmeticError, RuntimeError)


def json_object(meta: dict, key: str, where: Path) -> dict:
    """`meta[key]` as a dict ({} when absent), else CheckpointError."""
    value = meta.get(key) or {}
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: {key!r} must be a JSON object")
    return dict(value)



class CheckpointConfig(Protocol):
    """What a checkpoint's config.json is written from (viewgen's CheckpointInfo, shape's ShapeCheckpointInfo)."""

    def to_json(self) -> dict: ...


def write_checkpoint(folder: str | os.PathLike, model: nn.Module, info: CheckpointConfig,
                     dtype: torch.dtype = torch.float32) -> None:
    """Write config.json (from `info`) + model.safetensors into `folder` (the caller makes the folder atomic)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(folder / WEIGHTS_FILE, model.state_dict(), dtype)
    (folder / CONFIG_FILE).write_text(json.dumps(info.to_json(), indent=2) + "\n")



def save_weights(path: Path, state: dict[str, Tensor], dtype: torch.dtype = torch.float32) -> None:
    """A state dict as safetensors; floating tensors cast to `dtype`, all made contiguous on CPU."""
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous() for k, v in state.items()}
    with atomic_path(path) as tmp:  # also gives the file the usual permissions (safetensors writes 0600)
        save_file(tensors, str(tmp))



def load_weights(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file missing")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None



def weight_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The shape of every tensor in a safetensors file, from its header only (nothing is loaded)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None



def build_fitting(make: Callable[[], nn.Module], weights: Path) -> nn.Module:
    """`make()`, built only once the shapes it implies (found on the meta device, where nothing is
    allocated) match the header of `weights`."""
    shapes = weight_shapes(weights)
    try:
        with torch.device("meta"), _registrations_bounded_by(len(shapes), weights):
            skeleton = make()
    except CONFIG_ERRORS as e:
        raise CheckpointError(f"{weights.parent / CONFIG_FILE}: cannot build the model it describes ({e})") from None
    check_fits({k: tuple(v.shape) for k, v in skeleton.state_dict().items()}, shapes, weights)
    return make()



@contextlib.contextmanager
def _registrations_bounded_by(tensors: int, weights: Path) -> Iterator[None]:
    """Stop building a model once it registers far more modules, parameters and buffers than `weights`
    holds tensors (about 2 per tensor in our networks), so a config that asks for 10^9 blocks is refused
    at once instead of being built block by block."""
    count, limit = 0, 4 * tensors + 100

    def hook(*_) -> None:
        nonlocal count
        count += 1
        if count > limit:
            raise CheckpointError(f"{weights.parent / CONFIG_FILE}: describes a model far larger than its "
                                  f"weights ({weights.name} holds {tensors} tensors)")

    handles = [nn_module.register_module_module_registration_hook(hook),
               nn_module.register_module_parameter_registration_hook(hook),
               nn_module.register_module_buffer_registration_hook(hook)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()



def check_fits(own: dict[str, tuple[int, ...]], stored: dict[str, tuple[int, ...]], where: Path) -> None:
    """Refuse weights (name -> shape) that are not exactly the model's, naming what does not fit."""
    missing = sorted(set(own) - set(stored))
    unexpected = sorted(set(stored) - set(own))
    wrong = sorted(k for k in set(own) & set(stored) if tuple(own[k]) != tuple(stored[k]))
    if missing or unexpected or wrong:
        parts = [f"{len(x)} {what} (e.g. {x[0]})" for x, what in
                 ((missing, "missing"), (unexpected, "unexpected"), (wrong, "of the wrong shape")) if x]
        raise CheckpointError(f"{where}: weights do not fit the model in {CONFIG_FILE}: " + ", ".join(parts))



def load_state_into(model: nn.Module, state: dict[str, Tensor], where: Path) -> None:
    """Strictly load `state` (any float dtype) into `model`, naming what does not fit."""
    own = model.state_dict()
    check_fits({k: v.shape for k, v in own.items()}, {k: v.shape for k, v in state.items()}, where)
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
