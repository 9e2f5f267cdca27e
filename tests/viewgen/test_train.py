"""Teacher and distillation trainers on the tiny preset: they run, checkpoint, and resume exactly."""

from __future__ import annotations

import dataclasses
import signal

import pytest
import torch
from safetensors.torch import load_file
from viewgen_helpers import max_abs_diff, read_json, tiny_dataset, tiny_preset

from img2gs.errors import CheckpointError
from img2gs.training.loop import load_run_config
from img2gs.viewgen.batches import BatchSampler
from img2gs.viewgen.checkpoint import load_checkpoint
from img2gs.viewgen.train_distill import train_distill
from img2gs.viewgen.train_teacher import train_teacher

pytestmark = pytest.mark.usefixtures("single_thread")


def with_steps(config, steps: int, **loop_changes):
    return dataclasses.replace(config, loop=dataclasses.replace(config.loop, steps=steps, **loop_changes))


def stop_at(step_to_stop: int):
    """A progress callback that sends this process SIGTERM after `step_to_stop` steps (a 'kill')."""

    def report(step: int, stats: dict) -> None:
        if step == step_to_stop:
            signal.raise_signal(signal.SIGTERM)

    return report


def state(run) -> dict[str, torch.Tensor]:
    """Everything a checkpoint holds: EMA weights, online weights, extra networks, optimizer moments."""
    folder = run / "checkpoint"
    return {**{f"ema.{k}": v for k, v in load_file(folder / "model.safetensors").items()},
            **load_file(folder / "train_state.safetensors")}


def test_teacher_trains_two_steps_and_writes_a_loadable_checkpoint(tiny_teacher):
    log = [read_json_line for read_json_line in (tiny_teacher / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2
    net, info = load_checkpoint(tiny_teacher)
    assert info.kind == "teacher" and info.provenance["step"] == 2
    assert info.provenance["training"]["loop"]["steps"] == 2
    options = read_json(tiny_teacher / "training_options.json")
    assert options["model"] == read_json(tiny_teacher / "checkpoint" / "config.json")["model"]
    fresh = type(net)(info.model)
    assert max_abs_diff(net.state_dict(), fresh.state_dict()) > 0  # the weights moved
    assert sorted(p.name for p in (tiny_teacher / "checkpoint").iterdir()) == [
        "config.json", "model.safetensors", "train_state.json", "train_state.safetensors"]


def test_teacher_kill_and_resume_equals_uninterrupted(tiny_data_dir, tmp_path):
    config = with_steps(tiny_preset().teacher, 4, checkpoint_every=100)
    dataset = tiny_dataset(tiny_data_dir)
    straight = train_teacher(config, dataset, tmp_path / "straight")
    assert straight.step == 4 and not straight.interrupted

    killed = train_teacher(config, dataset, tmp_path / "killed", report=stop_at(2))
    assert killed.interrupted and killed.step == 2  # the signal handler saved a checkpoint at step 2
    assert read_json(tmp_path / "killed" / "checkpoint" / "train_state.json")["step"] == 2
    resumed_config = load_run_config(tmp_path / "killed", type(config))
    assert resumed_config == config
    resumed = train_teacher(resumed_config, dataset, tmp_path / "killed", resume=True)
    assert resumed.step == 4 and not resumed.interrupted

    a, b = state(tmp_path / "straight"), state(tmp_path / "killed")
    assert a.keys() == b.keys() and any(k.startswith("optim.") for k in a)
    assert max_abs_diff(a, b) <= 1e-6
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored


def test_distill_trains_two_steps_from_the_teacher(tiny_teacher, tiny_student):
    student, info = load_checkpoint(tiny_student)
    teacher, _ = load_checkpoint(tiny_teacher)
    assert info.kind == "student" and info.provenance["teacher_step"] == 2
    assert max_abs_diff(student.state_dict(), teacher.state_dict()) > 0  # trained away from its init
    assert any(k.startswith("target.") for k in load_file(tiny_student / "checkpoint/train_state.safetensors"))
    assert read_json(tiny_student / "checkpoint" / "train_state.json")["step"] == 2
    assert "cd_loss" in (tiny_student / "log.jsonl").read_text()


def test_distill_kill_and_resume_with_image_losses_equals_uninterrupted(tiny_teacher, tiny_data_dir, tmp_path):
    config = with_steps(tiny_preset().distill, 3, checkpoint_every=100)
    config = dataclasses.replace(config, lambda_photo=0.5,
                                 distill=dataclasses.replace(config.distill, discretization="progression",
                                                             progression=(8, 4), guidance=2.0))
    dataset = tiny_dataset(tiny_data_dir)
    straight = train_distill(config, tiny_teacher, dataset, tmp_path / "straight")
    assert "photo_loss" in straight.last_stats
    killed = train_distill(config, tiny_teacher, dataset, tmp_path / "killed", report=stop_at(1))
    assert killed.interrupted and killed.step == 1
    assert load_run_config(tmp_path / "killed", type(config)) == config
    train_distill(config, tiny_teacher, dataset, tmp_path / "killed", resume=True)
    assert max_abs_diff(state(tmp_path / "straight"), state(tmp_path / "killed")) <= 1e-6


def test_distill_with_lpips_distance_and_perceptual_loss(tiny_teacher, tiny_data_dir, tmp_path):
    config = with_steps(tiny_preset().distill, 1)
    config = dataclasses.replace(config, lambda_percep=0.5,
                                 distill=dataclasses.replace(config.distill, distance="lpips"))
    result = train_distill(config, tiny_teacher, tiny_dataset(tiny_data_dir), tmp_path / "lpips")
    assert result.last_stats["percep_loss"] > 0 and result.last_stats["cd_loss"] >= 0
    assert torch.isfinite(torch.tensor(result.last_stats["loss"]))


def test_distilling_a_student_is_refused(tiny_student, tiny_data_dir, tmp_path):
    with pytest.raises(CheckpointError, match="need a teacher"):
        train_distill(tiny_preset().distill, tiny_student, tiny_dataset(tiny_data_dir), tmp_path / "again")


def test_distill_init_starts_from_the_given_student_instead_of_the_teacher(tiny_teacher, tiny_student,
                                                                           tiny_data_dir, tmp_path):
    config = with_steps(tiny_preset().distill, 1, lr=0.0)  # no update: the run's weights are its start
    train_distill(config, tiny_teacher, tiny_dataset(tiny_data_dir), tmp_path / "tuned", init=tiny_student)
    tuned, info = load_checkpoint(tmp_path / "tuned")
    student, _ = load_checkpoint(tiny_student)
    teacher, _ = load_checkpoint(tiny_teacher)
    assert max_abs_diff(tuned.state_dict(), student.state_dict()) == 0
    assert max_abs_diff(tuned.state_dict(), teacher.state_dict()) > 0
    assert info.provenance["init"] == str(tiny_student) and info.provenance["init_step"] == 2
    longer = with_steps(config, 2)
    train_distill(longer, tiny_teacher, tiny_dataset(tiny_data_dir), tmp_path / "tuned", resume=True)
    _, resumed = load_checkpoint(tmp_path / "tuned")
    assert resumed.provenance["step"] == 2 and resumed.provenance["init"] == str(tiny_student)


def test_distill_init_from_a_teacher_is_refused(tiny_teacher, tiny_data_dir, tmp_path):
    with pytest.raises(CheckpointError, match="--init needs a student checkpoint"):
        train_distill(tiny_preset().distill, tiny_teacher, tiny_dataset(tiny_data_dir), tmp_path / "bad",
                      init=tiny_teacher)


def test_resume_without_a_checkpoint_is_a_checkpoint_error(tiny_data_dir, tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train_teacher(tiny_preset().teacher, tiny_dataset(tiny_data_dir), tmp_path / "none", resume=True)


def test_batches_depend_only_on_seed_and_step(tiny_data_dir):
    dataset = tiny_dataset(tiny_data_dir)
    a = BatchSampler(dataset, 3, 2, 16, seed=1)
    b = BatchSampler(dataset, 3, 2, 16, seed=1)
    for step in (5, 0, 5):  # out of order: no hidden state
        x, y = a.batch(step), b.batch(step)
        assert torch.equal(x.targets, y.targets) and torch.equal(x.pose, y.pose)
    assert x.targets.shape == (3, 2, 4, 16, 16) and x.photo.shape == (3, 3, 16, 16)
    epoch = [i for step in range(4) for i in a.object_indices(step)][:4]
    assert sorted(epoch) == [0, 1, 2, 3]  # an epoch visits every object once
    with pytest.raises(Exception, match="target views"):
        BatchSampler(dataset, 1, 9, 16, seed=0)


def test_learning_rate_warms_up_then_stays_or_decays_by_half_cosine():
    from img2gs.training.config import LoopConfig
    from img2gs.training.loop import learning_rate

    constant = LoopConfig(steps=100, lr=1e-3, warmup_steps=10)
    assert learning_rate(constant, 0) == pytest.approx(1e-4) and learning_rate(constant, 99) == pytest.approx(1e-3)
    decayed = dataclasses.replace(constant, lr_final_ratio=0.1)
    rates = [learning_rate(decayed, step) for step in range(100)]
    assert rates[:10] == [learning_rate(constant, step) for step in range(10)]  # the same warm-up
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))  # then never rising
    assert rates[-1] == pytest.approx(1e-4)  # lr x ratio at the last step
    assert learning_rate(decayed, 54) == pytest.approx(0.55e-3, rel=0.02)  # half-way: the mean of the two


def test_bf16_steps_compute_the_fp32_losses_up_to_rounding_and_keep_fp32_weights(tiny_teacher, tiny_data_dir,
                                                                                 tmp_path):
    dataset = tiny_dataset(tiny_data_dir)
    losses = {}
    for precision in ("fp32", "bf16"):
        teacher_cfg = with_steps(tiny_preset().teacher, 1, precision=precision)
        distill_cfg = with_steps(tiny_preset().distill, 1, precision=precision)
        teacher = train_teacher(teacher_cfg, dataset, tmp_path / f"teacher_{precision}")
        student = train_distill(distill_cfg, tiny_teacher, dataset, tmp_path / f"student_{precision}")
        losses[precision] = (teacher.last_stats["loss"], student.last_stats["loss"])
        weights = load_file(tmp_path / f"student_{precision}" / "checkpoint" / "model.safetensors")
        assert all(w.dtype == torch.float32 for w in weights.values())
    for full, mixed in zip(losses["fp32"], losses["bf16"]):
        assert mixed == pytest.approx(full, rel=0.05) and mixed != full  # the same batch, bf16 rounding only
