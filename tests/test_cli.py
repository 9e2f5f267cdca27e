from typer.testing import CliRunner

import img2gs
from img2gs.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert img2gs.__version__ in result.output


def test_info_lists_backends_device_and_checkpoint_paths():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for needle in ("torch device", "gsplat", "cpu", "torch", "numba", "checkpoints are looked for in"):
        assert needle in result.output


def test_unknown_command_is_a_usage_error():
    result = runner.invoke(app, ["no-such-command"])
    assert result.exit_code == 2
