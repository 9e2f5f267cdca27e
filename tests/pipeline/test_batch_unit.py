"""run_batch's bookkeeping with a stand-in converter (the real chain is tested in test_reconstruct.py)."""

from pathlib import Path

import pytest

from img2gs.errors import ImageInputError, OutputError
from img2gs.pipeline.batch import OutputNaming, expand_inputs, run_batch
from img2gs.pipeline.outputs import ReconstructOutputs


def fake_convert(photo: Path, outputs: ReconstructOutputs) -> None:
    if "bad" in photo.name:
        raise ImageInputError(f"{photo}: not an image")
    if "bug" in photo.name:
        raise ZeroDivisionError("boom")
    outputs.check()
    outputs.ply.write_text("ply")


def _photos(tmp_path, names):
    paths = []
    for name in names:
        (tmp_path / name).write_text("x")
        paths.append(tmp_path / name)
    return paths


def test_batch_goes_on_past_failures_and_reports_them(tmp_path):
    photos = _photos(tmp_path, ["a.png", "bad.png", "b.png", "bug.png"])
    outcomes = run_batch(photos, tmp_path / "out", OutputNaming(), fake_convert)
    assert [o.status for o in outcomes] == ["ok", "failed", "ok", "failed"]
    assert "not an image" in outcomes[1].reason
    assert "internal error ZeroDivisionError" in outcomes[3].reason
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.ply", "b.ply"]


def test_rerun_skips_finished_unless_forced(tmp_path):
    photos = _photos(tmp_path, ["a.png", "b.png"])
    run_batch(photos, tmp_path / "out", OutputNaming(), fake_convert)
    (tmp_path / "out" / "b.ply").unlink()
    again = run_batch(photos, tmp_path / "out", OutputNaming(), fake_convert)
    assert [o.status for o in again] == ["skipped", "ok"]
    forced = run_batch(photos, tmp_path / "out", OutputNaming(), fake_convert, force=True)
    assert [o.status for o in forced] == ["ok", "ok"]


def test_parallel_jobs_give_the_same_outcomes(tmp_path):
    photos = _photos(tmp_path, ["a.png", "bad.png", "c.png"])
    outcomes = run_batch(photos, tmp_path / "out", OutputNaming(), fake_convert, jobs=2)
    assert [o.status for o in outcomes] == ["ok", "failed", "ok"]


def test_expand_inputs_globs_and_keeps_missing_plain_paths(tmp_path):
    _photos(tmp_path, ["x.jpg", "y.jpg", "z.png"])
    found = expand_inputs([str(tmp_path / "*.jpg"), str(tmp_path / "missing.png"), str(tmp_path / "x.jpg")])
    assert [p.name for p in found] == ["x.jpg", "y.jpg", "missing.png"]


def test_output_naming():
    outputs = OutputNaming(mesh_format="glb", save_views=True, preview=True).outputs_for(Path("p/cat.jpg"), Path("o"))
    assert outputs.ply == Path("o/cat.ply") and outputs.mesh == Path("o/cat_mesh.glb")
    assert outputs.views_dir == Path("o/cat_views") and outputs.preview == Path("o/cat_turntable.gif")
    page = OutputNaming(page=True).outputs_for(Path("p/cat.jpg"), Path("o"))
    assert page.preview == Path("o/cat_preview.html") and page.preview_is_page


@pytest.mark.parametrize("kwargs, problem", [
    ({"ply": Path("scene.splat")}, "must be a .ply"),
    ({"ply": Path("s.ply"), "mesh": Path("m.stl")}, "mesh format"),
    ({"ply": Path("s.ply"), "preview": Path("p.mp4")}, ".gif"),
    ({"ply": Path("s.ply"), "mesh": Path("s.ply")}, "same file"),
])
def test_outputs_check_rejects_bad_paths(tmp_path, monkeypatch, kwargs, problem):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match=problem):
        ReconstructOutputs(**kwargs).check()


def test_outputs_check_refuses_existing_without_force(tmp_path):
    (tmp_path / "s.ply").write_text("old")
    with pytest.raises(OutputError, match="already exists"):
        ReconstructOutputs(ply=tmp_path / "s.ply").check()
    ReconstructOutputs(ply=tmp_path / "s.ply", force=True).check()
    assert (tmp_path / "s.ply").read_text() == "old"
