"""The inference API (ViewGenerator) and the `views`, `train`, `eval views` commands on tiny models."""

from __future__ import annotations

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from img2gs.cameras import input_pose, poses_c2w, target_orbit
from img2gs.cli import app
from img2gs.data import load_shards
from img2gs.image_io import composite_on, load_image, resize_rgba, save_png
from img2gs.metrics import psnr
from img2gs.posed_views import read_posed_views
from img2gs.viewgen.evaluate import BASELINE_LABEL
from img2gs.viewgen.generator import ViewGenerator

pytestmark = pytest.mark.usefixtures("single_thread")
runner = CliRunner()


@pytest.fixture(scope="module")
def photo_path(tmp_path_factory):
    """A framed RGBA photo (an orange disc on transparency), larger than the model's resolution."""
    ys, xs = torch.meshgrid(torch.arange(40) + 0.5, torch.arange(40) + 0.5, indexing="ij")
    inside = ((xs - 20) ** 2 + (ys - 20) ** 2 < 16**2).float()
    image = torch.stack([inside * 0.9, inside * 0.5, inside * 0.1, inside], dim=-1)
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    save_png(path, image)
    return path


def count_calls(module: torch.nn.Module) -> list[int]:
    """Record the batch size (objects B) of every backbone call."""
    calls: list[int] = []
    module.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0] * 1000 + args[0].shape[1]))
    return calls


def test_student_generates_all_views_in_one_forward_pass(tiny_student, photo_path):
    gen = ViewGenerator.load(tiny_student)
    assert gen.kind == "student" and gen.resolution == 16
    calls = count_calls(gen.denoiser.backbone)
    views = gen.generate(load_image(photo_path), input_pose(), target_orbit(8), steps=1, seed=0)
    assert views.shape == (8, 16, 16, 4) and views.min() >= 0 and views.max() <= 1
    assert calls == [1 * 1000 + 8]  # one call: 1 object x 8 views
    again = gen.generate(load_image(photo_path), input_pose(), target_orbit(8), steps=1, seed=0)
    assert torch.equal(views, again)  # seeded
    other = gen.generate(load_image(photo_path), input_pose(), target_orbit(8), steps=1, seed=1)
    assert not torch.equal(views, other)
    calls.clear()
    gen.generate(load_image(photo_path), input_pose(), target_orbit(8), steps=3, seed=0)
    assert calls == [1008] * 3  # multistep consistency sampling: one batched pass per step


def test_teacher_samples_with_heun_and_guidance(tiny_teacher, photo_path):
    gen = ViewGenerator.load(tiny_teacher)
    calls = count_calls(gen.denoiser.backbone)
    views = gen.generate(load_image(photo_path), input_pose(), target_orbit(4), steps=3, seed=0)
    assert views.shape == (4, 16, 16, 4)
    assert calls == [1004] * 5  # Heun over 3 levels: 2 + 2 + 1 evaluations
    calls.clear()
    gen.generate(load_image(photo_path), input_pose(), target_orbit(4), steps=3, seed=0, guidance=2.0)
    assert calls == [2004] * 5  # guidance stacks [uncond; cond]


def test_posed_views_put_the_input_first_with_contract_cameras(tiny_student, photo_path):
    gen = ViewGenerator.load(tiny_student)
    targets = target_orbit(6)
    views = gen.generate_posed_views(load_image(photo_path), input_pose(30.0), targets, seed=0)
    assert len(views) == 7 and views.images.shape == (7, 16, 16, 4)
    assert torch.allclose(views.c2w, poses_c2w([input_pose(30.0), *targets]))
    assert math.isclose(float(views.K[0, 0, 0]), 8.0 / math.tan(math.radians(20.0)), rel_tol=1e-6)  # 40 deg FOV


def test_views_cli_writes_pngs_and_transforms_matching_the_target_orbit(tiny_student, photo_path, tmp_path):
    out = tmp_path / "views"
    result = runner.invoke(app, ["views", str(photo_path), "-n", "5", "-o", str(out), "--model", str(tiny_student),
                                 "--steps", "2", "--seed", "3", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    pngs = sorted((out / "images").glob("*.png"))
    assert len(pngs) == 6
    views = read_posed_views(out)
    assert torch.allclose(views.c2w[1:], poses_c2w(target_orbit(5)), atol=1e-5)
    assert torch.allclose(views.c2w[0], poses_c2w([input_pose()])[0], atol=1e-5)
    meta = json.loads((out / "transforms.json").read_text())
    assert meta["img2gs"]["steps"] == 2 and meta["img2gs"]["seed"] == 3
    again = runner.invoke(app, ["views", str(photo_path), "-n", "5", "-o", str(out), "--model", str(tiny_student)])
    assert again.exit_code == 2 and "already exists" in again.output


@pytest.mark.parametrize("bad", ["missing", "empty", "not_json"])
def test_views_cli_bad_checkpoint_is_a_one_line_error(tmp_path, photo_path, bad):
    model = tmp_path / "model"
    if bad != "missing":
        model.mkdir()
    if bad == "not_json":
        (model / "config.json").write_text("garbage")
    result = runner.invoke(app, ["views", str(photo_path), "-o", str(tmp_path / "out"), "--model", str(model)])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_train_and_eval_commands_end_to_end(tiny_data_dir, tmp_path):
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    r = runner.invoke(app, ["train", "teacher", "--data", str(tiny_data_dir), "--preset", "tiny", "-o", str(teacher),
                            "--device", "cpu"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["train", "teacher", "--data", str(tiny_data_dir), "--preset", "tiny", "-o", str(teacher)])
    assert r.exit_code == 2 and "--resume" in r.output  # no accidental overwrite
    r = runner.invoke(app, ["train", "teacher", "--data", str(tiny_data_dir), "-o", str(teacher), "--resume",
                            "--steps", "3", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert json.loads((teacher / "checkpoint/train_state.json").read_text())["step"] == 3
    r = runner.invoke(app, ["train", "distill", "--teacher", str(teacher), "--data", str(tiny_data_dir), "--preset", "tiny",
                            "-o", str(student), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    grid, report = tmp_path / "grid.png", tmp_path / "eval.json"
    r = runner.invoke(app, ["eval", "views", "--data", str(tiny_data_dir), "--teacher", str(teacher), "--student",
                            str(student), "--steps", "1,2", "--teacher-steps", "2", "--max-samples", "2",
                            "--grid", str(grid), "--json", str(report), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    baseline, *rows = json.loads(report.read_text())["rows"]
    assert [row["label"] for row in rows] == ["teacher 2 steps", "student 1 step", "student 2 steps"]
    assert all(row["psnr"] > 0 and 0 < row["seconds_per_view"] and row["views"] == 6 for row in rows)
    assert baseline["label"] == BASELINE_LABEL and baseline["views"] == 6
    assert baseline["psnr"] == pytest.approx(_photo_as_every_view_psnr(tiny_data_dir, samples=2), abs=1e-4)
    assert load_image(grid).shape[:2] == (2 * 16 * 4, 5 * 16 * 4)  # 2 samples x (input, truth, 3 models)
    r = runner.invoke(app, ["train", "distill", "--teacher", str(tmp_path / "nope"), "--data", str(tiny_data_dir),
                            "-o", str(tmp_path / "s2")])
    assert r.exit_code == 2 and "checkpoint folder not found" in r.output


def _photo_as_every_view_psnr(data_dir, samples: int) -> float:
    """Mean PSNR of each sample's input view, copied, against its other views (at the tiny models' 16 px, on white)."""
    dataset, scores, side = load_shards(data_dir, "val"), [], 16
    for i in range(samples):
        images = dataset[i]["images"]  # [V, H, W, 4]
        views = composite_on(torch.stack([resize_rgba(im, side) for im in images]), 1.0)  # [V, 16, 16, 3]
        scores += psnr(views[:1].expand_as(views[1:]), views[1:]).tolist()
    return sum(scores) / len(scores)
