"""View-generator commands: `train teacher`, `train distill`, `views`, `eval views`.

Thin: parse options -> build the config -> call img2gs.viewgen.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from img2gs.atomic import TRAINING_RUN, check_new_run_folder
from img2gs.cli.app import EXIT_INTERRUPTED, command, console, err_console, eval_app, train_app
from img2gs.errors import OutputError

PRESET_HELP = "Model + training preset: tiny | cpu | gpu (configs/viewgen/) or a path to a .json file."
PROXIES_HELP = "Proxy-view folder from `img2gs train proxies` (needed by proxy-conditioned models)."


def _samples_note(dataset, store) -> str:
    if store is None:
        return f"{len(dataset)} samples"
    return f"{len(store.indices)} of {len(dataset)} samples (those with proxy views)"


def _proxy_store(proxies: Path | None, dataset):
    if proxies is None:
        return None
    from img2gs.viewgen.proxy_views import ProxyViewStore

    return ProxyViewStore(proxies, dataset)


def _progress() -> Progress:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:.2f} it/s  loss {task.fields[loss]:.4f}"), TimeElapsedColumn(),
               TimeRemainingColumn())
    return Progress(*columns, console=console)


def _run_folder(output: Path, resume: bool, force: bool) -> None:
    """Fail before any work: a new run must not overwrite one by accident; --resume needs the folder."""
    if resume:
        if not output.is_dir():
            raise OutputError(f"{output}: no run to resume (folder not found)")
    else:
        check_new_run_folder(output, force, TRAINING_RUN)


def _train(kind: str, run, steps_total: int, output: Path, start_note: str, shard=None) -> None:
    """Run `run(report)` under one progress bar (rank 0's alone under torchrun; `shard`: distributed.py)."""
    from img2gs.training.distributed import Shard, leave

    shard = shard or Shard()
    try:
        if not shard.is_main:
            result = run(None)
        else:
            console.print(start_note + (f", {shard.world} processes (torchrun)" if shard.distributed else ""))
            with _progress() as progress:
                task = progress.add_task(f"training {kind}", total=steps_total, rate=0.0, loss=float("nan"))

                def report(step: int, stats: dict) -> None:
                    progress.update(task, completed=step, loss=stats.get("loss", float("nan")),
                                    rate=stats.get("it_per_s", progress.tasks[task].fields["rate"]))

                result = run(report)
    finally:
        leave()
    if not shard.is_main:
        return
    if result.interrupted:
        err_console.print(f"stopped at step {result.step}; checkpoint saved in {result.checkpoint_dir} "
                          f"(continue with --resume)")
        raise typer.Exit(EXIT_INTERRUPTED)
    console.print(f"{kind} done: {result.step} steps, checkpoint {result.checkpoint_dir}")


@command(train_app, name="teacher")
def train_teacher_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder from `img2gs data build`."),
    output: Path = typer.Option(..., "-o", "--output",
                                help="Run folder (checkpoint/, log.jsonl, training_options.json)."),
    preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Override the preset's number of steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue a stopped run from its checkpoint (same config)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    force: bool = typer.Option(False, "--force", help="Start over in an existing run folder."),
    proxies: Path | None = typer.Option(None, "--proxies", help=PROXIES_HELP),
) -> None:
    """Train the diffusion teacher (EDM) on a dataset; Ctrl-C saves a checkpoint to --resume from."""
    from img2gs.device import resolve_device
    from img2gs.viewgen.config import TeacherTrainConfig, load_viewgen_preset
    from img2gs.data import load_shards
    from img2gs.training.distributed import process_device, shard_from_env
    from img2gs.viewgen.train_teacher import train_teacher
    from img2gs.training.loop import load_run_config

    shard = shard_from_env()  # one process, or this one's share under torchrun
    _run_folder(output, resume, force)
    shard.barrier()  # every process has checked the run folder before rank 0 writes into it
    config = load_run_config(output, TeacherTrainConfig) if resume else load_viewgen_preset(preset).teacher
    config = _with_steps(config, steps)
    shard.check_batch(config.loop.batch_objects)
    dataset = load_shards(data, config.loop.data_split)
    store = _proxy_store(proxies, dataset)
    dev = process_device(resolve_device(device))
    _train("teacher", lambda report: train_teacher(config, dataset, output, proxies=store, resume=resume, device=dev,
                                                   provenance={"data": str(data), "proxies": str(proxies)},
                                                   report=report, shard=shard),
           config.loop.steps, output,
           f"teacher: {_samples_note(dataset, store)} from {data}, {config.loop.steps} steps on {dev}, run folder {output}",
           shard)


@command(train_app, name="distill")
def train_distill_command(
    teacher: Path = typer.Option(..., "--teacher", help="Teacher run or checkpoint folder."),
    data: Path = typer.Option(..., "--data", help="Dataset folder from `img2gs data build`."),
    output: Path = typer.Option(..., "-o", "--output", help="Run folder of the student."),
    preset: str = typer.Option("cpu", "--preset", help=PRESET_HELP),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Override the preset's number of steps."),
    resume: bool = typer.Option(False, "--resume", help="Continue a stopped run from its checkpoint (same config)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    force: bool = typer.Option(False, "--force", help="Start over in an existing run folder."),
    proxies: Path | None = typer.Option(None, "--proxies", help=PROXIES_HELP),
    init: Path | None = typer.Option(None, "--init", help="Start from this student's weights (a run, checkpoint "
                                     "or model folder of the same model config) instead of the teacher's."),
) -> None:
    """Distil the teacher into a 1-4 step consistency student; Ctrl-C saves a checkpoint to --resume from."""
    from img2gs.device import resolve_device
    from img2gs.viewgen.checkpoint import read_checkpoint_info, resolve_checkpoint_dir
    from img2gs.viewgen.config import DistillTrainConfig, load_viewgen_preset
    from img2gs.data import load_shards
    from img2gs.training.distributed import process_device, shard_from_env
    from img2gs.viewgen.train_distill import check_student_init, train_distill
    from img2gs.training.loop import load_run_config

    resolve_checkpoint_dir(teacher)  # fail early on a bad teacher folder
    if init is not None and not resume:  # and on a bad --init, before the run folder is touched
        check_student_init(init, read_checkpoint_info(teacher).model)
    shard = shard_from_env()  # one process, or this one's share under torchrun
    _run_folder(output, resume, force)
    shard.barrier()  # every process has checked the run folder before rank 0 writes into it
    config = load_run_config(output, DistillTrainConfig) if resume else load_viewgen_preset(preset).distill
    config = _with_steps(config, steps)
    shard.check_batch(config.loop.batch_objects)
    dataset = load_shards(data, config.loop.data_split)
    store = _proxy_store(proxies, dataset)
    dev = process_device(resolve_device(device))
    _train("student", lambda report: train_distill(config, teacher, dataset, output, proxies=store, resume=resume,
                                                   device=dev, provenance={"data": str(data), "proxies": str(proxies)},
                                                   report=report, shard=shard, init=init),
           config.loop.steps, output,
           f"distillation: teacher {teacher}, {_samples_note(dataset, store)}, {config.loop.steps} steps on {dev}, "
           f"run folder {output}", shard)


@command(train_app, name="proxies")
def train_proxies_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder from `img2gs data build` (format 2)."),
    output: Path = typer.Option(..., "-o", "--output", help="Proxy-view folder (resumable: run again to continue)."),
    shape: Path | None = typer.Option(None, "--shape", help="Shape-stage run or model folder (default: the "
                                      "default model's shape stage)."),
    resolution: int = typer.Option(32, "--resolution", min=8, max=256, help="Side of the proxy renders "
                                   "(the generator's resolution)."),
    train_shards: int | None = typer.Option(None, "--train-shards", min=1,
                                            help="Only this many train shards, spread over the build order."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Shards made in parallel processes."),
) -> None:
    """Lift every sample's photo with the shape stage and render the proxy at its views: the view
    generator's conditioning, made once (a stage of its own, resumable)."""
    from img2gs.paths import resolve_model_dir
    from img2gs.viewgen.proxy_views import build_proxy_views

    shape_dir = shape if shape is not None else resolve_model_dir(None)
    console.print(f"proxy views: {data} with the shape stage of {shape_dir} at {resolution} px -> {output}")
    with _plain_progress() as progress:
        task = progress.add_task("shards", total=None)
        build_proxy_views(data, shape_dir, output, resolution, max_train_shards=train_shards, workers=workers,
                          progress=lambda done, total: progress.update(task, completed=done, total=total))
    console.print(f"proxy views done: {output}")


def _with_steps(config, steps: int | None):
    import dataclasses

    return config if steps is None else dataclasses.replace(config, loop=dataclasses.replace(config.loop, steps=steps))


@command(name="views")
def views_command(
    photo: Path = typer.Argument(..., help="The photo of an object (alpha is used if present)."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write (RGBA PNGs + transforms.json)."),
    n_views: int = typer.Option(16, "-n", "--views", min=1, max=64, help="Number of generated views."),
    steps: int | None = typer.Option(None, "--steps", min=1,
                                     help="Sampling steps (student: 1-4; teacher: Heun noise levels)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    model: Path | None = typer.Option(None, "--model", help="Checkpoint or run folder (default: the shipped model)."),
    elevation: float | None = typer.Option(None, "--elevation",
                                           help="Camera elevation of the photo, degrees (default: the shape "
                                           "stage's estimate for proxy-conditioned models, else 20)."),
    no_remove_bg: bool = typer.Option(False, "--no-remove-bg", help="Keep the background (photos without alpha)."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    force: bool = typer.Option(False, "--force", help="Write into a non-empty folder (replaces only its own files)."),
) -> None:
    """Generate posed novel views of the object in a photo (the first stage of `reconstruct`)."""
    from img2gs.atomic import check_output_folder
    from img2gs.cameras import input_pose, target_orbit
    from img2gs.device import resolve_device
    from img2gs.posed_views import write_posed_views
    from img2gs.pipeline.reconstruct import ReconstructConfig, prepare_photo
    from img2gs.viewgen.generator import ViewGenerator

    check_output_folder(output, force)  # merged into: only the files written there are replaced
    dev = resolve_device(device)
    generator = ViewGenerator.load(model, dev)
    targets = target_orbit(n_views)
    config = ReconstructConfig(elevation=elevation, remove_background=not no_remove_bg)
    framed = prepare_photo(photo, config)  # the photo framed as `reconstruct` frames it
    proxy = None
    if generator.needs_proxy:  # the shape stage of the same model folder lifts the photo first
        from img2gs.pipeline.fit_views import proxy_target_views
        from img2gs.paths import resolve_model_dir
        from img2gs.pipeline.reconstruct import lift_to_proxy

        (lifted,), pose = lift_to_proxy(framed, config, resolve_model_dir(model), dev, (config.lift,))
        _, proxy = proxy_target_views(lifted, targets, generator.resolution)
    else:
        pose = input_pose(elevation)
    with console.status(f"generating {n_views} views ({generator.kind}) ..."):
        views = generator.generate_posed_views(framed, pose, targets, steps=steps, seed=seed, proxy=proxy)
    extra = {"img2gs": {"photo": str(photo), "model": generator.kind, "steps": steps or generator.default_steps(),
                        "seed": seed}}
    write_posed_views(output, views, extra=extra)
    console.print(f"wrote {len(views)} views ({views.width}x{views.height}) and transforms.json to {output}")


@command(eval_app, name="views")
def eval_views_command(
    data: Path = typer.Option(..., "--data", help="Dataset folder (its val split is used unless --split)."),
    teacher: Path | None = typer.Option(None, "--teacher", help="Teacher run or checkpoint folder."),
    student: Path | None = typer.Option(None, "--student", help="Student run or checkpoint folder."),
    steps: str = typer.Option("1,2,4", "--steps", help="Student sampling steps to evaluate, comma-separated."),
    teacher_steps: str = typer.Option("25", "--teacher-steps",
                                      help="Heun noise levels of the teacher, comma-separated (e.g. 25,1)."),
    guidance: float | None = typer.Option(None, "--guidance",
                                          help="Teacher guidance weight (default: its checkpoint's)."),
    max_samples: int | None = typer.Option(None, "--max-samples", min=1, help="Evaluate at most this many samples."),
    split: str = typer.Option("val", "--split", help="Dataset split."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline",
                                  help="Also score the input photo itself as every target view (a reference)."),
    grid: Path | None = typer.Option(None, "--grid", help="Write a PNG grid: input, ground truth, teacher, students."),
    report_path: Path | None = typer.Option(None, "--json", help="Also write the metrics as JSON to this file."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
    force: bool = typer.Option(False, "--force", help="Overwrite existing --grid / --json files."),
    proxies: Path | None = typer.Option(None, "--proxies", help=PROXIES_HELP + " Adds the proxy-alone row."),
) -> None:
    """PSNR / SSIM / LPIPS and seconds per view of teacher and student against ground-truth renders."""
    from img2gs.atomic import atomic_write_text, check_output_path
    from img2gs.device import resolve_device
    from img2gs.image_io import save_png
    from img2gs.data import load_shards
    from img2gs.viewgen.evaluate import EvalEntry, entry_label, evaluate_views, grid_image
    from img2gs.viewgen.generator import ViewGenerator

    student_steps, teacher_levels = _parse_steps(steps, "--steps"), _parse_steps(teacher_steps, "--teacher-steps")
    for path in (grid, report_path):
        if path is not None:
            check_output_path(path, force)
    dev = resolve_device(device)
    entries = []
    if teacher is not None:
        t = ViewGenerator.load(teacher, dev)
        entries += [EvalEntry(entry_label(t.kind, k), t, k, guidance) for k in teacher_levels]
    if student is not None:
        s = ViewGenerator.load(student, dev)
        entries += [EvalEntry(entry_label(s.kind, k), s, k) for k in student_steps]
    dataset = load_shards(data, split)
    store = _proxy_store(proxies, dataset)
    with _plain_progress() as progress:
        task = progress.add_task("evaluating", total=None)
        report = evaluate_views(dataset, entries, max_samples, baseline=baseline, proxies=store,
                                progress=lambda done, total: progress.update(task, completed=done, total=total))
    _print_eval(report)
    if report_path is not None:
        atomic_write_text(report_path, json.dumps(report.to_json(), indent=2) + "\n")
        console.print(f"metrics: {report_path}")
    if grid is not None:
        save_png(grid, grid_image(report))
        console.print(f"grid: {grid}")


def _parse_steps(text: str, option: str) -> list[int]:
    try:
        values = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise typer.BadParameter(f"{option} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{option} needs integers >= 1, got {text!r}")
    return values


def _plain_progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)


def _print_eval(report) -> None:
    table = Table(title=f"view generation, {report.samples} samples at {report.resolution}px", title_justify="left")
    for name in ("model", "PSNR", "SSIM", "LPIPS", "s / view"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in report.rows:
        table.add_row(row.label, f"{row.psnr:.2f}", f"{row.ssim:.4f}",
                      "n/a" if row.lpips is None else f"{row.lpips:.4f}", f"{row.seconds_per_view:.4f}")
    console.print(table)
    if report.lpips_note:
        console.print(report.lpips_note)
