"""The package's imports point down its layers (scripts/check_layers.py), and the check can fail."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_layers.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_points_up_beyond_the_known_borrowed_ones(capsys):
    assert _checker().main() == 0, capsys.readouterr().out


def test_an_upward_import_is_found(tmp_path, monkeypatch):
    checker = _checker()
    package = tmp_path / "img2gs"
    (package / "splat").mkdir(parents=True)
    (package / "splat" / "fit.py").write_text("def f():\n    from img2gs.pipeline.reconstruct import x\n")
    (package / "cameras.py").write_text("from img2gs.splat.fit import f\n")
    monkeypatch.setattr(checker, "PACKAGE", package)
    edges = checker.back_edges()
    assert [(e[0], e[1], e[3], e[4]) for e in edges] == [("img2gs/cameras.py", 1, "core", "splat"),
                                                         ("img2gs/splat/fit.py", 2, "splat", "pipeline")]
    assert checker.main() == 1
