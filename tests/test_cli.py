import subprocess
import sys

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


def test_info_lists_backends_device_and_checkpoint_paths():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for needle in ("torch device", "gsplat", "cpu", "torch", "numba", "checkpoints are looked for in"):
        assert needle in result.output


def test_unknown_command_is_a_usage_error():
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
