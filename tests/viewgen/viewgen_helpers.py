"""Helpers of the view-generator trainer / generator tests: a tiny synthetic dataset in the real format and
a tiny trained teacher, both made in well under a second."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import torch

from img2gs.data import load_shards
from img2gs.data.shards import FORMAT, Shard, shard_name, write_meta, write_shard
from img2gs.viewgen.config import load_viewgen_preset

RESOLUTION = 16
VIEWS = 4  # view 0 = input, 3 targets
POSES = [(20.0, 0.0, 3.2), (30.0, 90.0, 3.2), (-10.0, 180.0, 3.2), (30.0, 270.0, 3.2)]


def _ellipse(colour: np.ndarray, azimuth: float, size: int) -> np.ndarray:
    """An RGBA ellipse [size, size, 4] uint8 whose width follows the azimuth (a crude 'object')."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    c = size / 2
    half_w = size * (0.15 + 0.2 * abs(math.cos(math.radians(azimuth))))
    inside = ((xs - c) / half_w) ** 2 + ((ys - c) / (size * 0.35)) ** 2 <= 1.0
    image = np.zeros((size, size, 4), np.uint8)
    image[inside, :3] = colour
    image[inside, 3] = 255
    return image


def write_tiny_dataset(folder: Path, train: int = 4, val: int = 2, seed: int = 0) -> Path:
    """A dataset folder (meta.json + one shard per split) readable by img2gs.data.load_shards."""
    rng = np.random.default_rng(seed)
    shards = {}
    for split, count in (("train", train), ("val", val)):
        colours = rng.integers(30, 226, size=(count, 3))
        images = np.stack([np.stack([_ellipse(c, p[1], RESOLUTION) for p in POSES]) for c in colours])
        poses = np.tile(np.asarray(POSES, np.float32), (count, 1, 1))
        inside = images[:, 0, ..., 3] > 0  # [S, H, W]: a slab 0.4 thick at the orbit centre's depth
        depth = np.stack([np.where(inside, 3.0, 0.0), np.where(inside, 3.4, 0.0)], axis=1).astype(np.float16)
        name = shard_name(split, 0)
        write_shard(folder / name, Shard(images, poses, [f"{split}-{i}" for i in range(count)], depth))
        shards[split] = [name]
    write_meta(folder, {"format": FORMAT, "resolution": RESOLUTION, "views_per_sample": VIEWS, "shards": shards})
    return folder


def tiny_dataset(folder: Path, split: str = "train"):
    if not (folder / "meta.json").is_file():
        write_tiny_dataset(folder)
    return load_shards(folder, split)


def tiny_preset():
    return load_viewgen_preset("tiny")


def train_tiny_teacher(data_dir: Path, run_dir: Path, steps: int = 2):
    """A 2-step tiny teacher run in `run_dir` (checkpoint in run_dir/checkpoint)."""
    from img2gs.viewgen.train_teacher import train_teacher

    config = tiny_preset().teacher
    config = dataclasses.replace(config, loop=dataclasses.replace(config.loop, steps=steps))
    return train_teacher(config, tiny_dataset(data_dir), run_dir)


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a)
