"""Shape-stage commands: `train shape`, `eval shape`. Thin: parse options -> config -> img2gs.shape."""

from __future__ import annotations

from pathlib import Path

import typer

from img2gs.cli.app import command, console, eval_app, train_app
from img2gs.cli.viewgen import _run_folder, _train, _with_steps

PRESET_HELP = "Shape-stage preset: tiny | cpu (configs/shape/) or a path to a .json file."


@command(train_app, name="shape")
def train_shape_command(
    data: list[Path] = typer.Option(..., "--data", help="Dataset folder from `img2gs data build` (format 2: depth "
                                    "layers); repeat it to train on several builds as one."),
    output: Path = typer.Option(..., "-o", "--output", help="Run folder (checkpoint/, log.jsonl, training_options.json)."),
    preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Override the preset's number of steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue a stopped run from its checkpoint (same config)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    force: bool = typer.Option(False, "--force", help="Start over in an existing run folder."),
    init: Path | None = typer.Option(None, "--init", help="Start from this shape run's weights (fine-tuning)."),
) -> None:
    """Train the shape stage (photo -> front / back depth + elevation); Ctrl-C saves a checkpoint."""
    from img2gs.device import resolve_device
    from img2gs.shape.config import ShapeTrainConfig, load_shape_preset
    from img2gs.shape.train import train_shape
    from img2gs.data import load_shards
    from img2gs.training.loop import load_run_config

    _run_folder(output, resume, force)
    config = load_run_config(output, ShapeTrainConfig) if resume else load_shape_preset(preset)
    config = _with_steps(config, steps)
    dataset = load_shards(data, config.loop.data_split)
    dev = resolve_device(device)
    _train("shape stage", lambda report: train_shape(config, dataset, output, resume=resume, device=dev,
                                                     provenance={"data": ", ".join(map(str, data))}, report=report,
                                                     init=init),
           config.loop.steps, output,
           f"shape stage: {len(dataset)} samples from {', '.join(map(str, data))}, {config.loop.steps} steps on {dev}, "
           f"run folder {output}")


@command(eval_app, name="shape")
def eval_shape_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder (format 2: depth layers)."),
    model: Path | None = typer.Option(None, "--model", help="Model, run or shape checkpoint folder (default: shipped)."),
    samples: int = typer.Option(32, "--samples", min=1, help="Validation samples, spread over the data sources."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the per-sample numbers as JSON."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
) -> None:
    """Depth error, elevation error and lifted-proxy silhouette IoU of the shape stage (validation split)."""
    import json

    from rich.table import Table

    from img2gs.atomic import atomic_write_text
    from img2gs.device import resolve_device
    from img2gs.errors import DataFormatError
    from img2gs.paths import resolve_model_dir
    from img2gs.shape.estimator import ShapeEstimator
    from img2gs.shape.evaluate import evaluate_shape
    from img2gs.data import load_shards

    dataset = load_shards(data, "val")
    if not dataset.has_depth:
        raise DataFormatError(f"{data}: the dataset has no depth layers (rebuild it with `img2gs data build`)")
    estimator = ShapeEstimator.load(resolve_model_dir(model), resolve_device(device))
    with console.status("evaluating the shape stage"):
        report = evaluate_shape(estimator, dataset, samples)
    table = Table(title=f"shape stage on {len(report.per_sample)} validation samples ({data})", title_justify="left")
    for column in ("source", "samples", "front err", "back err", "elev err (median deg)",
                   "elev err, upright only (median deg, n)", "IoU (est. elev)",
                   "IoU (true elev)", "IoU true-depth proxy", "IoU photo repeated"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, row in report.rows().items():
        table.add_row(source, str(row["samples"]), f"{row['front_err']:.3f}", f"{row['back_err']:.3f}",
                      f"{row['elev_err']:.1f}", f"{row['elev_err_upright']:.1f} ({row['upright']})",
                      f"{row['iou']:.3f}", f"{row['iou_true_elev']:.3f}",
                      f"{row['iou_true_depth']:.3f}", f"{row['iou_photo']:.3f}")
    console.print(table)
    if report.skipped:
        console.print(f"skipped {len(report.skipped)} sample(s) with no object pixel to lift: {', '.join(report.skipped)}")
    if json_out is not None:
        atomic_write_text(json_out, json.dumps({"rows": report.rows(), "samples": report.per_sample,
                                                "skipped": report.skipped}, indent=2) + "\n")
