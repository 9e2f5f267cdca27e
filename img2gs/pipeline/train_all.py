"""`img2gs train all`: the whole model lifecycle in one resumable run folder.

    data -> shape -> proxies -> teacher -> distill -> eval -> package

    RUN/plan.json      what the run does, fixed when it starts (resolved stage configs, step counts, budget)
    RUN/stages.json    the stages finished so far
    RUN/data/          the dataset (staged in RUN/data.partial/ while it is built)
    RUN/shape/         the shape stage's training run
    RUN/proxies/       the proxy views of every sample, made with RUN/shape
    RUN/teacher/       the diffusion teacher's training run
    RUN/student/       the consistency student's training run
    RUN/eval.json      `eval views` of teacher and student on the validation split
    RUN/model/         the packaged model folder (`reconstruct --model RUN/model`)

Every stage continues after a kill: the data build from its saved state, the trainers from their
checkpoints, the proxy views shard by shard; evaluation and packaging are redone whole. A stop request
(SIGINT / SIGTERM) is honoured at the next safe point of the running stage. Since every stage is
deterministic given plan.json, a stopped and resumed run ends with the model an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from img2gs.atomic import LIFECYCLE_RUN, atomic_write_text, check_new_run_folder
from img2gs.errors import OutputError, PresetError
from img2gs.pipeline.lifecycle_config import TRAINED_STAGES, LifecycleConfig
from img2gs.presets import from_dict, to_dict

PLAN_FILE, STAGES_FILE, EVAL_FILE = "plan.json", "stages.json", "eval.json"
PLAN_FORMAT = "img2gs-lifecycle/1"  # repeated in img2gs.atomic (which imports nothing of this)
STAGES = ("data", "shape", "proxies", "teacher", "distill", "eval", "package")
RUN_FOLDERS = {"data": "data", "shape": "shape", "proxies": "proxies", "teacher": "teacher", "distill": "student",
               "package": "model"}


class Observer(Protocol):
    """What a progress display is told."""

    def stage(self, name: str, total: int | None) -> None: ...

    def advance(self, name: str, done: int, total: int | None) -> None: ...


@dataclass(frozen=True)
class LifecycleResult:
    finished: bool
    stage: str  # the stage it stopped in, or "package" when finished
    model_dir: Path


# --- the plan ---------------------------------------------------------------------------------------


def make_plan(config: LifecycleConfig, preset: str, budget_s: float | None, meshes: str | None) -> dict:
    """Resolve every stage's config now (presets may change later; a resumed run must not)."""
    from img2gs.shape.config import load_shape_preset
    from img2gs.viewgen.config import load_viewgen_preset
    from img2gs.data import DataBuildConfig
    from img2gs.presets import load_preset

    viewgen = load_viewgen_preset(config.viewgen)
    configs = {"shape": load_shape_preset(config.shape), "teacher": viewgen.teacher, "distill": viewgen.distill}
    steps = config.budget.steps_for(budget_s) if budget_s is not None else {
        s: configs[s].loop.steps for s in TRAINED_STAGES}
    configs = {s: replace(c, loop=replace(c.loop, steps=steps[s])) for s, c in configs.items()}
    if configs["teacher"].model.resolution != config.proxy_resolution and configs["teacher"].model.proxy_conditioning:
        raise PresetError(f"lifecycle preset {preset!r}: proxy_resolution {config.proxy_resolution} is not the "
                          f"generator's resolution {configs['teacher'].model.resolution}")
    return {
        "format": PLAN_FORMAT,
        "preset": preset,
        "lifecycle": to_dict(config),
        "budget_s": budget_s,
        "rule": config.budget.describe() if budget_s is not None else "the stage presets' own step counts",
        "steps": steps,
        "meshes": meshes,
        "data": to_dict(load_preset(DataBuildConfig, "data", config.data)),
        **{s: to_dict(c) for s, c in configs.items()},
        "created_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def estimated_seconds(plan: dict) -> dict[str, float]:
    """Each stage's expected seconds by the preset's budget rule (for the ETA over all stages)."""
    rule = plan["lifecycle"]["budget"]
    seconds = {s: plan["steps"][s] * rule["seconds_per_step"][s] for s in TRAINED_STAGES}
    return {"data": rule["data_s"], "shape": seconds["shape"], "proxies": rule["proxies_s"],
            "teacher": seconds["teacher"], "distill": seconds["distill"], "eval": rule["eval_s"], "package": 1.0}


def start_run(run_dir: Path, plan: dict, force: bool) -> None:
    """Create the run folder with its plan; an existing non-empty one only with `force` (and only if it
    is a lifecycle run: nothing else is ever removed)."""
    if check_new_run_folder(run_dir, force, LIFECYCLE_RUN):
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / PLAN_FILE, json.dumps(plan, indent=2) + "\n")


def read_plan(run_dir: Path) -> dict:
    try:
        plan = json.loads((run_dir / PLAN_FILE).read_text())
    except (OSError, ValueError) as e:
        raise OutputError(f"{run_dir}: no lifecycle run to resume ({PLAN_FILE}: {e})") from None
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        raise OutputError(f"{run_dir / PLAN_FILE}: not an img2gs lifecycle plan")
    return plan


def finished_stages(run_dir: Path) -> list[str]:
    try:
        return list(json.loads((run_dir / STAGES_FILE).read_text())["finished"])
    except (OSError, ValueError, KeyError):
        return []


def _mark_finished(run_dir: Path, stage: str) -> None:
    done = finished_stages(run_dir)
    atomic_write_text(run_dir / STAGES_FILE, json.dumps({"finished": done + [stage]}, indent=2) + "\n")


# --- running it ---------------------------------------------------------------------------------------


class _Run:
    """One invocation over a run folder: the stages as methods, each returning False when stopped."""

    def __init__(self, run_dir: Path, plan: dict, workers: int, device, observer: Observer | None, stop):
        self.dir, self.plan, self.workers, self.device, self.stop = run_dir, plan, workers, device, stop
        self.observer = observer
        self.lifecycle = from_dict(LifecycleConfig, plan["lifecycle"], where=str(run_dir / PLAN_FILE))

    def path(self, stage: str) -> Path:
        return self.dir / RUN_FOLDERS[stage]

    def _advance(self, stage: str):
        if self.observer is None:
            return lambda done, total: None
        return lambda done, total: self.observer.advance(stage, done, total)

    def _report(self, stage: str):
        advance = self._advance(stage)
        return lambda step, stats: advance(step, self.plan["steps"][stage])

    def data(self) -> bool:
        from img2gs.data import DataBuildConfig, build_dataset
        from img2gs.data.shards import META_FILE

        if (self.path("data") / META_FILE).is_file():
            return True  # built; killed before stages.json said so
        config = from_dict(DataBuildConfig, self.plan["data"])
        meta = build_dataset(config, self.path("data"), meshes=self.plan["meshes"], workers=self.workers,
                             on_object=self._advance("data"), should_stop=lambda: self.stop.requested)
        return meta is not None

    def _dataset(self, split: str):
        from img2gs.data import load_shards

        return load_shards(self.path("data"), split)

    def _store(self, dataset):
        from img2gs.viewgen.proxy_views import ProxyViewStore

        return ProxyViewStore(self.path("proxies"), dataset)

    def _resuming(self, stage: str) -> bool:
        from img2gs.training.loop import STATE_JSON
        from img2gs.training.weights import RUN_CHECKPOINT_SUBDIR

        return (self.path(stage) / RUN_CHECKPOINT_SUBDIR / STATE_JSON).is_file()

    def shape(self) -> bool:
        from img2gs.shape.config import ShapeTrainConfig
        from img2gs.shape.train import train_shape

        config = from_dict(ShapeTrainConfig, self.plan["shape"])
        resume = self._resuming("shape")
        init = self.lifecycle.shape_init
        if init is not None and not Path(init).exists():
            from img2gs.paths import REPO_ROOT

            init = str(REPO_ROOT / init)  # a preset names the shipped model relative to the repository
        result = train_shape(config, self._dataset(config.loop.data_split), self.path("shape"), resume=resume,
                             device=self.device, provenance={"data": str(self.path("data"))},
                             report=self._report("shape"), init=None if init is None or resume else init)
        return not result.interrupted

    def proxies(self) -> bool:
        from img2gs.viewgen.proxy_views import build_proxy_views

        done = build_proxy_views(self.path("data"), self.path("shape"), self.path("proxies"),
                                 self.lifecycle.proxy_resolution, max_train_shards=self.lifecycle.proxy_train_shards,
                                 workers=self.workers,
                                 progress=self._advance("proxies"), should_stop=lambda: self.stop.requested)
        return done is not None

    def teacher(self) -> bool:
        from img2gs.viewgen.config import TeacherTrainConfig
        from img2gs.viewgen.train_teacher import train_teacher

        config = from_dict(TeacherTrainConfig, self.plan["teacher"])
        dataset = self._dataset(config.loop.data_split)
        result = train_teacher(config, dataset, self.path("teacher"), proxies=self._store(dataset),
                               resume=self._resuming("teacher"), device=self.device,
                               provenance={"data": str(self.path("data")), "proxies": str(self.path("proxies"))},
                               report=self._report("teacher"))
        return not result.interrupted

    def distill(self) -> bool:
        from img2gs.viewgen.config import DistillTrainConfig
        from img2gs.viewgen.train_distill import train_distill

        config = from_dict(DistillTrainConfig, self.plan["distill"])
        dataset = self._dataset(config.loop.data_split)
        result = train_distill(config, self.path("teacher"), dataset, self.path("distill"),
                               proxies=self._store(dataset), resume=self._resuming("distill"), device=self.device,
                               provenance={"data": str(self.path("data")), "proxies": str(self.path("proxies"))},
                               report=self._report("distill"))
        return not result.interrupted

    def eval(self) -> bool:
        from img2gs.viewgen.evaluate import EvalEntry, entry_label, evaluate_views
        from img2gs.viewgen.generator import ViewGenerator

        settings = self.lifecycle.eval
        teacher = ViewGenerator.load(self.path("teacher"), self.device)
        student = ViewGenerator.load(self.path("distill"), self.device)
        entries = [EvalEntry(entry_label(teacher.kind, k), teacher, k) for k in settings.teacher_steps]
        entries += [EvalEntry(entry_label(student.kind, k), student, k) for k in settings.student_steps]
        dataset = self._dataset("val")
        report = evaluate_views(dataset, entries, settings.max_samples, proxies=self._store(dataset),
                                progress=self._advance("eval"))
        atomic_write_text(self.dir / EVAL_FILE, json.dumps(report.to_json(), indent=2) + "\n")
        return True

    def package(self) -> bool:
        from img2gs.pipeline.model_package import package_model

        report = json.loads((self.dir / EVAL_FILE).read_text())
        package_model(self.path("distill"), self.path("shape"), self.path("package"), report, self.plan,
                      self.lifecycle.weights_dtype)
        return True


def train_all(run_dir: str | os.PathLike, plan: dict, *, workers: int = 1, device="cpu",
              observer: Observer | None = None) -> LifecycleResult:
    """Run (or continue) every unfinished stage of the run folder `run_dir` (made by `start_run`)."""
    from img2gs.training.loop import StopRequest

    run_dir = Path(run_dir)
    with StopRequest() as stop:
        run = _Run(run_dir, plan, workers, device, observer, stop)
        for stage in STAGES:
            if stage in finished_stages(run_dir):
                continue
            if stop.requested:
                return LifecycleResult(False, stage, run.path("package"))
            if observer is not None:
                observer.stage(stage, plan["steps"].get(stage))
            if not getattr(run, stage)():
                return LifecycleResult(False, stage, run.path("package"))
            _mark_finished(run_dir, stage)
    return LifecycleResult(True, "package", run.path("package"))
