import json

import pytest
import torch

from img2gs import cameras as cam
from img2gs.errors import DataFormatError
from img2gs.image_io import save_png
from img2gs.posed_views import PosedViews, read_posed_views, write_posed_views


def _views(n=5, size=16, generator=None):
    poses = cam.target_orbit(n)
    images = torch.rand(n, size, size, 4, generator=generator)
    K = cam.intrinsics_from_fov(cam.FOV_DEG, size, size).expand(n, 3, 3).clone()
    splits = ["train"] * (n - 2) + ["test"] * 2
    return PosedViews(images=images, c2w=cam.poses_c2w(poses), K=K, splits=splits)


def test_write_read_round_trip(tmp_path, generator):
    views = _views(generator=generator)
    write_posed_views(tmp_path / "scene", views)
    back = read_posed_views(tmp_path / "scene")
    torch.testing.assert_close(back.c2w, views.c2w, atol=1e-6, rtol=0)
    torch.testing.assert_close(back.K, views.K)
    assert back.splits == views.splits
    assert back.names == views.names
    # 8-bit PNG quantisation is the only image change.
    assert (back.images - views.images).abs().max() <= 0.5 / 255 + 1e-6
    meta = json.loads((tmp_path / "scene" / "transforms.json").read_text())
    assert meta["w"] == 16 and meta["test_filenames"] == views.names[-2:]


def test_per_frame_intrinsics_are_kept(tmp_path, generator):
    views = _views(n=3, generator=generator)
    views.K[1, 0, 0] = 30.0
    write_posed_views(tmp_path / "s", views)
    meta = json.loads((tmp_path / "s" / "transforms.json").read_text())
    assert "fl_x" in meta["frames"][0] and "fl_x" not in meta
    torch.testing.assert_close(read_posed_views(tmp_path / "s").K, views.K)


def test_reads_nerf_synthetic_layout(tmp_path):
    c2w = cam.orbit_to_c2w(torch.tensor([10.0, 20.0]), torch.tensor([0.0, 90.0]), torch.tensor([4.0, 4.0]))
    for split, i in (("train", 0), ("test", 1)):
        (tmp_path / split).mkdir()
        save_png(tmp_path / split / "r_0.png", torch.rand(12, 12, 4))
        meta = {"camera_angle_x": 0.6911, "frames": [{"file_path": f"./{split}/r_0", "transform_matrix": c2w[i].tolist()}]}
        (tmp_path / f"transforms_{split}.json").write_text(json.dumps(meta))
    views = read_posed_views(tmp_path)
    assert views.splits == ["train", "test"]
    torch.testing.assert_close(views.c2w, c2w)
    assert views.K[0, 0, 0].item() == pytest.approx(6.0 / torch.tan(torch.tensor(0.6911 / 2)).item(), rel=1e-5)


def test_rewrite_removes_its_own_previous_frames(tmp_path, generator):
    write_posed_views(tmp_path / "s", _views(n=5, generator=generator))
    write_posed_views(tmp_path / "s", _views(n=3, generator=generator))
    assert len(read_posed_views(tmp_path / "s")) == 3
    assert len(list((tmp_path / "s" / "images").iterdir())) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temp or backup left behind


@pytest.mark.parametrize("content, problem", [
    ("{not json", "cannot read JSON"),
    ('{"frames": []}', "non-empty list"),
    ('{"frames": [{"file_path": "a.png"}]}', "transform_matrix"),
    ('{"fl_x": 10, "frames": [{"file_path": "missing.png", "transform_matrix": []}]}', "not found"),
])
def test_malformed_transforms_raise_named_errors(tmp_path, content, problem):
    (tmp_path / "transforms.json").write_text(content)
    with pytest.raises(DataFormatError, match=problem):
        read_posed_views(tmp_path)


def test_missing_folder(tmp_path):
    with pytest.raises(DataFormatError, match="not a directory"):
        read_posed_views(tmp_path / "nope")


def _write_valid(folder, generator, n=3):
    write_posed_views(folder, _views(n=n, generator=generator))
    return json.loads((folder / "transforms.json").read_text())


@pytest.mark.parametrize("change, problem", [
    (lambda m: m["frames"][0].update(transform_matrix="eye"), "4 rows of 4 numbers"),
    (lambda m: m["frames"][0].update(transform_matrix=[[0.0] * 4] * 4), "singular"),
    (lambda m: m["frames"][0].update(transform_matrix=[[1, 0, 0, 0]] * 3 + [[0, 0, 0, float("nan")]]), "finite"),
    (lambda m: m.update(fl_x="abc"), "'fl_x' must be a number"),
    (lambda m: m.update(fl_x=0), "'fl_x' must be a positive number"),
    (lambda m: m.update(fl_y=1e300), "intrinsics out of range"),
    (lambda m: m.update(fl_x=None, fl_y=None, camera_angle_x=4.0), "below pi"),
    (lambda m: m["frames"][0].update(file_path=5), "must be a relative path"),
    (lambda m: m["frames"][0].update(file_path="/etc/passwd"), "is absolute"),
    (lambda m: m["frames"][0].update(file_path="images/../../x.png"), "leaves the folder"),
    (lambda m: m.update(w=12.5), "whole number"),
    (lambda m: m.update(train_filenames="all"), "must be a list"),
])
def test_bad_values_in_transforms_are_named(tmp_path, generator, change, problem):
    meta = _write_valid(tmp_path / "s", generator)
    change(meta)
    (tmp_path / "s" / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(DataFormatError, match=problem):
        read_posed_views(tmp_path / "s")


def test_frame_count_and_decoded_bytes_are_limited(tmp_path, generator, monkeypatch):
    _write_valid(tmp_path / "s", generator, n=3)  # 3 frames of 16 x 16: 3,072 bytes as RGBA
    monkeypatch.setenv("IMG2GS_MAX_FRAMES", "2")
    with pytest.raises(DataFormatError, match="3 frames in one posed-view folder is over the limit of 2"):
        read_posed_views(tmp_path / "s")
    monkeypatch.setenv("IMG2GS_MAX_FRAMES", "3")
    monkeypatch.setenv("IMG2GS_MAX_VIEW_BYTES", "3071")
    with pytest.raises(DataFormatError, match="3,072 decoded bytes"):
        read_posed_views(tmp_path / "s")
    monkeypatch.setenv("IMG2GS_MAX_VIEW_BYTES", "3072")
    assert len(read_posed_views(tmp_path / "s")) == 3
