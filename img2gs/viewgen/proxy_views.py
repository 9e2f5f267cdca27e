"""Proxy views of a dataset: the conditioning the view generator trains on, precomputed once.

For every sample of a built dataset (view 0 = the photo), the shape stage's PREDICTED depth layers
(not the true ones: the generator must learn to correct the proxies it will meet in the product) lift
the photo to a proxy (img2gs.proxy), which is rendered at every view's pose at the generator's
resolution: RGBA, expected depth and the seen-in-the-photo mask. The photo's camera uses the TRUE input
elevation: a wrong estimate in the product tilts the whole orbit, which changes which views are made,
not how the proxy relates to them.

`build_proxy_views(dataset, shape model, folder, resolution)` writes one safetensors file per dataset
shard (same name, each written atomically) beside the manifest `proxy_views.json`, so the stage is
resumable:
a stopped build continues with the first missing shard; a manifest made with other settings is refused.

    rgba   uint8   [S, V, R, R, 4]  straight alpha
    depth  float16 [S, V, R, R]     camera z of the proxy at each view (0 = empty)
    seen   uint8   [S, V, R, R]     share of the pixel drawn by surface the photo shows, x 255

`ProxyViewStore(folder, dataset)` reads them back, aligned with that ViewDataset. A build may cover a
spread of the train shards only (`max_train_shards`): the generator then trains on those samples.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import safetensors.numpy
import torch
from safetensors import safe_open

import img2gs
from img2gs.atomic import atomic_path, atomic_write_text
from img2gs.cameras import input_pose
from img2gs.data.dataset import ViewDataset
from img2gs.errors import DataFormatError, OutputError
from img2gs.proxy.lift import LiftConfig, lift_photo
from img2gs.proxy.render import ProxyRender, render_proxy_at_orbit
from img2gs.shape.checkpoint import shape_dir_of
from img2gs.shape.estimator import ShapeEstimator

FORMAT = "img2gs-proxy-views/1"
MANIFEST = "proxy_views.json"


def dataset_lift(resolution: int) -> LiftConfig:
    """The lift of a dataset's photos: one column of Gaussians per pixel of the photo as stored."""
    return LiftConfig(size=resolution)


def sample_proxy_views(estimator, images: torch.Tensor, poses: torch.Tensor, resolution: int) -> ProxyRender:
    """The proxy of one sample (images [V, H, W, 4], poses [V, 3]) rendered at all V poses, R px."""
    photo, lift = images[0], dataset_lift(images.shape[1])
    estimate = estimator(photo)
    proxy = lift_photo(photo, estimate.front, estimate.back, estimate.valid, input_pose(float(poses[0, 0])), lift)
    return render_proxy_at_orbit(proxy, poses, resolution, chunk=len(poses))


def _manifest(dataset_dir: Path, shape_dir: Path, resolution: int) -> dict:
    meta = json.loads((dataset_dir / "meta.json").read_text())
    shape_config = json.loads((shape_dir_of(shape_dir) / "config.json").read_text())
    return {"format": FORMAT, "created_with": f"img2gs {img2gs.__version__}", "resolution": resolution,
            "dataset": {"folder": str(dataset_dir), "shards": meta.get("shards")},
            "shape_model": {"folder": str(shape_dir), "provenance": shape_config.get("provenance")},
            "lift": vars(dataset_lift(int(meta["resolution"]))),
            "arrays": {"rgba": "uint8 [S, V, R, R, 4]", "depth": "float16 [S, V, R, R]", "seen": "uint8 [S, V, R, R]"}}


def _same_settings(a: dict, b: dict) -> bool:
    same = all(a.get(k) == b.get(k) for k in ("format", "resolution", "shape_model", "lift"))
    return same and a.get("dataset", {}).get("shards") == b.get("dataset", {}).get("shards")


def spread_shards(count: int, wanted: int) -> list[int]:
    """`wanted` shard indices of `count`, evenly spread (shards follow the build order, one data source
    after another, so a spread subset keeps every source)."""
    if wanted >= count:
        return list(range(count))
    return sorted({int(round(k)) for k in np.linspace(0, count - 1, wanted)})


def build_proxy_views(dataset_dir: str | os.PathLike, shape_dir: str | os.PathLike, out_dir: str | os.PathLike,
                      resolution: int, max_train_shards: int | None = None, workers: int = 1,
                      progress: Callable[[int, int], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> Path | None:
    """Write (or continue writing) the proxy views of the dataset's val split and of `max_train_shards`
    of its train shards (all by default) into `out_dir`, `workers` shards at a time. Returns `out_dir`,
    or None when `should_stop()` turned true first (the shards written so far are kept: run it again)."""
    dataset_dir, shape_dir, out_dir = Path(dataset_dir), Path(shape_dir), Path(out_dir)
    manifest = _manifest(dataset_dir, shape_dir, resolution)
    existing = out_dir / MANIFEST
    if existing.is_file():
        if not _same_settings(json.loads(existing.read_text()), manifest):
            raise OutputError(f"{out_dir} holds proxy views made with other settings (dataset, shape model or "
                              "resolution); choose a new folder")
    elif out_dir.is_dir() and any(out_dir.iterdir()):
        raise OutputError(f"{out_dir} exists and is not a proxy-view folder; choose a new or empty folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(existing, json.dumps(manifest, indent=2) + "\n")
    jobs = []
    for split in ("val", "train"):
        dataset = ViewDataset(dataset_dir, split)
        chosen = range(len(dataset.paths))
        if split == "train" and max_train_shards is not None:
            chosen = spread_shards(len(dataset.paths), max_train_shards)
        jobs += [(str(dataset_dir), split, k, str(shape_dir), str(out_dir / dataset.paths[k].name), resolution)
                 for k in chosen if not (out_dir / dataset.paths[k].name).is_file()]
    for done in _build_shards(jobs, workers):
        if progress is not None:
            progress(done, len(jobs))
        if should_stop is not None and should_stop() and done < len(jobs):
            return None
    return out_dir


def _build_shards(jobs: list[tuple], workers: int) -> Iterator[int]:
    """Make the shards of `jobs`, yielding how many are done after each (stopping early is safe: every
    shard file is written atomically, and the pool's unfinished jobs are cancelled)."""
    if workers <= 1:
        for done, job in enumerate(jobs, 1):
            _build_shard(job)
            yield done
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)
    try:
        for done, _ in enumerate(pool.map(_build_shard, jobs), 1):
            yield done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's: it stops the pool
    torch.set_num_threads(1)


_ESTIMATOR: dict[str, object] = {}  # per worker process: shape folder -> ShapeEstimator


def _build_shard(job: tuple) -> None:
    dataset_dir, split, shard, shape_dir, target, resolution = job
    if shape_dir not in _ESTIMATOR:
        _ESTIMATOR[shape_dir] = ShapeEstimator.load(shape_dir)
    dataset = ViewDataset(dataset_dir, split)
    renders = [sample_proxy_views(_ESTIMATOR[shape_dir], dataset[i]["images"], dataset[i]["poses"], resolution)
               for i in dataset.shard_range(shard)]
    _write_shard(Path(target), renders)


def _write_shard(path: Path, renders: list[ProxyRender]) -> None:
    to_u8 = lambda t: (t.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).numpy()  # noqa: E731
    tensors = {"rgba": np.stack([to_u8(r.rgba) for r in renders]),
               "depth": np.stack([r.depth.numpy().astype(np.float16) for r in renders]),
               "seen": np.stack([to_u8(r.seen) for r in renders])}
    with atomic_path(path) as tmp:
        safetensors.numpy.save_file(tensors, str(tmp))


class ProxyViewStore:
    """The proxy views of one split, aligned with a ViewDataset: item i is the ProxyRender of sample i at
    all its V poses (float32; rgba and seen in [0, 1]). Only `indices` have them when the build chose a
    spread of the train shards."""

    def __init__(self, folder: str | os.PathLike, dataset: ViewDataset):
        self.folder = Path(folder)
        manifest_path = self.folder / MANIFEST
        if not manifest_path.is_file():
            raise DataFormatError(f"{self.folder}: not a proxy-view folder (no {MANIFEST}); make one with "
                                  "`img2gs train proxies`")
        self.manifest = json.loads(manifest_path.read_text())
        if self.manifest.get("format") != FORMAT:
            raise DataFormatError(f"{manifest_path}: format {self.manifest.get('format')!r}, expected {FORMAT!r}")
        if self.manifest.get("dataset", {}).get("shards") != dataset.meta.get("shards"):
            raise DataFormatError(f"{self.folder}: these proxy views were made for another dataset than "
                                  f"{dataset.folder}")
        self.dataset = dataset
        self.paths = [self.folder / p.name for p in dataset.paths]
        self.shards = [k for k, p in enumerate(self.paths) if p.is_file()]  # those built (all, or a spread)
        if not self.shards:
            raise DataFormatError(f"{self.folder}: no proxy views of the {dataset.split} split; make them with "
                                  "`img2gs train proxies`")
        self._handles: dict[int, object] = {}

    @property
    def indices(self) -> list[int]:
        """The dataset samples that have proxy views."""
        return [i for k in self.shards for i in self.dataset.shard_range(k)]

    @property
    def resolution(self) -> int:
        return int(self.manifest["resolution"])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> ProxyRender:
        shard, local = self.dataset.locate(index)
        if shard not in self.shards:
            raise DataFormatError(f"{self.folder}: sample {index} of the {self.dataset.split} split has no proxy "
                                  "views (its shard was not built)")
        if shard not in self._handles:
            self._handles[shard] = safe_open(str(self.paths[shard]), framework="pt")
        f = self._handles[shard]
        return ProxyRender(rgba=f.get_slice("rgba")[local].float() / 255.0,
                           depth=f.get_slice("depth")[local].float(),
                           seen=f.get_slice("seen")[local].float() / 255.0)

    def __getstate__(self) -> dict:  # handles are per process
        return {**self.__dict__, "_handles": {}}
