"""Dataset folder format: `meta.json` plus safetensors shards `{split}-{index:05d}.safetensors`.

Each shard holds S samples of V views:
    images  uint8   [S, V, H, W, 4]  RGBA, straight alpha; view 0 is the input view
    poses   float32 [S, V, 3]        (elevation, azimuth, radius), degrees (img2gs.cameras)
    depth   float16 [S, 2, H, W]     camera z of the first / last surface along each ray of view 0
                                     (img2gs.mesh_render.depth_layers), 0 = miss; format 2 and later
and, as safetensors metadata (a string), `object_ids`: the JSON list of the S object ids.

Reading checks a shard's tensor names, dtypes and shapes and its metadata from the header first
(`read_shard_header`), so a corrupt, truncated or foreign shard is a DataFormatError before any sample
is read.
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


@dataclass(frozen=True)
class ShardHeader:
    """What a shard's header says (checked against the layout above)."""

    samples: int  # S
    views: int  # V
    height: int
    width: int
    has_depth: bool
    object_ids: list[str]


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
    """Load a whole shard into memory (its header checked first)."""
    with _open(path) as f:
        header = _header(f, path)
        depth = f.get_tensor("depth") if header.has_depth else None
        return Shard(images=f.get_tensor("images"), poses=f.get_tensor("poses"), object_ids=header.object_ids,
                     depth=depth)


def read_shard_header(path: str | os.PathLike) -> ShardHeader:
    """A shard's layout and object ids from its header only, checked; DataFormatError names the problem."""
    with _open(path) as f:
        return _header(f, path)


def shard_object_ids(path: str | os.PathLike) -> list[str]:
    """The object ids of a shard, from its header only."""
    return read_shard_header(path).object_ids


def write_meta(folder: Path, meta: dict) -> None:
    atomic_write_text(folder / META_FILE, json.dumps(meta, indent=2, sort_keys=False) + "\n")


def read_meta(folder: str | os.PathLike) -> dict:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise DataFormatError(f"{folder} is not an img2gs dataset (no {META_FILE}; build one with `img2gs data build`)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: bad JSON
        raise DataFormatError(f"{path}: cannot read ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") not in READABLE_FORMATS:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise DataFormatError(f"{path}: unsupported dataset format {found!r} (expected {FORMAT})")
    _check_meta(meta, path)
    return meta


def _check_meta(meta: dict, path: Path) -> None:
    """The fields readers use: positive `resolution` and `views_per_sample`, `shards` of plain file names."""
    for key in ("resolution", "views_per_sample"):
        value = meta.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise DataFormatError(f"{path}: {key!r} must be a positive whole number, got {value!r:.40}")
    shards = meta.get("shards")
    if not isinstance(shards, dict) or not all(isinstance(names, list) for names in shards.values()):
        raise DataFormatError(f"{path}: 'shards' must map each split to a list of shard file names")
    for names in shards.values():
        for name in names:
            if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
                raise DataFormatError(f"{path}: shard {name!r:.60} is not a file name in the dataset folder")


def _open(path: str | os.PathLike):
    try:
        return safe_open(str(path), framework="numpy")
    except Exception as e:  # safetensors raises its own error types  # noqa: BLE001
        raise DataFormatError(f"{path}: not a readable safetensors shard ({e})") from None


def _header(f, path) -> ShardHeader:
    images = _spec(f, "images", path)
    if images[0] != "U8" or len(images[1]) != 5 or images[1][-1] != 4:
        raise DataFormatError(f"{path}: 'images' must be uint8 [S, V, H, W, 4], got {images[0]} {list(images[1])}")
    s, v, h, w, _ = images[1]
    expected = {"poses": ("F32", (s, v, 3)), "depth": ("F16", (s, 2, h, w))}
    has_depth = "depth" in f.keys()
    for name in ("poses", "depth") if has_depth else ("poses",):
        spec = _spec(f, name, path)
        if spec != expected[name]:
            raise DataFormatError(f"{path}: {name!r} is {spec[0]} {list(spec[1])}, expected "
                                  f"{expected[name][0]} {list(expected[name][1])} for these images")
    ids = _ids(f, path)
    if len(ids) != s:
        raise DataFormatError(f"{path}: {len(ids)} object_ids for {s} samples")
    return ShardHeader(s, v, h, w, has_depth, ids)


def _spec(f, name: str, path) -> tuple[str, tuple[int, ...]]:
    """(dtype, shape) of tensor `name` from the header."""
    if name not in f.keys():
        raise DataFormatError(f"{path}: shard has no {name!r} tensor")
    tensor = f.get_slice(name)
    return tensor.get_dtype(), tuple(tensor.get_shape())


def _ids(f, path) -> list[str]:
    try:
        ids = json.loads((f.metadata() or {})["object_ids"])
    except (KeyError, ValueError, RecursionError):  # ValueError: bad JSON
        raise DataFormatError(f"{path}: shard has no object_ids metadata") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise DataFormatError(f"{path}: the shard's object_ids metadata is not a list of strings")
    return ids
