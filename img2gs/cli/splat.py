"""`img2gs fit` (posed views -> 3DGS .ply [+ mesh]) and `img2gs render` (a .ply -> PNGs or a turntable)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from img2gs.atomic import check_output_folder, check_output_path
from img2gs.cli.app import FACES_HELP, HEIGHT_HELP, TEXTURE_HELP, command, console
from img2gs.errors import DataFormatError, OutputError
from img2gs.pipeline.outputs import check_height
from img2gs.limits import RENDER_SIDE, VIEW_BYTES
from img2gs.presets import load_preset, save_config

# torch, numba and the splat package are imported inside the commands: loading the CLI stays light


@command()
def fit(
    data_dir: Path = typer.Argument(..., help="Folder with transforms.json (nerfstudio) or transforms_train.json."),
    output: Path = typer.Option(..., "-o", "--output", help="The 3DGS .ply to write."),
    mesh: Path | None = typer.Option(None, "--mesh", help="Also write a mesh (.glb, .obj or .ply)."),
    faces: int | None = typer.Option(None, "--faces", min=0, help=FACES_HELP),
    texture: bool = typer.Option(True, "--texture/--no-texture", help=TEXTURE_HELP),
    height: float | None = typer.Option(None, "--height", help=HEIGHT_HELP),
    iters: int | None = typer.Option(None, "--iters", min=0, help="Optimisation steps (default: the preset's)."),
    preset: str = typer.Option("default", "--preset", help="Fit preset: tiny, fast, default, quality, or a .json."),
    backend: str = typer.Option("auto", "--backend", help="Rasterizer: auto, gsplat, cpu or torch."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: the preset's)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Fit 3D Gaussians to posed RGBA views; report held-out PSNR/SSIM when the data has a test split.

    Also writes the resolved fit config beside the .ply as <name>.fit.json."""
    from img2gs.device import resolve_device
    from img2gs.posed_views import read_posed_views
    from img2gs.splat.backends import resolve_backend
    from img2gs.splat.export_ply import save_ply
    from img2gs.splat.fit import FitConfig, evaluate
    from img2gs.splat.export_mesh import write_mesh
    from img2gs.pipeline.outputs import check_output_files
    from img2gs.splat.mesh_files import MESH_SUFFIXES, mesh_files

    if output.suffix.lower() != ".ply":
        raise OutputError(f"{output}: the splat output must be a .ply file")
    if mesh is not None and mesh.suffix.lower() not in MESH_SUFFIXES:
        raise OutputError(f"{mesh}: unsupported mesh format (use one of {', '.join(MESH_SUFFIXES)})")
    fit_config = fit_config_path(output)
    # the side file follows the same rule as the .ply, before any work
    check_output_files([output, *(mesh_files(mesh, texture) if mesh is not None else []), fit_config], force)
    check_height(height)
    config = load_preset(FitConfig, "splat", preset, iterations=iters, seed=seed)
    if faces is not None:
        config = dataclasses.replace(config, mesh=dataclasses.replace(config.mesh, max_faces=faces))
    torch_device = resolve_device(device)
    backend_name = resolve_backend(backend, torch_device)
    views = read_posed_views(data_dir)
    train = views.subset("train") if "train" in views.splits else views
    test = views.subset("test")
    if len(train) == 0:
        raise DataFormatError(f"{data_dir}: no training views")
    console.print(f"fitting {len(train)} views ({train.width}x{train.height}), preset {preset!r}, "
                  f"{config.iterations} steps, backend {backend_name} on {torch_device}")
    result = _fit_with_progress(train, config, backend_name, torch_device)
    gaussians = result.gaussians
    save_ply(output, gaussians)
    save_config(config, fit_config)
    console.print(f"wrote {output} ({len(gaussians)} Gaussians, {result.stats['wall_s']:.1f} s, "
                  f"{result.stats['it_per_s']:.1f} it/s)")
    if mesh is not None:
        start = time.perf_counter()
        write_mesh(mesh, gaussians, config.mesh, backend=backend_name, texture=texture, height=height)
        console.print(f"wrote {mesh} ({time.perf_counter() - start:.1f} s)")
    if len(test) > 0:
        scores = evaluate(gaussians, test, backend=backend_name)
        console.print(f"held-out views ({len(test)}): PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}")


def fit_config_path(output: Path) -> Path:
    """The side file `fit` writes its resolved config to: `scene.ply` -> `scene.fit.json`."""
    return output.with_name(output.stem + ".fit.json")


def _fit_with_progress(views, config, backend: str, device):
    from img2gs.splat.fit import fit

    columns = (TextColumn("[bold]fit"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("fit", total=config.iterations, stats="")
        first: list[float] = []  # time of the first step (initialisation excluded from it/s)

        def on_step(p) -> None:
            if not first:
                first.append(time.perf_counter())
            rate = (p.step - 1) / max(time.perf_counter() - first[0], 1e-9)
            stats = f"loss {p.loss:.4f}  PSNR {p.psnr:5.2f}  #G {p.n_gaussians}  {rate:.1f} it/s"
            progress.update(task, completed=p.step, stats=stats)

        return fit(views, config, backend=backend, device=device, callback=on_step)


@command()
def render(
    scene: Path = typer.Argument(..., help="A 3DGS .ply (Inria layout)."),
    output: Path = typer.Option(..., "-o", "--output",
                                help="Output folder (PNGs + transforms.json, merged into) or .gif/.mp4 (--turntable)."),
    cameras: Path | None = typer.Option(None, "--cameras", help="transforms.json or its folder: one PNG per camera."),
    turntable: int | None = typer.Option(None, "--turntable", min=1, help="Frames of an orbit animation."),
    size: int = typer.Option(512, "--size", min=8, help="Turntable frame size in pixels (at most 8192)."),
    elevation: float = typer.Option(20.0, "--elevation", help="Turntable elevation in degrees."),
    backend: str = typer.Option("auto", "--backend", help="Rasterizer: auto, gsplat, cpu or torch."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda[:N]."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Render a .ply from the cameras of a transforms.json (RGBA PNGs) or as a turntable (.gif/.mp4)."""
    from img2gs.device import resolve_device
    from img2gs.splat.backends import resolve_backend
    from img2gs.splat.export_ply import load_ply
    from img2gs.splat.turntable import TURNTABLE_SUFFIXES

    if (cameras is None) == (turntable is None):
        raise typer.BadParameter("give exactly one of --cameras or --turntable")
    if turntable is not None and output.suffix.lower() not in TURNTABLE_SUFFIXES:
        raise OutputError(f"{output}: a turntable is written as .gif or .mp4")
    views = None
    if cameras is not None:
        views = _camera_outputs(cameras, output)
        _check_render_size(len(views[0].names), views[0].width, views[0].height, str(cameras))
        check_output_folder(output, force)  # merged into: only the files render writes are replaced
    else:
        _check_render_size(turntable, size, size, "--turntable/--size")
        check_output_path(output, force)
    if output.suffix.lower() == ".mp4":
        from img2gs.optional import require

        require("imageio_ffmpeg", "writing .mp4 turntables")
    torch_device = resolve_device(device)
    backend_name = resolve_backend(backend, torch_device)
    gaussians = load_ply(scene).to(torch_device)
    if views is not None:
        _render_cameras(gaussians, views, output, backend_name)
    else:
        _render_turntable(gaussians, turntable, size, elevation, output, backend_name)


def _check_render_size(frames: int, width: int, height: int, subject: str) -> None:
    """Refuse renders larger than the limits (img2gs.limits) before any work."""
    RENDER_SIDE.check(max(width, height), f"{subject}: render size {width}x{height}", OutputError)
    VIEW_BYTES.check(4 * frames * width * height, f"{subject}: {frames} renders of {width}x{height}", OutputError)


def _camera_outputs(cameras: Path, output: Path):
    """The cameras to render and the PNG name of each (`<frame stem>.png`), checked before any work:
    names must differ, and no file render writes may be one of its inputs."""
    from img2gs.posed_views import TRANSFORMS
    from img2gs.posed_views import read_cameras

    camera_folder = cameras.parent if cameras.is_file() else cameras
    if output.resolve() == camera_folder.resolve():
        raise OutputError(f"{output} is the folder of --cameras; write the renders to another folder")
    views = read_cameras(cameras)
    names = [f"{Path(name).stem}.png" for name in views.names]
    if len(set(names)) != len(names):
        clash = next(n for n in names if names.count(n) > 1)
        raise OutputError(f"{cameras}: two cameras would both be rendered to {clash} (frame names must differ)")
    inputs = {cameras.resolve() if cameras.is_file() else (camera_folder / TRANSFORMS).resolve()}
    for name in views.names:
        frame = camera_folder / name
        inputs |= {frame.resolve(), frame.with_name(frame.name + ".png").resolve()}
    for name in [*names, TRANSFORMS]:
        if (output / name).resolve() in inputs:
            raise OutputError(f"{output / name} is an input of --cameras; write the renders to another folder")
    return views, names


def _render_cameras(gaussians, cameras, output: Path, backend: str) -> None:
    from img2gs.posed_views import PosedViews, write_posed_views
    from img2gs.splat.render import render_rgba

    views, names = cameras
    images = render_rgba(gaussians, views.c2w, views.K, views.width, views.height, backend=backend)
    rendered = PosedViews(images=images, c2w=views.c2w.cpu(), K=views.K.cpu(), names=names)
    write_posed_views(output, rendered, extra={"img2gs": {"rendered": True}})
    console.print(f"wrote {len(images)} images and transforms.json to {output}")


def _render_turntable(gaussians, frames: int, size: int, elevation: float, output: Path, backend: str) -> None:
    from img2gs.splat.turntable import save_turntable

    save_turntable(output, gaussians, frames=frames, size=size, elevation=elevation, backend=backend)
    console.print(f"wrote {output} ({frames} frames)")