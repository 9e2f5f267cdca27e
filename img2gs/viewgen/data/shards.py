"""Dataset folder format: `meta.json` plus safetensors shards `{split}-{index:05d}.safetensors`.

Each shard holds S samples of V views:
    images  uint8   [S, V, H, W, 4]  RGBA, straight alpha; view 0 is the input view
    poses   float32 [S, V, 3]        (elevation, azimuth, radius), degrees (img2gs.cameras)
    depth   float16 [S, 2, H, W]     camera z of the first / last surface along each ray of view 0
                                     (img2gs.render.depth_layers), 0 = miss; format 2 and later
and, as safetensors metadata (a string), `object_ids`: the JSON list of the S object ids.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import safetensors.numpy
from safetensors import safe_open

from img2gs.atomic import atomic_path, atomic_write_text
from img2gs.errors import DataFormatError

FORMAT = "img2gs-views/2"
READABLE_FORMATS = ("img2gs-views/1", FORMAT)  # 1: no depth layers
META_FILE = "meta.json"
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Shard:
    images: np.ndarray  # [S, V, H, W, 4] uint8
    poses: np.ndarray  # [S, V, 3] float32
    object_ids: list[str]  # S ids
    depth: np.ndarray | None = None  # [S, 2, H, W] float16 (front, back) of view 0


def shard_name(split: str, index: int) -> str:
    return f"{split}-{index:05d}.safetensors"


def write_shard(path: str | os.PathLike, shard: Shard) -> None:
    """Write `shard` atomically (temp file + rename)."""
    s = shard.images.shape[0]
    if shard.images.dtype != np.uint8 or shard.images.ndim != 5 or shard.images.shape[-1] != 4:
        raise ValueError(f"images must be uint8 [S, V, H, W, 4], got {shard.images.dtype} {shard.images.shape}")
    if shard.poses.shape != (s, shard.images.shape[1], 3) or len(shard.object_ids) != s:
        raise ValueError("poses [S, V, 3] and object_ids [S] must match images")
    tensors = {"images": np.ascontiguousarray(shard.images),
               "poses": np.ascontiguousarray(shard.poses, dtype=np.float32)}
    if shard.depth is not None:
        if shard.depth.shape != (s, 2, *shard.images.shape[2:4]):
            raise ValueError(f"depth must be [S, 2, H, W], got {shard.depth.shape}")
        tensors["depth"] = np.ascontiguousarray(shard.depth, dtype=np.float16)
    # One metadata key only: safetensors writes its metadata map in arbitrary order, and the build must
    # be byte-for-byte reproducible. (The format is named in meta.json.)
    metadata = {"object_ids": json.dumps(list(shard.object_ids))}
    with atomic_path(path) as tmp:
        safetensors.numpy.save_file(tensors, str(tmp), metadata=metadata)


def read_shard(path: str | os.PathLike) -> Shard:
    """Load a whole shard into memory."""
    with _open(path) as f:
        depth = f.get_tensor("depth") if "depth" in f.keys() else None
        return Shard(images=f.get_tensor("images"), poses=f.get_tensor("poses"), object_ids=_ids(f, path),
                     depth=depth)


def shard_object_ids(path: str | os.PathLike) -> list[str]:
    """The object ids of a shard, from its header only."""
    with _open(path) as f:
        return _ids(f, path)


def write_meta(folder: Path, meta: dict) -> None:
    atomic_write_text(folder / META_FILE, json.dumps(meta, indent=2, sort_keys=False) + "\n")


def read_meta(folder: str | os.PathLike) -> dict:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise DataFormatError(f"{folder} is not an img2gs dataset (no {META_FILE}; build one with `img2gs data build`)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read ({e})") from None
    if meta.get("format") not in READABLE_FORMATS:
        raise DataFormatError(f"{path}: unsupported dataset format {meta.get('format')!r} (expected {FORMAT})")
    return meta


def _open(path: str | os.PathLike):
    try:
        return safe_open(str(path), framework="numpy")
    except Exception as e:  # safetensors raises its own error types  # noqa: BLE001
        raise DataFormatError(f"{path}: not a readable safetensors shard ({e})") from None


def _ids(f, path) -> list[str]:
    try:
        return list(json.loads((f.metadata() or {})["object_ids"]))
    except (KeyError, json.JSONDecodeError):
        raise DataFormatError(f"{path}: shard has no object_ids metadata") from None
