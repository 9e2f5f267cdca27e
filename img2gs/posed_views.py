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
from pathlib import Path

import torch
from torch import Tensor

from img2gs.atomic import merge_into_directory
from img2gs.errors import DataFormatError, ImageInputError
from img2gs.image_io import load_image, save_png

SPLITS = ("train", "val", "test")
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
    """Read a nerfstudio or NeRF-synthetic folder. Raises DataFormatError naming the problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: not a directory with transforms.json")
    if (folder / "transforms.json").is_file():
        meta = _read_json(folder / "transforms.json")
        frames = [(f, _split_of(meta, f)) for f in _frames(meta, folder / "transforms.json")]
        return _build(folder, meta, frames)
    blender = [(s, folder / f"transforms_{s}.json") for s in SPLITS if (folder / f"transforms_{s}.json").is_file()]
    if not blender:
        raise DataFormatError(f"{folder}: no transforms.json (or transforms_train.json) found")
    metas = {s: _read_json(p) for s, p in blender}
    frames = [(f, s) for s, p in blender for f in _frames(metas[s], p)]
    return _build(folder, metas[blender[0][0]], frames)


def _read_json(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataFormatError(f"{path}: cannot read JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DataFormatError(f"{path}: expected a JSON object at top level")
    return meta


def _frames(meta: dict, path: Path) -> list[dict]:
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DataFormatError(f"{path}: 'frames' must be a non-empty list")
    for i, f in enumerate(frames):
        if not isinstance(f, dict) or "file_path" not in f or "transform_matrix" not in f:
            raise DataFormatError(f"{path}: frame {i} needs 'file_path' and 'transform_matrix'")
    return frames


def _split_of(meta: dict, frame: dict) -> str:
    for split in SPLITS:
        if frame["file_path"] in meta.get(f"{split}_filenames", ()):
            return split
    return "train"


def _resolve_image_path(folder: Path, file_path: str) -> Path:
    path = folder / file_path
    if path.is_file():
        return path
    for ext in (".png", ".jpg", ".jpeg", ".webp"):  # NeRF-synthetic omits the extension
        if path.with_name(path.name + ext).is_file():
            return path.with_name(path.name + ext)
    raise DataFormatError(f"{folder}: frame image {file_path!r} not found")


def _intrinsics(meta: dict, frame: dict, width: int, height: int) -> Tensor:
    def get(key: str):
        return frame.get(key, meta.get(key))

    if get("fl_x") is not None:
        fl_x = float(get("fl_x"))
        fl_y = float(get("fl_y") if get("fl_y") is not None else fl_x)
    elif get("camera_angle_x") is not None:
        fl_x = fl_y = 0.5 * width / math.tan(0.5 * float(get("camera_angle_x")))
    else:
        raise DataFormatError("transforms.json needs 'fl_x' or 'camera_angle_x'")
    cx = float(get("cx") if get("cx") is not None else width / 2.0)
    cy = float(get("cy") if get("cy") is not None else height / 2.0)
    return torch.tensor([[fl_x, 0.0, cx], [0.0, fl_y, cy], [0.0, 0.0, 1.0]])


def _build(folder: Path, meta: dict, frames: list[tuple[dict, str]]) -> PosedViews:
    images, c2ws, Ks, names, splits = [], [], [], [], []
    for frame, split in frames:
        path = _resolve_image_path(folder, frame["file_path"])
        try:
            image = load_image(path)
        except ImageInputError as e:
            raise DataFormatError(str(e)) from None
        matrix = torch.tensor(frame["transform_matrix"], dtype=torch.float32)
        if matrix.shape != (4, 4) or not torch.isfinite(matrix).all():
            raise DataFormatError(f"{folder}: frame {frame['file_path']!r} has an invalid transform_matrix")
        images.append(image)
        c2ws.append(matrix)
        Ks.append(_intrinsics(meta, frame, image.shape[1], image.shape[0]))
        names.append(str(path.relative_to(folder)))
        splits.append(split)
    if len({tuple(im.shape) for im in images}) != 1:
        raise DataFormatError(f"{folder}: all frames must have the same size")
    return PosedViews(torch.stack(images), torch.stack(c2ws), torch.stack(Ks), names, splits)
