"""Named presets: frozen dataclass configs stored as JSON under `configs/<kind>/<name>.json`.

`load_preset(SomeConfig, "viewgen", "tiny")` builds `SomeConfig` from the defaults of the dataclass
overridden by the preset file; a name that is a path to a `.json` file is read directly, so users can
keep their own presets. Unknown keys are an error (a typo must not be silently ignored). Nested
dataclass fields are built from nested JSON objects.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from pathlib import Path
from typing import Any, TypeVar

from img2gs.errors import PresetError

T = TypeVar("T")

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def preset_path(kind: str, name: str) -> Path:
    candidate = Path(name)
    if candidate.suffix == ".json" and candidate.is_file():
        return candidate
    return CONFIG_DIR / kind / f"{name}.json"


def preset_names(kind: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / kind).glob("*.json"))


def read_preset(cls: type, kind: str, name: str) -> dict:
    """The raw values of preset `name` of `kind` (its "_comment" dropped)."""
    path = preset_path(kind, name)
    if not path.is_file():
        known = ", ".join(preset_names(kind)) or "none"
        raise PresetError(f"unknown {kind} preset {name!r} (known: {known})")
    try:
        values = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise PresetError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(values, dict):
        raise PresetError(f"{path}: a preset must be a JSON object of {cls.__name__} fields")
    values.pop("_comment", None)
    return values


def load_preset(cls: type[T], kind: str, name: str, **overrides: Any) -> T:
    """Build `cls` from preset `name` of `kind`, then apply keyword `overrides` (None values skipped)."""
    values = read_preset(cls, kind, name)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(cls, values, where=str(preset_path(kind, name)))


def with_overrides(config: T, **overrides: Any) -> T:
    """`dataclasses.replace` that skips None values (CLI options left unset keep the preset's value)."""
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def deep_update(base: dict, update: dict) -> dict:
    """`base` with `update` merged in, recursing into nested dicts (neither argument is modified)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def from_dict(cls: type[T], values: dict, where: str = "config") -> T:
    """Build dataclass `cls` from a dict, recursing into dataclass-typed fields; tuples from lists."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise PresetError(f"{where}: unknown field(s) {sorted(unknown)} for {cls.__name__}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = from_dict(hint, value, where=f"{where}:{key}")
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # a config's own validation (__post_init__): one error type for presets
        raise PresetError(f"{where}: {e}") from None


def to_dict(config: Any) -> dict:
    """JSON-ready dict of a (nested) dataclass config."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def save_config(config: Any, path: str | os.PathLike, comment: str | None = None) -> None:
    """Write the resolved config next to a run's outputs (atomically), a preset file itself: `comment`
    goes into its "_comment", which preset readers skip."""
    from img2gs.atomic import atomic_write_text

    values = to_dict(config) if comment is None else {"_comment": comment, **to_dict(config)}
    atomic_write_text(path, json.dumps(values, indent=2) + "\n")
