"""`img2gs reconstruct` (one photo) and `img2gs batch` (many): thin wrappers over img2gs.pipeline."""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from img2gs.cli.app import EXIT_USER_ERROR, FACES_HELP, HEIGHT_HELP, TEXTURE_HELP, command, console
from img2gs.image_header import image_size
from img2gs.pipeline.batch import BatchOutcome, OutputNaming, RayCluster, expand_inputs, run_batch
from img2gs.pipeline.outputs import ReconstructOutputs, check_height
from img2gs.splat.mesh_files import MESH_SUFFIXES
from img2gs.presets import with_overrides

if TYPE_CHECKING:  # the pipeline (torch, numba) is imported when a command runs, not when the CLI loads
    from img2gs.pipeline.reconstruct import ReconstructConfig, ReconstructReport

PRESET_HELP = "Speed/quality preset: fast | default | quality (configs/reconstruct/)."


VIEW_SOURCE_HELP = ("Target views: proxy (renders of the photo lifted to 3D by the shape stage) | generator "
                    "(the view generator, with the photo's seen pixels taken from the proxy).")
ELEVATION_HELP = "Camera elevation of the photo, degrees (default: estimated by the shape stage)."


def _config(preset: str, views: int | None, steps: int | None, elevation: float | None, no_remove_bg: bool,
            device: str, seed: int | None, view_source: str | None = None, faces: int | None = None
            ) -> ReconstructConfig:
    from img2gs.pipeline.reconstruct import load_reconstruct_config

    config = load_reconstruct_config(preset)
    try:
        if faces is not None:
            fit = config.fit
            config = dataclasses.replace(config, fit=dataclasses.replace(fit, mesh=dataclasses.replace(
                fit.mesh, max_faces=faces)))
        return with_overrides(config, n_views=views, steps=steps, elevation=elevation, device=device, seed=seed,
                              remove_background=False if no_remove_bg else None, view_source=view_source)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


@command(name="reconstruct")
def reconstruct_command(
    photo: Path = typer.Argument(..., help="The photo of an object (PNG/JPEG/WebP/TIFF; alpha is used if present)."),
    output: Path = typer.Option(..., "-o", "--output", help="The Gaussian-splat scene to write (.ply)."),
    mesh: Path | None = typer.Option(None, "--mesh", help="Also write a mesh (.glb, .obj or .ply)."),
    faces: int | None = typer.Option(None, "--faces", min=0, help=FACES_HELP),
    texture: bool = typer.Option(True, "--texture/--no-texture", help=TEXTURE_HELP),
    height: float | None = typer.Option(None, "--height", help=HEIGHT_HELP),
    views_dir: Path | None = typer.Option(None, "--views-dir", help="Also write the generated views + transforms.json."),
    preview: Path | None = typer.Option(None, "--preview", help="Also write a preview: a turntable (.gif) or a "
                                        "self-contained page (.html: photo, views, the mesh orbiting in 3D)."),
    preset: str = typer.Option("default", "--preset", help=PRESET_HELP),
    views: int | None = typer.Option(None, "--views", min=8, max=16, help="Number of generated views."),
    steps: int | None = typer.Option(None, "--steps", min=1, max=4, help="Consistency sampling steps."),
    elevation: float | None = typer.Option(None, "--elevation", help=ELEVATION_HELP),
    view_source: str | None = typer.Option(None, "--view-source", help=VIEW_SOURCE_HELP),
    no_remove_bg: bool = typer.Option(False, "--no-remove-bg", help="Keep the background (photos without alpha)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    seed: int | None = typer.Option(None, "--seed", help="Random seed of the view generator and fitter."),
    model: Path | None = typer.Option(None, "--model",
                                      help="Model folder: shape stage (shape/) + view generator (default: shipped)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing outputs."),
) -> None:
    """Turn one photo of an object into a 3D Gaussian-splat scene (and optionally a mesh)."""
    image_size(photo)  # a missing, empty or unreadable photo is refused before the pipeline (torch) loads
    from img2gs.pipeline.reconstruct import reconstruct

    config = _config(preset, views, steps, elevation, no_remove_bg, device, seed, view_source, faces)
    outputs = ReconstructOutputs(ply=output, mesh=mesh, views_dir=views_dir, preview=preview, force=force,
                                 mesh_texture=texture, mesh_height=height)
    with console.status("starting") as status:
        report = reconstruct(photo, outputs, config, model_dir=model,
                             on_stage=lambda stage: status.update(f"{stage} ..."))
    _print_report(report)


def _print_report(report: ReconstructReport) -> None:
    from img2gs.pipeline.reconstruct import STAGES

    table = Table(title="stages", title_justify="left")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage in STAGES:
        table.add_row(stage, f"{report.timings.get(stage, 0.0):.1f}")
    table.add_row("[bold]total[/]", f"[bold]{sum(report.timings.values()):.1f}[/]")
    console.print(table)
    console.print(f"{report.n_gaussians} Gaussians ({report.fit_stats.get('floaters_removed', 0)} floaters removed); "
                  f"photo elevation {report.elevation:.1f} deg "
                  f"({'estimated' if report.elevation_estimated else 'given'})")
    for label, path in (("scene", report.outputs.ply), ("mesh", report.outputs.mesh),
                        ("views", report.outputs.views_dir), ("preview", report.outputs.preview)):
        if path is not None:
            console.print(f"{label:>8}: {path}")


def _convert(photo: Path, outputs: ReconstructOutputs, config: ReconstructConfig, model: Path | None,
             on_stage=None) -> None:
    from img2gs.pipeline.reconstruct import reconstruct

    stage_callback = None if on_stage is None else (lambda stage: on_stage(f"{photo.name}: {stage}"))
    reconstruct(photo, outputs, config, model_dir=model, on_stage=stage_callback)


def _limit_threads(jobs: int) -> None:
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))


@command()
def batch(
    inputs: list[str] = typer.Argument(..., help='Photos or glob patterns, e.g. "photos/*.jpg" (quote globs).'),
    out_dir: Path = typer.Option(..., "-o", "--output-dir",
                                 help="Folder for the outputs (<stem>.ply, ...; <stem>_<ext>.ply where stems clash)."),
    mesh_format: str | None = typer.Option(None, "--mesh", help="Also write <stem>_mesh.FORMAT: glb | obj | ply."),
    faces: int | None = typer.Option(None, "--faces", min=0, help=FACES_HELP),
    texture: bool = typer.Option(True, "--texture/--no-texture", help=TEXTURE_HELP),
    height: float | None = typer.Option(None, "--height", help=HEIGHT_HELP),
    save_views: bool = typer.Option(False, "--views-dir", help="Also write <stem>_views/ with the generated views."),
    preview: bool = typer.Option(False, "--preview", help="Also write <stem>_turntable.gif."),
    page: bool = typer.Option(False, "--page", help="Also write <stem>_preview.html, the self-contained preview "
                              "page (photo, views, the mesh orbiting in 3D); instead of --preview."),
    jobs: int = typer.Option(1, "--jobs", min=1, help="Photos converted in parallel (processes; with --ray: "
                             "the CPUs of the local Ray)."),
    ray: bool = typer.Option(False, "--ray", help="One Ray task per photo (pip install 'img2gs[ray]'): a local "
                             "Ray, or the cluster of --ray-address."),
    ray_address: str | None = typer.Option(None, "--ray-address", help="Ray cluster address (auto, "
                                           "ray://HOST:10001); implies --ray."),
    preset: str = typer.Option("default", "--preset", help=PRESET_HELP),
    views: int | None = typer.Option(None, "--views", min=8, max=16, help="Number of generated views."),
    steps: int | None = typer.Option(None, "--steps", min=1, max=4, help="Consistency sampling steps."),
    elevation: float | None = typer.Option(None, "--elevation", help=ELEVATION_HELP),
    view_source: str | None = typer.Option(None, "--view-source", help=VIEW_SOURCE_HELP),
    no_remove_bg: bool = typer.Option(False, "--no-remove-bg", help="Keep the background (photos without alpha)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    model: Path | None = typer.Option(None, "--model", help="Model folder (shape stage + view generator)."),
    force: bool = typer.Option(False, "--force", help="Redo photos whose outputs exist."),
) -> None:
    """Convert many photos; goes on past bad files and ends with a summary (exit 0 only if all succeeded)."""
    formats = [suffix.lstrip(".") for suffix in MESH_SUFFIXES]
    if mesh_format is not None and mesh_format.lower().lstrip(".") not in formats:
        raise typer.BadParameter(f"--mesh must be {', '.join(formats)}")
    check_height(height)
    if page and preview:
        raise typer.BadParameter("--page and --preview both name the one preview of a photo: choose one")
    config = _config(preset, views, steps, elevation, no_remove_bg, device, seed, view_source, faces)
    photos = expand_inputs(inputs)
    if not photos:
        raise typer.BadParameter(f"no files match {' '.join(inputs)}")
    naming = OutputNaming(mesh_format=mesh_format.lower().lstrip(".") if mesh_format else None,
                          save_views=save_views, preview=preview, page=page, mesh_texture=texture,
                          mesh_height=height)
    naming.plan(photos, out_dir)  # output-name clashes are an error before any work (run_batch checks too)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("converting", total=len(photos))
        # with one job the stages are shown live; worker processes report per photo only
        use_ray = ray or ray_address is not None
        on_stage = (lambda text: progress.update(task, description=text)) if jobs == 1 and not use_ray else None
        convert = functools.partial(_convert, config=config, model=model, on_stage=on_stage)

        def on_outcome(outcome: BatchOutcome) -> None:
            progress.advance(task)
            progress.update(task, description=f"{outcome.status}: {outcome.photo.name}")

        cluster = RayCluster(address=ray_address, local_cpus=jobs) if use_ray else None
        outcomes = run_batch(photos, out_dir, naming, convert, force=force, jobs=jobs, on_outcome=on_outcome,
                             worker_init=None if use_ray else functools.partial(_limit_threads, jobs), ray=cluster)
    _print_summary(outcomes)
    if any(o.status == "failed" for o in outcomes):
        raise typer.Exit(EXIT_USER_ERROR)


def _print_summary(outcomes: list[BatchOutcome]) -> None:
    table = Table(title="batch summary", title_justify="left")
    table.add_column("photo", overflow="fold")
    table.add_column("status")
    table.add_column("seconds", justify="right")
    table.add_column("reason", overflow="fold")
    style = {"ok": "green", "failed": "red", "skipped": "yellow"}
    for o in outcomes:
        table.add_row(str(o.photo), f"[{style[o.status]}]{o.status}[/]", f"{o.seconds:.1f}", o.reason)
    console.print(table)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "failed", "skipped")}
    console.print(f"{counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped")
