"""`img2gs data build`: render the view generator's training set (procedural objects + mesh folders)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from img2gs.cli.app import EXIT_INTERRUPTED, command, console, data_app, err_console
from img2gs.presets import load_preset


@command(data_app, name="build")
def build(
    output: Path = typer.Option(..., "--output", "-o", help="Dataset folder to create."),
    preset: str = typer.Option("cpu", help="Data preset (configs/data/*.json) or a path to a .json file."),
    meshes: Path | None = typer.Option(None, help="Folder of meshes (OBJ/GLB/PLY/OFF, Sweet Home 3D catalogs)."),
    workers: int = typer.Option(1, min=1, help="Parallel worker processes."),
    seed: int | None = typer.Option(None, help="Override the preset's seed."),
    procedural: int | None = typer.Option(None, help="Override the number of procedural objects."),
    force: bool = typer.Option(False, "--force", help="Replace an existing output folder (and start a stopped "
                               "build over)."),
) -> None:
    """Render objects by the framing contract into safetensors shards + meta.json. Ctrl-C (or SIGTERM)
    saves the progress in OUTPUT.partial/; the same command continues it."""
    from img2gs.data import DataBuildConfig, build_dataset
    from img2gs.training.loop import StopRequest

    config = load_preset(DataBuildConfig, "data", preset, seed=seed, procedural_objects=procedural)
    start = time.perf_counter()
    columns = (TextColumn("rendering objects"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("build", total=None)

        def on_object(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with StopRequest() as stop:
            meta = build_dataset(config, output, meshes=meshes, workers=workers, force=force, on_object=on_object,
                                 should_stop=lambda: stop.requested)
    if meta is None:
        err_console.print(f"stopped; the build so far is saved in {output}.partial (run the same command to "
                          "continue it)")
        raise typer.Exit(EXIT_INTERRUPTED)
    counts = meta["counts"]
    console.print(
        f"wrote {output}: {counts['train']['samples']} train / {counts['val']['samples']} val samples "
        f"({counts['train']['objects']} / {counts['val']['objects']} objects), {meta['views_per_sample']} views at "
        f"{meta['resolution']}px, {counts['clamped_samples']} framing clamps, "
        f"{sum(counts['skipped_meshes'].values())} meshes skipped, in {time.perf_counter() - start:.1f} s"
    )
