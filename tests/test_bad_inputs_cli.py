"""Issue 11, bad inputs through the CLI: each is one line on stderr and exit code 2, no traceback, nothing
written, every other file unchanged (checksums before and after), sizes refused before allocation.

The model-folder cases run in a subprocess whose address space is limited (a config that builds its
network before checking the weights would need tens of GB and fails there instead of swapping)."""

from __future__ import annotations

import json
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch
from test_image_io import forged_png
from test_output_ownership import checksums
from typer.testing import CliRunner

from img2gs.cli import app
from img2gs.mesh_render.synthetic_scene import write_synthetic_scene
from img2gs.splat.export_ply import save_ply
from img2gs.splat.gaussians import Gaussians

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "assets" / "model"


def assert_one_line_error(result, *needles: str) -> None:
    """Exit code 2, exactly one line of output (the error), no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
    for needle in needles:
        assert needle in lines[0], lines[0]


def invoke_unchanged(root: Path, args: list[str], *needles: str) -> None:
    """Run the CLI; it must fail with one line and leave every file under `root` as it was."""
    before = checksums(root)
    assert_one_line_error(runner.invoke(app, [str(a) for a in args]), *needles)
    assert checksums(root) == before  # nothing written, nothing half-written, nothing removed


def gaussians(n: int = 8) -> Gaussians:
    g = torch.Generator().manual_seed(0)
    return Gaussians({"means": 0.3 * torch.randn(n, 3, generator=g), "scales": torch.full((n, 3), -2.5),
                      "quats": torch.randn(n, 4, generator=g), "opacities": torch.zeros(n),
                      "sh0": torch.randn(n, 1, 3, generator=g), "shN": torch.zeros(n, 0, 3)})


@pytest.fixture
def user_files(tmp_path) -> Path:
    """tmp_path with unrelated files of the user's beside the inputs."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    shutil.copy(ROOT / "assets" / "examples" / "mug.jpg", tmp_path / "mine" / "mug.jpg")
    (tmp_path / "out").mkdir()
    return tmp_path


# --- .ply ---------------------------------------------------------------------------------------------------


def _valid_ply_bytes(tmp_path: Path, g: Gaussians | None = None) -> bytes:
    save_ply(tmp_path / "valid.ply", g or gaussians())
    data = (tmp_path / "valid.ply").read_bytes()
    (tmp_path / "valid.ply").unlink()
    return data


def _header(data: bytes) -> bytes:
    return data[: data.index(b"end_header\n") + len(b"end_header\n")]


def _ascii_header_claiming(count: int) -> bytes:
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1",
             "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    header = "ply\nformat ascii 1.0\nelement vertex %d\n" % count + "".join(f"property float {n}\n" for n in names)
    return (header + "end_header\n").encode() + b"0 " * 50_000  # a 100 KB body


def _nan_ply(tmp_path: Path) -> bytes:
    g = gaussians()
    data = _valid_ply_bytes(tmp_path, g)
    header = _header(data)
    body = bytearray(data[len(header):])
    body[0:4] = struct.pack("<f", float("nan"))  # x of the first Gaussian
    return header + bytes(body)


PLY_CASES = {
    "empty": (lambda t: b"", "empty file"),
    "text": (lambda t: b"hello, I am a text file\n", "not a .ply"),
    "truncated": (lambda t: _valid_ply_bytes(t)[:-100], "truncated"),
    "header only": (lambda t: _header(_valid_ply_bytes(t)), "truncated"),
    "binary 10^8 vertices": (lambda t: _header(_valid_ply_bytes(t)).replace(b"vertex 8", b"vertex 100000000")
                             + b"\0" * 4096, "truncated"),
    "ascii 10^8 vertices": (lambda t: _ascii_header_claiming(10**8), "truncated"),
    "NaN values": (_nan_ply, "NaN"),
    "zero vertices": (lambda t: _header(_valid_ply_bytes(t)).replace(b"vertex 8", b"vertex 0"), "no Gaussians"),
}


@pytest.mark.parametrize("case", list(PLY_CASES))
def test_bad_ply_is_refused_by_render(user_files, case):
    make, needle = PLY_CASES[case]
    (user_files / "bad.ply").write_bytes(make(user_files))
    invoke_unchanged(user_files, ["render", user_files / "bad.ply", "--turntable", "2", "--size", "16",
                                  "-o", user_files / "out" / "t.gif", "--backend", "torch"], needle)


def test_the_error_line_shows_file_names_with_brackets_as_they_are(user_files):
    """The message is not rich markup: a file name with `[red]` in it is printed as it is."""
    (user_files / "scene[red]v2.ply").write_bytes(b"")
    invoke_unchanged(user_files, ["render", user_files / "scene[red]v2.ply", "--turntable", "2", "--size", "16",
                                  "-o", user_files / "out" / "t.gif"], "scene[red]v2.ply: empty file")


# --- transforms.json ----------------------------------------------------------------------------------------


@pytest.fixture
def views(user_files) -> Path:
    folder = write_synthetic_scene(user_files / "views", n_train=2, n_test=1, size=16)
    shutil.copy(folder / "images" / "train_000.png", user_files / "x.png")  # what ../x.png would read
    return folder


def _edit(folder: Path, change) -> None:
    meta = json.loads((folder / "transforms.json").read_text())
    change(meta)
    (folder / "transforms.json").write_text(json.dumps(meta))


def _frame(**values):
    return lambda meta, root: meta["frames"][0].update(values)


def _angle_only(meta, root):
    for key in ("fl_x", "fl_y"):
        del meta[key]
    meta["camera_angle_x"] = 0


SINGULAR = [[0.0] * 4 for _ in range(4)]
RAGGED = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 1.0]]
TRANSFORMS_CASES = {
    "matrix a string": (_frame(transform_matrix="identity"), "'transform_matrix' must be 4 rows of 4 numbers"),
    "matrix ragged": (_frame(transform_matrix=RAGGED), "'transform_matrix' must be 4 rows of 4 numbers"),
    "matrix singular": (_frame(transform_matrix=SINGULAR), "singular"),
    "fl_x abc": (lambda meta, root: meta.update(fl_x="abc"), "'fl_x' must be a number"),
    "fl_x 0": (lambda meta, root: meta.update(fl_x=0), "'fl_x' must be a positive number"),
    "camera_angle_x 0": (_angle_only, "'camera_angle_x' must be a positive number"),
    "file_path 5": (_frame(file_path=5), "'file_path' must be a relative path"),
    "file_path absolute": (lambda meta, root: meta["frames"][0].update(file_path=str(root / "x.png")), "is absolute"),
    "file_path leaves": (_frame(file_path="../x.png"), "leaves the folder"),
    "file_path leaves twice": (_frame(file_path="images/../../x.png"), "leaves the folder"),
    "w abc": (lambda meta, root: meta.update(w="abc"), "'w' must be a number"),
    "w 0": (lambda meta, root: meta.update(w=0), "'w' must be a positive number"),
    "w h 60000": (lambda meta, root: meta.update(w=60000, h=60000), "IMG2GS_MAX_RENDER_SIDE"),
}


@pytest.mark.parametrize("command", ["fit", "render"])
@pytest.mark.parametrize("case", list(TRANSFORMS_CASES))
def test_bad_transforms_are_refused(views, user_files, command, case):
    change, needle = TRANSFORMS_CASES[case]
    _edit(views, lambda meta: change(meta, user_files))
    if command == "fit":
        args = ["fit", views, "-o", user_files / "out" / "scene.ply", "--preset", "tiny", "--iters", "1",
                "--backend", "torch"]
    else:
        save_ply(user_files / "s.ply", gaussians())
        args = ["render", user_files / "s.ply", "--cameras", views / "transforms.json", "-o", user_files / "out" / "r",
                "--backend", "torch"]
    invoke_unchanged(user_files, args, needle)


def test_frames_decoding_too_much_in_total_are_refused_before_decoding(views, user_files):
    """40 frames of one small file whose header says 7000 x 7000 (49 MP each, 7.8 GB decoded in all)."""
    forged_png(views / "big.png", 7000, 7000)
    _edit(views, lambda m: m.update(frames=[{**m["frames"][0], "file_path": "big.png"}] * 40))
    args = ["fit", views, "-o", user_files / "out" / "scene.ply", "--preset", "tiny", "--backend", "torch"]
    invoke_unchanged(user_files, args, "40 frames", "IMG2GS_MAX_VIEW_BYTES")
    forged_png(views / "big.png", 10000, 10000)  # one image over the pixel limit
    invoke_unchanged(user_files, args, "IMG2GS_MAX_IMAGE_PIXELS")


def test_limits_are_set_by_environment_variables(views, user_files, monkeypatch):
    args = ["fit", views, "-o", user_files / "out" / "scene.ply", "--preset", "tiny", "--iters", "1",
            "--backend", "torch"]
    monkeypatch.setenv("IMG2GS_MAX_VIEW_BYTES", "1000")  # 3 frames of 16 x 16 RGBA are 3072 bytes
    invoke_unchanged(user_files, args, "3,072 decoded bytes", "limit of 1,000")
    monkeypatch.setenv("IMG2GS_MAX_VIEW_BYTES", "lots")
    invoke_unchanged(user_files, args, "IMG2GS_MAX_VIEW_BYTES='lots' is not a whole number")
    monkeypatch.setenv("IMG2GS_MAX_VIEW_BYTES", "3072")
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output


# --- render sizes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra, needle", [(["--turntable", "2", "--size", "100000"], "IMG2GS_MAX_RENDER_SIDE"),
                                           (["--turntable", "100000", "--size", "512"], "IMG2GS_MAX_VIEW_BYTES")])
def test_render_sizes_are_bounded(user_files, extra, needle):
    save_ply(user_files / "s.ply", gaussians())
    invoke_unchanged(user_files, ["render", user_files / "s.ply", "-o", user_files / "out" / "t.gif",
                                  "--backend", "torch", *extra], needle)


# --- model folders -------------------------------------------------------------------------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))


def run_limited(args: list[str]) -> subprocess.CompletedProcess:
    code = "from img2gs.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          preexec_fn=_limit_memory, timeout=300)


def _model_with(tmp_path: Path, change) -> Path:
    """A model folder laid out like assets/model (its weights linked), config.json changed by `change`."""
    folder = tmp_path / "model"
    (folder / "shape").mkdir(parents=True)
    for sub in (".", "shape"):
        (folder / sub / "model.safetensors").symlink_to(MODEL / sub / "model.safetensors")
        shutil.copy(MODEL / sub / "config.json", folder / sub / "config.json")
    change(folder)
    return folder


def _widen(config_file: Path, key: str, factor: int) -> None:
    meta = json.loads(config_file.read_text())
    meta["model"][key] = [c * factor for c in meta["model"][key]]
    config_file.write_text(json.dumps(meta))


def test_viewgen_config_larger_than_its_weights_is_refused_before_building(user_files):
    model = _model_with(user_files, lambda f: _widen(f / "config.json", "block_out_channels", 64))  # up to 8192
    before = checksums(user_files)
    out = run_limited(["views", user_files / "mine" / "mug.jpg", "-n", "2", "-o", user_files / "out" / "v",
                       "--model", model, "--device", "cpu"])
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "weights do not fit" in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert checksums(user_files) == before


def test_shape_config_larger_than_its_weights_is_refused_before_building(user_files, tiny_data_dir):
    model = _model_with(user_files, lambda f: _widen(f / "shape" / "config.json", "channels", 32))  # up to 8192
    before = checksums(user_files)
    out = run_limited(["eval", "shape", "--data", tiny_data_dir, "--model", model, "--samples", "1",
                       "--device", "cpu"])
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "weights do not fit" in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert checksums(user_files) == before


# --- training shards -----------------------------------------------------------------------------------------


def _dataset(tmp_path: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent / "viewgen"))
    from viewgen_helpers import write_tiny_dataset

    (tmp_path / "data").mkdir()
    return write_tiny_dataset(tmp_path / "data")


def _rewrite_shard(shard: Path, keep_metadata: bool = True, half_size: bool = False) -> None:
    """Write the shard again, without its metadata or with its images (and depth) at half the size."""
    from safetensors import safe_open

    with safe_open(str(shard), framework="numpy") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata() if keep_metadata else None
    if half_size:
        tensors["images"] = np.ascontiguousarray(tensors["images"][:, :, ::2, ::2])
        tensors["depth"] = np.ascontiguousarray(tensors["depth"][:, :, ::2, ::2])
    safetensors.numpy.save_file(tensors, str(shard), metadata=metadata)


SHARD_CASES = {
    "corrupt": (lambda p: p.write_bytes(b"\xff" * 16 + p.read_bytes()[16:]), "not a readable safetensors shard"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-1000]), "not a readable safetensors shard"),
    "missing metadata": (lambda p: _rewrite_shard(p, keep_metadata=False), "no object_ids"),
    "wrong image shape": (lambda p: _rewrite_shard(p, half_size=True), "meta.json says"),
}


@pytest.mark.parametrize("case", list(SHARD_CASES))
def test_bad_training_shards_stop_before_the_run_folder_is_made(user_files, case):
    damage, needle = SHARD_CASES[case]
    data = _dataset(user_files)
    damage(data / "train-00000.safetensors")
    invoke_unchanged(user_files, ["train", "shape", "--data", data, "--preset", "tiny", "-o", user_files / "run"],
                     needle)
    assert not (user_files / "run").exists()  # no training_options.json: the next attempt needs no --force


def test_distill_init_from_a_non_student_stops_before_the_run_folder_is_made(user_files, tiny_teacher, tiny_data_dir):
    teacher = user_files / "teacher"
    shutil.copytree(tiny_teacher, teacher)
    invoke_unchanged(user_files, ["train", "distill", "--teacher", teacher, "--data", tiny_data_dir, "--preset", "tiny",
                                  "--init", teacher, "-o", user_files / "student"], "--init needs a student checkpoint")
    assert not (user_files / "student").exists()


# --- photos --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("w, h, needle", [(9000, 8000, "IMG2GS_MAX_IMAGE_PIXELS"), (30000, 30000, "pixels")])
def test_a_photo_over_the_pixel_limit_is_refused_from_its_header(user_files, w, h, needle):
    forged_png(user_files / "big.png", w, h)  # a few hundred bytes that would decode to w x h x 4 floats
    invoke_unchanged(user_files, ["reconstruct", user_files / "big.png", "-o", user_files / "out" / "x.ply",
                                  "--device", "cpu"], "too large", needle)


@pytest.mark.parametrize("command, preset", [
    (["reconstruct", "assets/examples/mug.jpg", "-o", "{tmp}/x.ply"], {"n_views": 40}),
    (["fit", "{tmp}", "-o", "{tmp}/y.ply"], {"iterations": -5}),
])
def test_a_bad_value_in_a_preset_file_is_one_line_and_exit_2(tmp_path, command, preset):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(preset))
    result = runner.invoke(app, [a.format(tmp=tmp_path) for a in command] + ["--preset", str(path)])
    assert result.exit_code == 2, result.output
    assert "bad.json" in result.output and "Traceback" not in result.output
