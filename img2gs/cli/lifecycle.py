"""`img2gs train all`: data -> shape stage -> proxies -> teacher -> distillation -> eval -> model folder.

Thin: parse options -> plan (img2gs.pipeline.train_all) -> run it under one progress display.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from img2gs.cli.app import EXIT_INTERRUPTED, command, console, err_console, train_app
from img2gs.errors import PresetError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'3h', '90m', '5400s' or '5400' -> seconds."""
    match = _DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise PresetError(f"--budget {text!r}: expected a duration such as 3h, 90m or 5400s")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


class _StageProgress:
    """One bar over all the stages (weighted by their estimated seconds, with the ETA) and one for the
    running stage."""

    def __init__(self, progress: Progress, estimates: dict[str, float], finished: list[str]):
        self.progress, self.estimates = progress, estimates
        self.done_s = sum(estimates[s] for s in finished)
        self.overall = progress.add_task("all stages", total=sum(estimates.values()), completed=self.done_s)
        self.current: str | None = None
        self.task = None

    def stage(self, name: str, total: int | None) -> None:
        self.close()
        self.current = name
        self.task = self.progress.add_task(f"  {name}", total=total)
        self.progress.update(self.overall, completed=self.done_s)

    def close(self) -> None:
        """The running stage is over: its bar full, its estimate counted as done."""
        if self.current is None:
            return
        self.done_s += self.estimates[self.current]
        total = self.progress.tasks[self.task].total or 1
        self.progress.update(self.task, completed=total, total=total)
        self.progress.update(self.overall, completed=self.done_s)
        self.current = None

    def advance(self, name: str, done: int, total: int | None) -> None:
        self.progress.update(self.task, completed=done, total=total)
        if total:
            self.progress.update(self.overall, completed=self.done_s + self.estimates[name] * min(done / total, 1.0))


@command(train_app, name="all")
def train_all_command(
    output: Path = typer.Option(..., "-o", "--output", help="Run folder (every stage's output, then model/)."),
    preset: str = typer.Option("cpu", "--preset", help="Lifecycle preset: tiny | cpu (configs/lifecycle/) or a "
                               "path to a .json file."),
    budget: str | None = typer.Option(None, "--budget", help="Wall-clock budget, e.g. 3h or 90m: turned into step "
                                      "counts by the preset's rule, fixed when the run starts [default: the "
                                      "stage presets' steps]."),
    meshes: Path | None = typer.Option(None, "--meshes", help="Mesh folder for the data build (e.g. Sweet Home 3D)."),
    resume: bool = typer.Option(False, "--resume", help="Continue a stopped run (its plan is kept as it was)."),
    force: bool = typer.Option(False, "--force", help="Start over in an existing lifecycle run folder."),
    workers: int = typer.Option(os.cpu_count() or 1, "--workers", min=1, max=256,
                                help="Processes for the data build and the proxy views [default: all cores]."),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
) -> None:
    """The whole model lifecycle in one resumable run; Ctrl-C (or SIGTERM) stops at a safe point."""
    from img2gs.device import resolve_device
    from img2gs.pipeline.lifecycle_config import load_lifecycle_preset
    from img2gs.pipeline.train_all import estimated_seconds, finished_stages, make_plan, read_plan, start_run, train_all

    if resume:
        plan = read_plan(output)
    else:
        config = load_lifecycle_preset(preset)
        plan = make_plan(config, preset, None if budget is None else parse_duration(budget),
                         None if meshes is None else str(meshes))
        start_run(output, plan, force)
    steps = ", ".join(f"{s} {n}" for s, n in plan["steps"].items())
    console.print(f"lifecycle {plan['preset']} in {output}: steps {steps} ({plan['rule']})")
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        observer = _StageProgress(progress, estimated_seconds(plan), finished_stages(output))
        result = train_all(output, plan, workers=workers, device=resolve_device(device), observer=observer)
        if result.finished:
            observer.close()
    if not result.finished:
        err_console.print(f"stopped in stage {result.stage}; its progress is saved (continue with: img2gs train all "
                          f"-o {output} --resume)")
        raise typer.Exit(EXIT_INTERRUPTED)
    console.print(f"model folder: {result.model_dir} (use it with reconstruct --model {result.model_dir}); "
                  f"evaluation in {result.model_dir / 'MODEL_CARD.md'}")
