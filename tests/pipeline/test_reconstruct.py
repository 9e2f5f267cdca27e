"""The product end to end on a tiny model: reconstruct, batch, bad input, --force, atomic export."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from typer.testing import CliRunner

from img2gs.cli import app
from img2gs.image_io import load_image
from img2gs.splat.export_ply import load_ply

runner = CliRunner()
TINY = ["--preset", "tiny", "--device", "cpu"]


def product_photo(path: Path, colour=(0.8, 0.3, 0.1), size: int = 48) -> Path:
    """A shaded disc on a light-grey background (no alpha): background removal has to find it."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    r = np.hypot(xs - size / 2, ys - size / 2)
    inside = r < size * 0.3
    shade = 1.0 - 0.4 * (xs - size / 2) / size
    image = np.full((size, size, 3), 0.92)
    image[inside] = np.clip(np.asarray(colour) * shade[inside, None], 0, 1)
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def photo(tmp_path) -> Path:
    return product_photo(tmp_path / "photo.png")


def _reconstruct(args: list[str], model: Path):
    return runner.invoke(app, ["reconstruct", *args, *TINY, "--model", str(model)])


def test_full_chain_writes_every_output_and_render_shows_the_object(tmp_path, photo, tiny_model):
    out = tmp_path / "out"
    result = _reconstruct([str(photo), "-o", str(out / "scene.ply"), "--mesh", str(out / "mesh.glb"), "--faces", "300",
                           "--views-dir", str(out / "views"), "--preview", str(out / "turn.gif")], tiny_model)
    assert result.exit_code == 0, result.output
    glb = trimesh.load(out / "mesh.glb", force="mesh")
    assert 0 < len(glb.faces) <= 300  # --faces reaches the export
    assert glb.visual.material.baseColorTexture is not None  # a .glb carries its baked texture by default
    for stage in ("preprocess", "views", "fit", "mesh", "export"):
        assert stage in result.output
    gaussians = load_ply(out / "scene.ply")
    assert len(gaussians) > 0 and gaussians.is_finite()
    assert (out / "mesh.glb").stat().st_size > 0 and (out / "turn.gif").stat().st_size > 0
    assert (out / "views" / "transforms.json").is_file()
    rendered = runner.invoke(app, ["render", str(out / "scene.ply"), "--cameras", str(out / "views"),
                                   "-o", str(out / "renders"), "--device", "cpu"])
    assert rendered.exit_code == 0, rendered.output
    front = load_image(sorted((out / "renders").glob("*.png"))[0])
    # The input view's render has the object where the framed photo has it: the centre, not the corner.
    assert front[front.shape[0] // 2, front.shape[1] // 2, 3] > 0.5
    assert front[0, 0, 3] < 0.5


def test_a_preview_page_shows_the_photo_the_views_and_the_textured_mesh(tmp_path, photo, tiny_model):
    out = tmp_path / "out"
    result = _reconstruct([str(photo), "-o", str(out / "scene.ply"), "--views", "8",
                           "--preview", str(out / "page.html")], tiny_model)
    assert result.exit_code == 0, result.output
    page = (out / "page.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1 + 8  # the photo and the 8 target views
    assert '"texture": "data:image/png;base64,' in page  # with no mesh file asked for, the page's is textured
    assert photo.name in page and "mesh faces" in page
    assert sorted(p.name for p in out.iterdir()) == ["page.html", "scene.ply", "scene.reconstruct.json"]
    bad = _reconstruct([str(photo), "-o", str(out / "other.ply"), "--preview", str(out / "page.pdf")], tiny_model)
    assert bad.exit_code == 2 and ".html" in bad.output


def _corrupt_files(folder: Path) -> list[Path]:
    truncated = folder / "truncated.png"
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(buffer, "PNG")
    truncated.write_bytes(buffer.getvalue()[:200])
    text = folder / "notes.png"
    text.write_text("this is not an image")
    return [truncated, text]


def test_batch_converts_good_files_and_lists_bad_ones(tmp_path, tiny_model):
    photos = tmp_path / "photos"
    photos.mkdir()
    product_photo(photos / "a.png")
    product_photo(photos / "b.png", colour=(0.1, 0.4, 0.8))
    bad = _corrupt_files(photos)
    result = runner.invoke(app, ["batch", str(photos / "*.png"), "-o", str(tmp_path / "out"), *TINY,
                                 "--model", str(tiny_model)])
    assert result.exit_code != 0
    assert sorted(p.name for p in (tmp_path / "out").glob("*.ply")) == ["a.ply", "b.ply"]
    unwrapped = "".join(ch for ch in result.output if ch not in " │\n")  # table cells fold long paths
    for path in bad:
        assert path.name in unwrapped
    assert "2 ok, 2 failed, 0 skipped" in result.output
    again = runner.invoke(app, ["batch", str(photos / "[ab].png"), "-o", str(tmp_path / "out"), *TINY,
                                "--model", str(tiny_model)])
    assert again.exit_code == 0 and "0 ok, 0 failed, 2 skipped" in again.output
    pages = runner.invoke(app, ["batch", str(photos / "a.png"), "-o", str(tmp_path / "pages"), *TINY, "--page",
                                "--model", str(tiny_model)])
    assert pages.exit_code == 0, pages.output
    assert "mesh-data" in (tmp_path / "pages" / "a_preview.html").read_text()
    both = runner.invoke(app, ["batch", str(photos / "a.png"), "-o", str(tmp_path / "both"), "--page", "--preview"])
    assert both.exit_code == 2 and "choose one" in both.output and not (tmp_path / "both").exists()


def test_batch_on_ray_does_what_the_process_pool_does(tmp_path, tiny_model):
    """`batch --ray` (a local Ray, in a subprocess as users run it) against `--jobs 2`."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'img2gs[ray]')")
    photos = tmp_path / "photos"
    photos.mkdir()
    product_photo(photos / "a.png")
    product_photo(photos / "b.png", colour=(0.1, 0.4, 0.8))
    bad = _corrupt_files(photos)

    def batch(pattern: str, out: str, *extra: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "img2gs", "batch", str(photos / pattern), "-o", str(tmp_path / out), *TINY,
                   "--model", str(tiny_model), "--mesh", "glb", "--faces", "300", *extra]
        return subprocess.run(command, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "COLUMNS": "200", "RAY_AUTH_MODE": "disabled"})

    runs = {"pool": batch("*.png", "pool", "--jobs", "2"), "ray": batch("*.png", "ray", "--ray", "--jobs", "2")}
    for result in runs.values():
        assert result.returncode == 2, result.stdout + result.stderr[-3000:]  # the bad files fail the batch
        assert "2 ok, 2 failed, 0 skipped" in result.stdout
        unwrapped = "".join(ch for ch in result.stdout if ch not in " │\n")
        assert all(path.name in unwrapped for path in bad)
    files = {name: sorted(p.name for p in (tmp_path / name).iterdir()) for name in runs}
    assert files["ray"] == files["pool"] and "a_mesh.glb" in files["ray"] and "b.reconstruct.json" in files["ray"]
    again = batch("[ab].png", "ray", "--ray")
    assert again.returncode == 0 and "0 ok, 0 failed, 2 skipped" in again.stdout, again.stdout


def _absurd_png(path: Path) -> None:
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", 30000, 30000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


BAD_INPUTS = {
    "missing": (lambda p: None, "no such file"),
    "empty": (lambda p: p.write_bytes(b""), "empty file"),
    "truncated": (lambda p: _corrupt_files(p.parent)[0].rename(p), "truncated or corrupt"),
    "not an image": (lambda p: p.write_text("hello"), "not an image"),
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "absurd size": (_absurd_png, "too large"),
    "no foreground": (lambda p: Image.new("RGB", (64, 64), (200, 200, 200)).save(p), "no separable foreground"),
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, tiny_model, kind):
    make, message = BAD_INPUTS[kind]
    path = tmp_path / "input.png"
    make(path)
    result = _reconstruct([str(path), "-o", str(tmp_path / "scene.ply")], tiny_model)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "scene.ply").exists()


def test_force_semantics(tmp_path, photo, tiny_model):
    target = tmp_path / "scene.ply"
    target.write_bytes(b"precious")
    refused = _reconstruct([str(photo), "-o", str(target)], tiny_model)
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert target.read_bytes() == b"precious"
    forced = _reconstruct([str(photo), "-o", str(target), "--force"], tiny_model)
    assert forced.exit_code == 0, forced.output
    assert len(load_ply(target)) > 0


def test_the_resolved_config_is_saved_beside_the_scene_and_repeats_the_run(tmp_path, photo, tiny_model):
    from img2gs.pipeline.reconstruct import load_reconstruct_config

    first = _reconstruct([str(photo), "-o", str(tmp_path / "a.ply"), "--views", "9", "--seed", "3"], tiny_model)
    assert first.exit_code == 0, first.output
    saved = tmp_path / "a.reconstruct.json"
    assert "photo.png" in json.loads(saved.read_text())["_comment"]
    config = load_reconstruct_config(str(saved))
    assert config.n_views == 9 and config.seed == 3 and config == load_reconstruct_config("tiny", n_views=9, seed=3,
                                                                                          device="cpu")
    again = runner.invoke(app, ["reconstruct", str(photo), "-o", str(tmp_path / "b.ply"), "--preset", str(saved),
                                "--model", str(tiny_model)])
    assert again.exit_code == 0, again.output
    torch.testing.assert_close(load_ply(tmp_path / "b.ply").means, load_ply(tmp_path / "a.ply").means)
    refused = _reconstruct([str(photo), "-o", str(tmp_path / "a.ply")], tiny_model)  # the side file is an output
    assert refused.exit_code == 2 and "already exists" in refused.output


def test_unwritable_output_directory_fails_before_any_work(tmp_path, photo, tiny_model, monkeypatch):
    import img2gs.pipeline.reconstruct as pipeline

    monkeypatch.setattr(pipeline, "preprocess_photo", lambda *a, **k: pytest.fail("work started"))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _reconstruct([str(photo), "-o", str(blocker / "sub" / "scene.ply")], tiny_model)
    assert result.exit_code == 2 and "cannot create output directory" in result.output


def test_no_partial_file_after_an_exception_mid_export(tmp_path, photo, tiny_model, monkeypatch):
    from plyfile import PlyData

    def write_half_then_fail(self, stream):
        Path(stream).write_bytes(b"ply\nformat binary_little_endian 1.0\n")  # a partial header...
        raise RuntimeError("disk full (injected)")

    monkeypatch.setattr(PlyData, "write", write_half_then_fail)
    result = _reconstruct([str(photo), "-o", str(tmp_path / "scene.ply")], tiny_model)
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == [photo]  # neither scene.ply nor a temp file is left
    # an internal failure is one line naming the stage and the photo, not a traceback
    assert "export stage failed" in result.output and "photo.png" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_elevation_given_overrides_the_shape_stage_estimate(tmp_path, photo, tiny_model):
    import json

    from img2gs.pipeline.reconstruct import load_reconstruct_config, load_shape_estimator
    from img2gs.pipeline.reconstruct import prepare_photo

    config = load_reconstruct_config("tiny", device="cpu")
    estimated = load_shape_estimator(tiny_model, "cpu")(prepare_photo(photo, config)).elevation
    given = 37.5 if abs(estimated - 37.5) > 5 else -5.0
    runs = {}
    for label, extra in (("estimated", []), ("given", ["--elevation", str(given)])):
        out = tmp_path / label
        result = _reconstruct([str(photo), "-o", str(out / "scene.ply"), "--views-dir", str(out / "views"), *extra],
                              tiny_model)
        assert result.exit_code == 0, result.output
        assert f"({label})" in result.output
        runs[label] = json.loads((out / "views" / "transforms.json").read_text())
    assert abs(runs["estimated"]["elevation"] - min(max(estimated, -15.0), 50.0)) < 1e-4
    assert abs(runs["given"]["elevation"] - given) < 1e-6
    # the photo's camera in the written views follows the elevation used
    c2w = runs["given"]["frames"][0]["transform_matrix"]
    assert abs(c2w[2][3] - 3.2 * __import__("math").sin(__import__("math").radians(given))) < 1e-4


@pytest.mark.parametrize("bad", ["nan", "inf", "95"])
def test_bad_elevation_is_one_line_and_exit_2(tmp_path, photo, tiny_model, bad):
    result = _reconstruct([str(photo), "-o", str(tmp_path / "scene.ply"), "--elevation", bad], tiny_model)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "scene.ply").exists()


def test_generator_view_source_runs_the_view_generator(tmp_path, photo, tiny_model):
    out = tmp_path / "gen"
    result = _reconstruct([str(photo), "-o", str(out / "scene.ply"), "--view-source", "generator",
                           "--views-dir", str(out / "views")], tiny_model)
    assert result.exit_code == 0, result.output
    import json

    assert json.loads((out / "views" / "transforms.json").read_text())["view_source"] == "generator"
    bad = _reconstruct([str(photo), "-o", str(out / "x.ply"), "--view-source", "dreams"], tiny_model)
    assert bad.exit_code == 2 and "view_source" in bad.output
