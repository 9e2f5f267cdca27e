"""Photo -> 3D proxy -> views -> splats -> files: what `img2gs reconstruct` runs.

    preprocess  load the photo, use its alpha or remove the background, frame it (camera contract)
    shape       the shape stage predicts the photo's front / back depth and camera elevation; the
                photo's pixels are lifted onto them as coloured Gaussians (img2gs.proxy)
    views       target views at the orbit poses: the proxy's renders, or the view generator's views
                with every pixel the photo sees taken from the proxy (pipeline/fit_views.py)
    fit         3DGS fit starting FROM the proxy, to the photo at full resolution (weighted higher)
                and the target views
    mesh        (when a mesh or a preview page is asked for) the Gaussians' mesh: TSDF fusion, marching
                cubes, decimation, UV atlas and baked texture, and the mesh file
    export      floaters removed, .ply (+ views folder, preview: a turntable .gif or a self-contained
                .html page), each written atomically

Every output path is checked before any work starts, so a bad path fails in a second, not a minute.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch

from img2gs.cameras import OrbitPose, input_pose, target_orbit
from img2gs.device import resolve_device
from img2gs.errors import ImageInputError, Img2gsError, OutputError, StageError
from img2gs.image_io import load_image, resize_rgba
from img2gs.paths import resolve_model_dir
from img2gs.pipeline.fit_views import VIEW_SOURCES, blend_seen, concat_views, photo_tiles, proxy_target_views
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.pipeline.preprocess import preprocess_photo
from img2gs.posed_views import PosedViews, write_posed_views
from img2gs.presets import deep_update, from_dict, load_preset, read_preset, save_config, to_dict
from img2gs.preview.page import write_preview_page
from img2gs.proxy.lift import LiftConfig, LiftedProxy, lift_photo
from img2gs.splat.export_mesh import save_mesh
from img2gs.splat.export_ply import save_ply
from img2gs.splat.fit import FitConfig, fit
from img2gs.splat.floaters import FloaterConfig, remove_floaters
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.mesh import extract_mesh
from img2gs.splat.mesh_files import is_textured
from img2gs.splat.turntable import save_turntable

# Elevations the shape stage was trained on (data/config.py input_elevation_deg), widened a little:
# an estimate outside them is clamped.
ESTIMATED_ELEVATION_RANGE = (-15.0, 50.0)

STAGES = ("preprocess", "shape", "views", "fit", "mesh", "export")  # "mesh": extraction + mesh file


@dataclass(frozen=True)
class ReconstructConfig:
    """Options of `img2gs reconstruct`; presets in configs/reconstruct/{tiny,fast,default,quality}.json."""

    n_views: int = 12  # target views (8..16); generated ones come in one batched pass
    steps: int = 1  # consistency sampling steps (1..4), view_source "generator"
    elevation: float | None = None  # input camera elevation in degrees; None: the shape stage's estimate
    view_source: str = "proxy"  # "proxy" | "generator" (pipeline/fit_views.py)
    remove_background: bool = True  # only used when the photo has no alpha channel
    reframe: bool = True  # False: the photo is square and framed by the camera contract already (renders
    #                       of the data builder, for benchmarks); it is only resized
    seed: int = 0
    photo_size: int = 256  # canvas of the framed photo; the fit sees it at this full resolution
    fit_size: int = 128  # side of every fitted view (target views; the photo comes in tiles of it)
    input_view_weight: float = 4.0  # loss weight of each photo tile relative to a target view
    lift: LiftConfig = field(default_factory=LiftConfig)  # the proxy whose renders are the target views
    init_lift: LiftConfig = field(default_factory=lambda: LiftConfig(size=64, max_fill=4))  # the fit's start:
    #   the same layers lifted coarser (4x fewer columns, Gaussians sized to match): the fit's cost grows
    #   with the number of Gaussians, and it adds detail where the photo has it
    preview_frames: int = 36  # turntable frames of --preview
    preview_size: int = 256
    device: str = "auto"
    backend: str = "auto"
    fit: FitConfig = field(default_factory=FitConfig)  # includes the mesh options (fit.mesh)
    floaters: FloaterConfig = field(default_factory=FloaterConfig)  # removed before export (splat/floaters.py)

    def __post_init__(self) -> None:
        if not 1 <= self.n_views <= 32:
            raise ValueError(f"n_views must be in 1..32, got {self.n_views}")
        if not 1 <= self.steps <= 4:
            raise ValueError(f"steps must be in 1..4, got {self.steps}")
        if self.view_source not in VIEW_SOURCES:
            raise ValueError(f"view_source must be one of {', '.join(VIEW_SOURCES)}, got {self.view_source!r}")
        if self.elevation is not None and not (math.isfinite(self.elevation) and abs(self.elevation) <= 89.0):
            raise ValueError(f"elevation must be a number of degrees in [-89, 89], got {self.elevation}")


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
    elevation: float  # degrees, of the photo's camera as used
    elevation_estimated: bool  # True when the shape stage chose it (no --elevation)


StageCallback = Callable[[str], None]


@contextmanager
def _stage(name: str, timings: dict[str, float], on_stage: StageCallback | None, subject: str = "") -> Iterator[None]:
    """Time stage `name`; an unexpected failure inside it becomes a StageError naming the stage and
    `subject` (the input), so the user reads one line, not a traceback (the cause stays chained)."""
    if on_stage is not None:
        on_stage(name)
    start = time.perf_counter()
    try:
        yield
    except (Img2gsError, OSError):
        raise
    except MemoryError:
        raise StageError(f"{subject}: the {name} stage ran out of memory (try --preset fast)") from None
    except Exception as e:  # noqa: BLE001 - anything else is a bug; say where it happened
        raise StageError(f"{subject}: the {name} stage failed unexpectedly ({type(e).__name__}: {e}); "
                         "this is a bug in img2gs, please report it with the photo") from e
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
    with _stage("preprocess", timings, on_stage, str(photo_path)):
        photo = prepare_photo(photo_path, config)  # [S, S, 4]
    with _stage("shape", timings, on_stage, str(photo_path)):
        (proxy, start), pose = lift_to_proxy(photo, config, model_dir, device, (config.lift, config.init_lift))
    with _stage("views", timings, on_stage, str(photo_path)):
        targets = target_orbit(config.n_views)
        target_views, render = proxy_target_views(proxy, targets, config.fit_size, backend=config.backend)
        if config.view_source == "generator":
            generated = generate_views(load_generator(model_dir, device), photo, pose, targets, proxy, config)
            target_views = dataclasses.replace(target_views, images=blend_seen(generated, render))
        tiles = photo_tiles(photo, pose, config.fit_size)
        fit_views = concat_views(tiles, target_views)
    with _stage("fit", timings, on_stage, str(photo_path)):
        weights = torch.ones(len(fit_views))
        weights[: len(tiles)] = config.input_view_weight
        result = fit(fit_views, config.fit, backend=config.backend, device=device, view_weights=weights,
                     init=start.gaussians)
    with _stage("export", timings, on_stage, str(photo_path)):
        views = concat_views(photo_tiles(resize_rgba(photo, config.fit_size), pose, config.fit_size), target_views)
        gaussians, removed = remove_floaters(result.gaussians, views, trusted=1, config=config.floaters)  # 0: photo
        write_splats(gaussians, outputs)
    mesh = None
    if outputs.mesh is not None or outputs.preview_is_page:
        with _stage("mesh", timings, on_stage, str(photo_path)):
            mesh = write_mesh_output(gaussians, outputs, config)
    with _stage("export", timings, on_stage, str(photo_path)):
        facts = {"photo": Path(photo_path).name, "Gaussians": f"{len(gaussians):,}",
                 "elevation": f"{pose.elevation:.1f} deg ({'given' if config.elevation is not None else 'estimated'})",
                 "target views": f"{len(target_views)} ({config.view_source})"}
        write_outputs(gaussians, views, outputs, config, pose, PagePreview(photo, target_views.images, facts), mesh)
        save_config(config, outputs.config_file, comment=(
            f"img2gs reconstruct of {Path(photo_path).name} with the model {model_dir}: every option resolved "
            f"(--preset this file repeats the run); elevation {pose.elevation:.2f} deg "
            f"({'given' if config.elevation is not None else 'estimated'})"))
    return ReconstructReport(timings, outputs, len(gaussians), {**result.stats, "floaters_removed": removed},
                             pose.elevation, config.elevation is None)


def prepare_photo(photo_path: str | Path, config: ReconstructConfig) -> torch.Tensor:
    """The framed photo [S, S, 4]: background removed and framed by the camera contract (or, with
    `config.reframe` False, a square photo framed already, only resized)."""
    image = load_image(photo_path)
    if config.reframe:
        return preprocess_photo(image, config.photo_size, remove_background=config.remove_background)
    if image.shape[0] != image.shape[1] or image.shape[-1] != 4:
        raise ImageInputError(f"{photo_path}: a photo used without reframing must be a square RGBA image")
    return resize_rgba(image, config.photo_size)


def lift_to_proxy(photo: torch.Tensor, config: ReconstructConfig, model_dir: Path, device: torch.device,
                  lifts: tuple[LiftConfig, ...]) -> tuple[list[LiftedProxy], OrbitPose]:
    """The shape stage on the framed photo, then one lift per config: (proxies, the photo's camera pose)."""
    estimate = load_shape_estimator(model_dir, device)(photo)
    if config.elevation is not None:
        elevation = config.elevation
    else:
        elevation = min(max(estimate.elevation, ESTIMATED_ELEVATION_RANGE[0]), ESTIMATED_ELEVATION_RANGE[1])
    pose = input_pose(elevation)
    return [lift_photo(photo, estimate.front, estimate.back, estimate.valid, pose, lift) for lift in lifts], pose


def generate_views(generator, photo: torch.Tensor, pose: OrbitPose, targets: list[OrbitPose], proxy: LiftedProxy,
                   config: ReconstructConfig) -> torch.Tensor:
    """The view generator's views [V, R, R, 4] at `targets`, conditioned on the proxy rendered at the
    generator's resolution when the generator is a proxy-conditioned one."""
    condition = None
    if generator.needs_proxy:
        _, condition = proxy_target_views(proxy, targets, generator.resolution, backend=config.backend)
    return generator.generate(photo, pose, targets, steps=config.steps, seed=config.seed, proxy=condition)


def load_shape_estimator(model_dir: Path, device: torch.device):
    """The shape stage of a model folder (its shape/ subfolder), loaded once per process."""
    from img2gs.shape.estimator import ShapeEstimator

    return ShapeEstimator.cached(model_dir, device)


def load_generator(model_dir: Path, device: torch.device):
    """The view generator of a model folder, loaded once per process."""
    from img2gs.viewgen.generator import ViewGenerator  # diffusers is imported only when views are made

    return ViewGenerator.cached(model_dir, device)


@dataclass(frozen=True)
class PagePreview:
    """What the preview page shows beside the mesh."""

    photo: torch.Tensor  # [S, S, 4] the framed photo
    views: torch.Tensor  # [V, R, R, 4] the target views of the fit
    facts: dict[str, str]


def write_splats(gaussians: Gaussians, outputs: ReconstructOutputs) -> None:
    """The splat .ply, atomically; NaN/Inf never reach a file."""
    if not gaussians.is_finite():
        raise OutputError("the fitted Gaussians contain NaN/Inf values; nothing was written")
    save_ply(outputs.ply, gaussians)


def write_mesh_output(gaussians: Gaussians, outputs: ReconstructOutputs, config: ReconstructConfig):
    """The Gaussians' mesh (textured unless the mesh file says otherwise), written to the mesh file if one
    was asked for; extracted once, for the mesh file and the preview page alike."""
    textured = is_textured(outputs.mesh, outputs.mesh_texture) if outputs.mesh is not None else True
    mesh = extract_mesh(gaussians, config.fit.mesh, backend=config.backend, textured=textured)
    if outputs.mesh is not None:
        save_mesh(outputs.mesh, mesh, height=outputs.mesh_height)
    return mesh


def write_outputs(gaussians: Gaussians, views: PosedViews, outputs: ReconstructOutputs, config: ReconstructConfig,
                  pose: OrbitPose, page: PagePreview | None = None, mesh=None) -> None:
    """The views folder and the preview (a page showing `mesh`, or a turntable), each atomically."""
    if outputs.views_dir is not None:
        write_posed_views(outputs.views_dir, views, extra={"generator": "img2gs", "view_source": config.view_source,
                                                           "steps": config.steps, "elevation": pose.elevation})
    if outputs.preview_is_page:
        if page is None:
            raise ValueError("a preview page needs the photo and views it shows")
        write_preview_page(outputs.preview, page.facts.get("photo", outputs.ply.stem), page.photo, page.views, mesh,
                           {**page.facts, "mesh faces": f"{len(mesh.faces):,}"})
    elif outputs.preview is not None:
        save_turntable(outputs.preview, gaussians, frames=config.preview_frames, size=config.preview_size,
                       elevation=pose.elevation, backend=config.backend)

