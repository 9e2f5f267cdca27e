"""`img2gs train all`: the lifecycle end to end on the tiny presets, its budget rule, and its resumption:
killed (a real SIGTERM) in every stage and resumed, it ends with the model an uninterrupted run makes."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from img2gs.cli import app
from img2gs.errors import OutputError, PresetError
from img2gs.pipeline.lifecycle_config import load_lifecycle_preset
from img2gs.pipeline.train_all import STAGES, finished_stages, make_plan, read_plan, start_run, train_all
from img2gs.presets import CONFIG_DIR

KILLED_STAGES = ("data", "shape", "proxies", "teacher", "distill", "eval")


@pytest.fixture(scope="module")
def lifecycle_preset(tmp_path_factory) -> str:
    """The tiny lifecycle with one sample per data shard, so that the data build and the proxy views
    have several shards to be killed between."""
    folder = tmp_path_factory.mktemp("presets")
    data = json.loads((CONFIG_DIR / "data" / "tiny.json").read_text())
    data.update(samples_per_shard=1, procedural_objects=4, organic_objects=2)
    (folder / "data.json").write_text(json.dumps(data))
    lifecycle = json.loads((CONFIG_DIR / "lifecycle" / "tiny.json").read_text())
    lifecycle["data"] = str(folder / "data.json")
    (folder / "lifecycle.json").write_text(json.dumps(lifecycle))
    return str(folder / "lifecycle.json")


class _Killer:
    """An observer that sends this process SIGTERM once, when `stage` reports `at` units done."""

    def __init__(self, stage: str | None = None, at: int = 1):
        self.target, self.at, self.fired, self.seen = stage, at, False, []

    def stage(self, name, total):
        self.seen.append(name)

    def advance(self, name, done, total):
        if name == self.target and done >= self.at and not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGTERM)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _fresh_run(run: Path, preset: str) -> dict:
    plan = make_plan(load_lifecycle_preset(preset), preset, None, None)
    start_run(run, plan, force=False)
    return plan


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, lifecycle_preset) -> Path:
    run = tmp_path_factory.mktemp("lifecycle") / "straight"
    plan = _fresh_run(run, lifecycle_preset)
    observer = _Killer()
    assert train_all(run, plan, observer=observer).finished
    assert observer.seen == list(STAGES)
    return run


def test_every_stage_leaves_its_output(uninterrupted):
    run = uninterrupted
    assert finished_stages(run) == list(STAGES)
    meta = json.loads((run / "data" / "meta.json").read_text())
    assert meta["counts"]["train"]["samples"] >= 2 and meta["counts"]["val"]["samples"] >= 2
    assert not (run / "data.partial").exists()
    labels = [row["label"] for row in json.loads((run / "eval.json").read_text())["rows"]]
    assert labels == ["input photo as every view", "proxy render alone", "teacher 2 steps", "student 1 step",
                      "student 2 steps"]
    model = run / "model"
    for name in ("config.json", "model.safetensors", "shape/config.json", "shape/model.safetensors", "MODEL_CARD.md"):
        assert (model / name).is_file(), name
    card = (model / "MODEL_CARD.md").read_text()
    assert "| student 1 step |" in card and '"lifecycle"' in card
    assert json.loads((model / "config.json").read_text())["kind"] == "student"


def test_the_packaged_model_is_the_runs(uninterrupted):
    packaged = _weights(uninterrupted / "model" / "model.safetensors")
    trained = _weights(uninterrupted / "student" / "checkpoint" / "model.safetensors")
    assert packaged.keys() == trained.keys()
    assert all(torch.equal(packaged[k], trained[k]) for k in trained)  # the tiny preset packages float32


def test_a_finished_run_is_skipped(uninterrupted):
    before = (uninterrupted / "model" / "model.safetensors").stat().st_mtime_ns
    observer = _Killer()
    assert train_all(uninterrupted, read_plan(uninterrupted), observer=observer).finished
    assert observer.seen == []  # no stage ran again
    assert (uninterrupted / "model" / "model.safetensors").stat().st_mtime_ns == before


def test_killed_in_every_stage_and_resumed_equals_uninterrupted(tmp_path, uninterrupted, lifecycle_preset):
    run = tmp_path / "killed"
    plan = _fresh_run(run, lifecycle_preset)
    for stage in KILLED_STAGES:
        killer = _Killer(stage, at=1)
        result = train_all(run, read_plan(run), observer=killer)
        assert killer.fired, stage
        assert not result.finished
        # eval is redone whole: a stop during it is honoured once it has written eval.json
        assert result.stage == (stage if stage != "eval" else "package")
        if stage == "data":
            assert (run / "data.partial" / "build_state.safetensors").is_file()
    assert train_all(run, plan).finished
    for name in ("model/model.safetensors", "model/shape/model.safetensors", "teacher/checkpoint/model.safetensors"):
        got, want = _weights(run / name), _weights(uninterrupted / name)
        assert got.keys() == want.keys()
        worst = max(float((got[k].double() - want[k].double()).abs().max()) for k in want)
        assert worst <= 1e-6, (name, worst)
    for shard in sorted((uninterrupted / "data").glob("*.safetensors")):
        assert (run / "data" / shard.name).read_bytes() == shard.read_bytes(), shard.name
    psnr = lambda r: [row["psnr"] for row in json.loads((r / "eval.json").read_text())["rows"]]  # noqa: E731
    assert psnr(run) == pytest.approx(psnr(uninterrupted), abs=1e-9)


def test_budget_rule_sets_the_steps_and_is_recorded(tmp_path):
    config = load_lifecycle_preset("cpu")
    plan = make_plan(config, "cpu", 3 * 3600.0, None)
    rule = config.budget
    train_s = 3 * 3600.0 - rule.fixed_s
    assert plan["steps"]["teacher"] == int(train_s * rule.shares.teacher / rule.seconds_per_step.teacher)
    assert plan["shape"]["loop"]["steps"] == plan["steps"]["shape"]
    assert plan["distill"]["loop"]["steps"] == plan["steps"]["distill"]
    longer = make_plan(config, "cpu", 6 * 3600.0, None)
    assert all(longer["steps"][s] > plan["steps"][s] for s in ("shape", "teacher", "distill"))
    with pytest.raises(PresetError, match="too small"):
        make_plan(config, "cpu", 60.0, None)
    start_run(tmp_path / "run", plan, force=False)
    assert read_plan(tmp_path / "run") == plan  # what a resumed run reads back


def test_a_run_folder_is_never_replaced_by_accident(tmp_path):
    plan = make_plan(load_lifecycle_preset("tiny"), "tiny", None, None)
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_bytes(b"x")
    with pytest.raises(OutputError, match="already exists"):
        start_run(other, plan, force=False)
    with pytest.raises(OutputError):
        start_run(other, plan, force=True)  # not a lifecycle run: --force does not remove it
    assert (other / "keep.jpg").read_bytes() == b"x"
    start_run(tmp_path / "run", plan, force=False)
    start_run(tmp_path / "run", plan, force=True)  # its own kind of folder: started over


def test_cli_train_all_resume_and_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(app, ["train", "all", "--preset", "tiny", "-o", str(tmp_path / "none"), "--resume"])
    assert missing.exit_code == 2 and "no lifecycle run" in missing.output
    bad = runner.invoke(app, ["train", "all", "--preset", "tiny", "-o", str(tmp_path / "r"), "--budget", "10s"])
    assert bad.exit_code == 2 and "too small" in bad.output
    unknown = runner.invoke(app, ["train", "all", "--preset", "nope", "-o", str(tmp_path / "r")])
    assert unknown.exit_code == 2 and "unknown lifecycle preset" in unknown.output


def test_cli_train_all_end_to_end(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "all", "--preset", "tiny", "-o", str(run), "--workers", "1",
                                      "--budget", "20s", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    plan = read_plan(run)
    assert plan["budget_s"] == 20.0 and plan["steps"] == {"shape": 20, "teacher": 20, "distill": 5}
    assert "model folder" in result.output and (run / "model" / "MODEL_CARD.md").is_file()
    again = CliRunner().invoke(app, ["train", "all", "-o", str(run)])
    assert again.exit_code == 2 and "already exists" in again.output
