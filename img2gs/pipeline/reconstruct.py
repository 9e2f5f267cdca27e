"""Photo -> views -> splats -> files: what `img2gs reconstruct` runs.

    preprocess  load the photo, use its alpha or remove the background, frame it (camera contract)
    views       the view generator makes all target views in one batched pass per step
    fit         3DGS fit of the input photo (weighted higher) + generated views, visual-hull init
    export      .ply (+ mesh, views folder, turntable preview), each written atomically

Every output path is checked before any work starts, so a bad path fails in a second, not a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from img2gs.cameras import FOV_DEG, input_pose, intrinsics_from_fov, target_orbit
from img2gs.device import resolve_device
from img2gs.errors import CheckpointError, OutputError
from img2gs.image_io import load_image, resize_rgba
from img2gs.paths import find_default_checkpoint
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.pipeline.preprocess import preprocess_photo
from img2gs.posed_views import PosedViews, write_posed_views
from img2gs.presets import deep_update, from_dict, load_preset, read_preset, to_dict
from img2gs.splat.export_ply import save_ply
from img2gs.splat.fit import FitConfig, fit
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.mesh import extract_mesh, save_mesh
from img2gs.splat.turntable import save_turntable

STAGES = ("preprocess", "views", "fit", "export")


@dataclass(frozen=True)
class ReconstructConfig:
    """Options of `img2gs reconstruct`; presets in configs/reconstruct/{tiny,fast,default,quality}.json."""

    n_views: int = 12  # generated target views (8..16), all in one batched pass
    steps: int = 1  # consistency sampling steps (1..4)
    elevation: float | None = None  # input camera elevation in degrees; None: the contract default
    remove_background: bool = True  # only used when the photo has no alpha channel
    seed: int = 0
    photo_size: int = 256  # canvas of the framed photo
    fit_size: int = 96  # resolution the splats are fitted at (generated views are resized to it)
    input_view_weight: float = 4.0  # loss weight of the real photo relative to a generated view
    preview_frames: int = 36  # turntable frames of --preview
    preview_size: int = 256
    device: str = "auto"
    backend: str = "auto"
    fit: FitConfig = field(default_factory=FitConfig)  # includes the mesh options (fit.mesh)

    def __post_init__(self) -> None:
        if not 1 <= self.n_views <= 32:
            raise ValueError(f"n_views must be in 1..32, got {self.n_views}")
        if not 1 <= self.steps <= 4:
            raise ValueError(f"steps must be in 1..4, got {self.steps}")


def load_reconstruct_config(preset: str = "default", **overrides) -> ReconstructConfig:
    """Preset `preset` of configs/reconstruct/. Its "fit" entry may start from a splat preset:
    `"fit": {"preset": "fast", "iterations": 500}` is configs/splat/fast.json with 500 iterations."""
    values = read_preset(ReconstructConfig, "reconstruct", preset)
    fit = values.get("fit", {})
    if isinstance(fit, dict) and "preset" in fit:
        base = to_dict(load_preset(FitConfig, "splat", fit["preset"]))
        values["fit"] = deep_update(base, {k: v for k, v in fit.items() if k != "preset"})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return from_dict(ReconstructConfig, values, where=f"reconstruct preset {preset!r}")


@dataclass
class ReconstructReport:
    timings: dict[str, float]  # stage -> seconds
    outputs: ReconstructOutputs
    n_gaussians: int
    fit_stats: dict


StageCallback = Callable[[str], None]


@contextmanager
def _stage(name: str, timings: dict[str, float], on_stage: StageCallback | None) -> Iterator[None]:
    if on_stage is not None:
        on_stage(name)
    start = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def reconstruct(
    photo_path: str | Path,
    outputs: ReconstructOutputs,
    config: ReconstructConfig,
    *,
    model_dir: str | Path | None = None,
    on_stage: StageCallback | None = None,
) -> ReconstructReport:
    """Run the whole product on one photo. Raises Img2gsError subclasses for anything a user can fix."""
    outputs.check()
    device = resolve_device(config.device)
    model_dir = resolve_model_dir(model_dir)
    timings: dict[str, float] = {}
    with _stage("preprocess", timings, on_stage):
        photo = preprocess_photo(load_image(photo_path), config.photo_size,
                                 remove_background=config.remove_background)  # [S, S, 4]
    with _stage("views", timings, on_stage):
        views_generator = load_generator(model_dir, device)
        views = views_generator.generate_posed_views(
            photo, input_pose(config.elevation), target_orbit(config.n_views), steps=config.steps, seed=config.seed
        )
        fit_views = views_at_resolution(views, photo, config.fit_size)
    with _stage("fit", timings, on_stage):
        weights = torch.ones(len(fit_views))
        weights[0] = config.input_view_weight
        result = fit(fit_views, config.fit, backend=config.backend, device=device, view_weights=weights)
    with _stage("export", timings, on_stage):
        write_outputs(result.gaussians, views, outputs, config)
    return ReconstructReport(timings, outputs, len(result.gaussians), result.stats)


def resolve_model_dir(model_dir: str | Path | None) -> Path:
    if model_dir is not None:
        return Path(model_dir)
    found = find_default_checkpoint()
    if found is None:
        raise CheckpointError("no view-generator model found: pass --model DIR or set IMG2GS_MODEL "
                              "(see `img2gs info` for where models are looked for)")
    return found


# (checkpoint folder, device) -> ViewGenerator: a batch loads the model once per process.
_GENERATORS: dict[tuple[str, str], object] = {}


def load_generator(model_dir: Path, device: torch.device):
    """Load the view generator once per (folder, device) and process."""
    from img2gs.viewgen.generator import ViewGenerator  # diffusers is imported only when views are made

    key = (str(Path(model_dir).resolve()), str(device))
    if key not in _GENERATORS:
        _GENERATORS[key] = ViewGenerator.load(model_dir, device=device)
    return _GENERATORS[key]


def views_at_resolution(views: PosedViews, photo: Tensor, size: int) -> PosedViews:
    """The posed views resized to `size`, with frame 0 replaced by the full-resolution framed photo
    resampled to `size` (the generator sees the photo at its own, often lower, working resolution)."""
    images = resize_rgba(views.images, size)  # [N, size, size, 4]
    images[0] = resize_rgba(photo, size)
    K = intrinsics_from_fov(FOV_DEG, size, size).expand(len(views), 3, 3).clone()
    return PosedViews(images=images, c2w=views.c2w, K=K, names=views.names, splits=views.splits)


def write_outputs(gaussians: Gaussians, views: PosedViews, outputs: ReconstructOutputs,
                  config: ReconstructConfig) -> None:
    """Write every requested file atomically; NaN/Inf never reach a file."""
    if not gaussians.is_finite():
        raise OutputError("the fitted Gaussians contain NaN/Inf values; nothing was written")
    save_ply(outputs.ply, gaussians)
    if outputs.mesh is not None:
        save_mesh(outputs.mesh, extract_mesh(gaussians, config.fit.mesh, backend=config.backend))
    if outputs.views_dir is not None:
        write_posed_views(outputs.views_dir, views, extra={"generator": "img2gs", "steps": config.steps})
    if outputs.preview is not None:
        save_turntable(outputs.preview, gaussians, frames=config.preview_frames, size=config.preview_size,
                       elevation=input_pose(config.elevation).elevation, backend=config.backend)

