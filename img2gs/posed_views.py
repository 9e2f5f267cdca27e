"""Posed views and the nerfstudio / NeRF-synthetic folder format (`transforms.json` + RGBA PNGs).

This is how posed images enter and leave every stage: the view generator writes such a folder, the
splat fitter reads one, and users can run other tools (e.g. nerfstudio's splatfacto) on it.

Reading accepts
  * nerfstudio: `<dir>/transforms.json` with `fl_x`/`fl_y`/`cx`/`cy`/`w`/`h` (global or per frame)
    or `camera_angle_x`, `frames[].file_path`, `frames[].transform_matrix`, and optional
    `train_filenames` / `val_filenames` / `test_filenames` for splits;
  * NeRF-synthetic (Blender): `<dir>/transforms_{train,val,test}.json` with `camera_angle_x` and
    `file_path` given without extension.
Matrices are camera-to-world in the OpenGL convention (see img2gs.cameras).
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch
from torch import Tensor

from img2gs.atomic import merge_into_directory
from img2gs.errors import DataFormatError, ImageInputError
from img2gs.image_header import image_size
from img2gs.image_io import load_image, save_png
from img2gs.limits import RENDER_SIDE, VIEW_BYTES, VIEW_FRAMES

SPLITS = ("train", "val", "test")
MAX_JSON_BYTES = 64 * 2**20  # a transforms.json of 10,000 frames is ~7 MB
TRANSFORMS = "transforms.json"
WRITTEN_FILES_KEY = "img2gs_files"  # in transforms.json: the files img2gs wrote there (removed on the next write)


@dataclass
class PosedViews:
    """A set of posed RGBA views of one scene."""

    images: Tensor  # [N, H, W, 4] float32 in [0, 1], straight alpha
    c2w: Tensor  # [N, 4, 4] camera-to-world, OpenGL convention
    K: Tensor  # [N, 3, 3] pinhole intrinsics in pixels
    names: list[str] = field(default_factory=list)  # file names relative to the folder
    splits: list[str] = field(default_factory=list)  # "train" | "val" | "test" per view

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.ndim != 4 or self.images.shape[-1] != 4:
            raise ValueError(f"images must be [N, H, W, 4], got {tuple(self.images.shape)}")
        if self.c2w.shape != (n, 4, 4) or self.K.shape != (n, 3, 3):
            raise ValueError(f"c2w {tuple(self.c2w.shape)} / K {tuple(self.K.shape)} do not match {n} images")
        self.names = self.names or [f"images/frame_{i:04d}.png" for i in range(n)]
        self.splits = self.splits or ["train"] * n
        if len(self.names) != n or len(self.splits) != n:
            raise ValueError("names and splits must have one entry per image")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def height(self) -> int:
        return self.images.shape[1]

    @property
    def width(self) -> int:
        return self.images.shape[2]

    def subset(self, split: str) -> "PosedViews":
        """The views of one split (an empty split yields zero views)."""
        idx = [i for i, s in enumerate(self.splits) if s == split]
        return self.select(idx)

    def select(self, idx: list[int]) -> "PosedViews":
        return PosedViews(
            images=self.images[idx],
            c2w=self.c2w[idx],
            K=self.K[idx],
            names=[self.names[i] for i in idx],
            splits=[self.splits[i] for i in idx],
        )


def write_posed_views(folder: str | os.PathLike, views: PosedViews, extra: dict | None = None) -> Path:
    """Write `views` as `<folder>/transforms.json` + PNGs into `folder`, merging into what is there.

    Each PNG is replaced atomically and transforms.json is written last, so a crash leaves the previous
    index (and complete files) in place. Files that img2gs's previous write to this folder listed
    (`img2gs_files` in its transforms.json) and this one does not write are removed; nothing else in
    the folder is touched, so a folder the user named (`--views-dir`) keeps its other files.
    Intrinsics are written globally when all views share them, else per frame. `extra` is merged
    into the top level of transforms.json (e.g. provenance).
    """
    folder = Path(folder)
    index = _transforms_dict(views, extra)
    index[WRITTEN_FILES_KEY] = list(views.names)
    files = [(name, functools.partial(save_png, image=image)) for name, image in zip(views.names, views.images)]
    merge_into_directory(folder, files, TRANSFORMS, json.dumps(index, indent=2),
                         previous=previously_written_files(folder))
    return folder


def previously_written_files(folder: str | os.PathLike) -> list[str]:
    """The files img2gs wrote into `folder` last time, as its transforms.json lists them ([] when the
    index is missing, unreadable or not img2gs's: then nothing is removed)."""
    try:
        meta = json.loads((Path(folder) / TRANSFORMS).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    names = meta.get(WRITTEN_FILES_KEY) if isinstance(meta, dict) else None
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str)]


def _intrinsics_dict(K: Tensor, width: int, height: int) -> dict:
    fl_x = float(K[0, 0])
    return {
        "camera_angle_x": 2.0 * math.atan(0.5 * width / fl_x),
        "fl_x": fl_x,
        "fl_y": float(K[1, 1]),
        "cx": float(K[0, 2]),
        "cy": float(K[1, 2]),
        "w": width,
        "h": height,
    }


def _transforms_dict(views: PosedViews, extra: dict | None) -> dict:
    shared_K = bool((views.K == views.K[:1]).all())
    out: dict = {"camera_model": "OPENCV"}
    if shared_K:
        out.update(_intrinsics_dict(views.K[0], views.width, views.height))
    frames = []
    for i in range(len(views)):
        frame = {"file_path": views.names[i], "transform_matrix": views.c2w[i].tolist()}
        if not shared_K:
            frame.update(_intrinsics_dict(views.K[i], views.width, views.height))
        frames.append(frame)
    out["frames"] = frames
    for split in SPLITS:
        names = [n for n, s in zip(views.names, views.splits) if s == split]
        if names and set(views.splits) != {"train"}:
            out[f"{split}_filenames"] = names
    out.update(extra or {})
    return out


def read_posed_views(folder: str | os.PathLike) -> PosedViews:
    """Read a nerfstudio or NeRF-synthetic folder. Raises DataFormatError naming the problem.

    Everything is checked before any image is decoded: the index's types and values, that every
    `file_path` stays inside the folder, the number of frames and their decoded size in total (from
    the image headers; limits in img2gs.limits)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: not a directory with transforms.json")
    if (folder / "transforms.json").is_file():
        path = folder / "transforms.json"
        meta = _read_json(path)
        splits = _split_names(meta, path)
        frames = [(f, _split_of(splits, f)) for f in _frames(meta, path)]
        return _build(folder, meta, frames)
    blender = [(s, folder / f"transforms_{s}.json") for s in SPLITS if (folder / f"transforms_{s}.json").is_file()]
    if not blender:
        raise DataFormatError(f"{folder}: no transforms.json (or transforms_train.json) found")
    metas = {s: _read_json(p) for s, p in blender}
    frames = [(f, s) for s, p in blender for f in _frames(metas[s], p)]
    return _build(folder, metas[blender[0][0]], frames)


def _read_json(path: Path) -> dict:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise DataFormatError(f"{path}: {path.stat().st_size:,} bytes is too large for an index "
                                  f"(at most {MAX_JSON_BYTES:,})")
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: JSON, int digits
        raise DataFormatError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DataFormatError(f"{path}: expected a JSON object at top level")
    return meta


def _frames(meta: dict, path: Path) -> list[dict]:
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DataFormatError(f"{path}: 'frames' must be a non-empty list")
    VIEW_FRAMES.check(len(frames), str(path), DataFormatError)
    for i, f in enumerate(frames):
        if not isinstance(f, dict) or "file_path" not in f or "transform_matrix" not in f:
            raise DataFormatError(f"{path}: frame {i} needs 'file_path' and 'transform_matrix'")
        _check_file_path(f["file_path"], f"{path}: frame {i}")
    return frames


def _check_file_path(value, where: str) -> None:
    """A frame's `file_path` must be a relative path that stays inside the folder."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise DataFormatError(f"{where}: 'file_path' must be a relative path, got {_short(value)}")
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).anchor:
        raise DataFormatError(f"{where}: 'file_path' {_short(value)} is absolute; it must be relative to the folder")
    depth = 0
    for part in PurePosixPath(value.replace("\\", "/")).parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            raise DataFormatError(f"{where}: 'file_path' {_short(value)} leaves the folder")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _split_names(meta: dict, path: Path) -> dict[str, set[str]]:
    """The file names of each split listed in `meta` (`train_filenames`, ...)."""
    names = {}
    for split in SPLITS:
        listed = meta.get(f"{split}_filenames", [])
        if not isinstance(listed, list):
            raise DataFormatError(f"{path}: '{split}_filenames' must be a list of file names")
        names[split] = {n for n in listed if isinstance(n, str)}
    return names


def _split_of(splits: dict[str, set[str]], frame: dict) -> str:
    for split in SPLITS:
        if frame["file_path"] in splits[split]:
            return split
    return "train"


def _resolve_image_path(folder: Path, file_path: str) -> Path:
    path = folder / file_path
    try:
        if path.is_file():
            return path
        for ext in (".png", ".jpg", ".jpeg", ".webp"):  # NeRF-synthetic omits the extension
            if path.with_name(path.name + ext).is_file():
                return path.with_name(path.name + ext)
    except (OSError, ValueError):  # e.g. a name too long for the file system
        pass
    raise DataFormatError(f"{folder}: frame image {_short(file_path)} not found")


def _number(value, key: str, where: str, positive: bool = False) -> float:
    """`value` as a finite float (> 0 when `positive`), else DataFormatError naming `key`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataFormatError(f"{where}: '{key}' must be a number, got {_short(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        number = math.inf
    if not math.isfinite(number) or (positive and number <= 0):
        kind = "a positive number" if positive else "a finite number"
        raise DataFormatError(f"{where}: '{key}' must be {kind}, got {_short(value)}")
    return number


def _intrinsics(meta: dict, frame: dict, width: int, height: int, where: str = "transforms.json") -> Tensor:
    def get(key: str):
        return frame.get(key, meta.get(key))

    if get("fl_x") is not None:
        fl_x = _number(get("fl_x"), "fl_x", where, positive=True)
        fl_y = _number(get("fl_y"), "fl_y", where, positive=True) if get("fl_y") is not None else fl_x
    elif get("camera_angle_x") is not None:
        angle = _number(get("camera_angle_x"), "camera_angle_x", where, positive=True)
        if angle >= math.pi:
            raise DataFormatError(f"{where}: 'camera_angle_x' must be below pi (radians), got {angle!r}")
        fl_x = fl_y = 0.5 * width / math.tan(0.5 * angle)
    else:
        raise DataFormatError(f"{where}: transforms.json needs 'fl_x' or 'camera_angle_x'")
    cx = _number(get("cx"), "cx", where) if get("cx") is not None else width / 2.0
    cy = _number(get("cy"), "cy", where) if get("cy") is not None else height / 2.0
    K = torch.tensor([[fl_x, 0.0, cx], [0.0, fl_y, cy], [0.0, 0.0, 1.0]])
    if not torch.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:  # beyond float32
        raise DataFormatError(f"{where}: intrinsics out of range (fl_x {fl_x:g}, fl_y {fl_y:g}, cx {cx:g}, cy {cy:g})")
    return K


def _matrix(value, where: str) -> Tensor:
    """A frame's `transform_matrix`: 4 rows of 4 finite numbers, invertible, as float32 [4, 4]."""
    rows_ok = isinstance(value, list) and len(value) == 4 and all(isinstance(r, list) and len(r) == 4 for r in value)
    if not rows_ok:
        raise DataFormatError(f"{where}: 'transform_matrix' must be 4 rows of 4 numbers, got {_short(value)}")
    matrix = torch.tensor([[_number(x, "transform_matrix", where) for x in row] for row in value], dtype=torch.float64)
    if not torch.isfinite(matrix.float()).all():
        raise DataFormatError(f"{where}: 'transform_matrix' has values beyond the float32 range")
    if abs(float(torch.linalg.det(matrix))) < 1e-9:
        raise DataFormatError(f"{where}: 'transform_matrix' is singular (not a camera pose)")
    return matrix.float()


def _image_size_of(meta: dict, where: str) -> tuple[int, int] | None:
    """The index's global (`w`, `h`) when it gives both, checked against the render limit, else None."""
    if meta.get("w") is None or meta.get("h") is None:
        return None
    size = []
    for key in ("w", "h"):
        value = _number(meta[key], key, where, positive=True)
        if value != int(value):
            raise DataFormatError(f"{where}: '{key}' must be a whole number of pixels, got {_short(meta[key])}")
        size.append(int(value))
    RENDER_SIDE.check(max(size), f"{where}: image size {size[0]}x{size[1]}", DataFormatError)
    return size[0], size[1]


def _build(folder: Path, meta: dict, frames: list[tuple[dict, str]]) -> PosedViews:
    VIEW_FRAMES.check(len(frames), str(folder), DataFormatError)
    _image_size_of(meta, str(folder))
    paths = [_resolve_image_path(folder, frame["file_path"]) for frame, _ in frames]
    c2ws = [_matrix(frame["transform_matrix"], f"{folder}: frame {frame['file_path']!r}") for frame, _ in frames]
    _check_decoded_bytes(folder, paths)
    images, Ks, names, splits = [], [], [], []
    for (frame, split), path in zip(frames, paths):
        try:
            image = load_image(path)
        except ImageInputError as e:
            raise DataFormatError(str(e)) from None
        images.append(image)
        Ks.append(_intrinsics(meta, frame, image.shape[1], image.shape[0], where=str(folder)))
        names.append(str(path.relative_to(folder)))
        splits.append(split)
    if len({tuple(im.shape) for im in images}) != 1:
        raise DataFormatError(f"{folder}: all frames must have the same size")
    return PosedViews(torch.stack(images), torch.stack(c2ws), torch.stack(Ks), names, splits)


def _check_decoded_bytes(folder: Path, paths: list[Path]) -> None:
    """The frames' decoded size in total (RGBA, from the image headers) against VIEW_BYTES."""
    total = 0
    for path in paths:
        try:
            width, height = image_size(path)
        except ImageInputError as e:
            raise DataFormatError(str(e)) from None
        total += 4 * width * height
    VIEW_BYTES.check(total, f"{folder}: {len(paths)} frames", DataFormatError)


@dataclass(frozen=True)
class Cameras:
    c2w: Tensor  # [C, 4, 4] OpenGL
    K: Tensor  # [C, 3, 3]
    names: list[str]  # one per camera, from the frames' file paths
    width: int
    height: int


def read_cameras(path: str | os.PathLike) -> Cameras:
    """The cameras of a transforms.json (or of its folder). The frames' images need not exist when the
    file gives the image size (`w`, `h`); otherwise the size is read from the images."""
    path = Path(path)
    folder = path.parent if path.is_file() else path
    transforms = path if path.is_file() else folder / "transforms.json"
    if not transforms.is_file():
        return _cameras_of(read_posed_views(folder))  # NeRF-synthetic folders, or a clear error
    meta = _read_json(transforms)
    frames = _frames(meta, transforms)
    size = _image_size_of(meta, str(transforms))  # checked against the render limit
    if size is None:
        return _cameras_of(read_posed_views(folder))
    width, height = size
    c2w = [_matrix(f["transform_matrix"], f"{transforms}: frame {f['file_path']!r}") for f in frames]
    K = [_intrinsics(meta, f, width, height, where=str(transforms)) for f in frames]
    return Cameras(torch.stack(c2w), torch.stack(K), [f["file_path"] for f in frames], width, height)


def _cameras_of(views: PosedViews) -> Cameras:
    return Cameras(views.c2w, views.K, list(views.names), views.width, views.height)
