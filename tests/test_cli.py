import subprocess
import sys

import pytest
from typer.testing import CliRunner

import img2gs
from img2gs.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert img2gs.__version__ in result.output


def test_loading_the_cli_and_asking_its_version_import_neither_torch_nor_numba():
    code = ("import sys; from typer.testing import CliRunner; from img2gs.cli import app; "
            "r = CliRunner().invoke(app, ['--version']); assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('torch', 'numba', 'trimesh', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("content", [None, b"", b"not an image at all"])
def test_a_bad_photo_is_refused_in_one_line_before_torch_is_imported(tmp_path, content):
    photo = tmp_path / "photo.png"
    if content is not None:
        photo.write_bytes(content)
    code = ("import sys; from typer.testing import CliRunner; from img2gs.cli import app; "
            f"r = CliRunner().invoke(app, ['reconstruct', {str(photo)!r}, '-o', {str(tmp_path / 'out.ply')!r}]); "
            "print(r.exit_code, 'torch' in sys.modules); print(r.output.strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    status, message = out.strip().split("\n", 1)
    assert status == "2 False"
    assert len(message.splitlines()) == 1 and "photo.png" in message


def test_info_lists_backends_device_and_checkpoint_paths():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for needle in ("torch device", "gsplat", "cpu", "torch", "numba", "checkpoints are looked for in"):
        assert needle in result.output


def test_unknown_command_is_a_usage_error():
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
