"""`img2gs fit` / `img2gs render` end to end on a tiny generated scene (32x32, few views, 2 steps)."""

import json

import numpy as np
import pytest
import trimesh
import torch
from PIL import Image
from typer.testing import CliRunner

from img2gs.cli import app
from img2gs.mesh_render.synthetic_scene import write_synthetic_scene
from img2gs.splat.export_ply import load_ply

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_scene(tmp_path_factory):
    return write_synthetic_scene(tmp_path_factory.mktemp("scene") / "views", n_train=6, n_test=2, size=32)


@pytest.fixture(scope="module")
def fitted(tiny_scene, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    result = runner.invoke(app, ["fit", str(tiny_scene), "-o", str(out / "scene.ply"), "--mesh", str(out / "mesh.glb"),
                                 "--preset", "tiny", "--iters", "2", "--backend", "torch", "--seed", "3"])
    return out, result


def test_fit_writes_ply_mesh_config_and_reports_heldout_psnr(fitted):
    out, result = fitted
    assert result.exit_code == 0, result.output
    g = load_ply(out / "scene.ply")
    assert len(g) > 100 and g.sh_degree == 1 and g.is_finite()
    assert (out / "mesh.glb").stat().st_size > 0
    assert json.loads((out / "scene.fit.json").read_text())["iterations"] == 2
    assert "held-out views (2): PSNR" in result.output and "SSIM" in result.output
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_fit_writes_an_obj_with_its_texture_files_or_vertex_colours(tiny_scene, tmp_path):
    args = ["fit", str(tiny_scene), "-o", str(tmp_path / "s.ply"), "--preset", "tiny", "--iters", "2",
            "--backend", "torch"]
    result = runner.invoke(app, [*args, "--mesh", str(tmp_path / "m.obj")])
    assert result.exit_code == 0, result.output
    assert {"m.obj", "m.mtl", "m_texture.png"} <= {p.name for p in tmp_path.iterdir()}
    result = runner.invoke(app, [*args, "--mesh", str(tmp_path / "plain.obj"), "--no-texture", "--force"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "plain.mtl").exists() and "vt " not in (tmp_path / "plain.obj").read_text()
    for bad in ("0", "-2", "nan"):  # refused before any work
        result = runner.invoke(app, [*args, "--mesh", str(tmp_path / "h.glb"), "--height", bad, "--force"])
        assert result.exit_code == 2 and "--height" in result.output and not (tmp_path / "h.glb").exists()
    result = runner.invoke(app, [*args, "--mesh", str(tmp_path / "h.glb"), "--height", "0.3", "--force"])
    assert result.exit_code == 0 and np.ptp(trimesh.load(tmp_path / "h.glb", force="mesh").vertices[:, 1]) == \
        pytest.approx(0.3, abs=1e-5)
    (tmp_path / "s.ply").unlink()
    result = runner.invoke(app, [*args, "--mesh", str(tmp_path / "m.obj")])  # the .obj's texture exists
    assert result.exit_code == 2 and "already exists" in result.output and not (tmp_path / "s.ply").exists()


def test_fit_refuses_existing_output_before_any_work(fitted, tiny_scene):
    out, _ = fitted
    before = (out / "scene.ply").stat().st_mtime_ns
    result = runner.invoke(app, ["fit", str(tiny_scene), "-o", str(out / "scene.ply"), "--preset", "tiny"])
    assert result.exit_code == 2
    assert "already exists" in result.output and "fitting" not in result.output
    assert (out / "scene.ply").stat().st_mtime_ns == before


def test_fit_bad_inputs_are_one_line_errors(tmp_path, tiny_scene):
    for args, needle in [
        (["fit", str(tmp_path / "nope"), "-o", str(tmp_path / "a.ply")], "not a directory"),
        (["fit", str(tiny_scene), "-o", str(tmp_path / "a.ply"), "--preset", "nope"], "unknown splat preset"),
        (["fit", str(tiny_scene), "-o", str(tmp_path / "a.splat")], ".ply"),
        (["fit", str(tiny_scene), "-o", str(tmp_path / "a.ply"), "--mesh", str(tmp_path / "m.stl")], "mesh format"),
    ]:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output and "Traceback" not in result.output


def test_render_cameras_and_turntable(fitted, tiny_scene, tmp_path):
    out, _ = fitted
    result = runner.invoke(app, ["render", str(out / "scene.ply"), "--cameras", str(tiny_scene / "transforms.json"),
                                 "-o", str(tmp_path / "renders"), "--backend", "torch"])
    assert result.exit_code == 0, result.output
    pngs = sorted((tmp_path / "renders").glob("*.png"))
    assert len(pngs) == 8
    with Image.open(pngs[0]) as im:
        assert im.mode == "RGBA" and im.size == (32, 32)
    result = runner.invoke(app, ["render", str(out / "scene.ply"), "--turntable", "3", "--size", "24",
                                 "-o", str(tmp_path / "orbit.gif"), "--backend", "torch"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "orbit.gif") as im:
        assert im.n_frames == 3 and im.size == (24, 24)


def test_render_needs_exactly_one_mode(fitted, tmp_path):
    out, _ = fitted
    result = runner.invoke(app, ["render", str(out / "scene.ply"), "-o", str(tmp_path / "x")])
    assert result.exit_code == 2


def test_render_cameras_without_images(fitted, tmp_path):
    out, _ = fitted
    c2w = torch.eye(4)
    c2w[2, 3] = 3.2  # on +Z looking down -Z at the origin (OpenGL)
    frames = [{"file_path": "cam_a", "transform_matrix": c2w.tolist()}]
    meta = {"w": 20, "h": 16, "camera_angle_x": 0.7, "frames": frames}
    (tmp_path / "cams.json").write_text(json.dumps(meta))
    # a camera-only file: transforms.json named differently is accepted as a path to the file
    result = runner.invoke(app, ["render", str(out / "scene.ply"), "--cameras", str(tmp_path / "cams.json"),
                                 "-o", str(tmp_path / "r"), "--backend", "torch"])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "r" / "cam_a.png") as im:
        assert im.size == (20, 16)
