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
