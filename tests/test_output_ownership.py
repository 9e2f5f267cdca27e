"""Issue 11, data loss: img2gs replaces only what it wrote itself.

A folder img2gs owns whole (dataset, training run, checkpoint; known by its manifest) may be replaced
with --force; any other non-empty folder is refused, untouched. A folder the user names for outputs
(`--views-dir`, `views -o`, `render -o`) is merged into. Side files obey the rule of the main output.
Batch output names are resolved up front. Every case checks that unrelated files keep their bytes.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from img2gs import cameras as cam
from img2gs.atomic import (
    CHECKPOINT,
    DATASET,
    TRAINING_RUN,
    atomic_directory,
    check_output_folder,
    check_output_path,
    merge_into_directory,
    owned_folder_kind,
)
from img2gs.cli import app
from img2gs.errors import OutputError
from img2gs.mesh_render.synthetic_scene import write_synthetic_scene
from img2gs.pipeline.outputs import ReconstructOutputs
from img2gs.posed_views import WRITTEN_FILES_KEY, PosedViews, read_posed_views, write_posed_views
from img2gs.splat.export_ply import save_ply
from img2gs.splat.gaussians import Gaussians

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"


def checksums(folder: Path) -> dict[str, str]:
    """Every file below `folder` (hidden ones too) -> sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def user_folder(folder: Path) -> dict[str, str]:
    """A folder of the user's own files (a photo, notes, a sub-folder, a file named like a frame)."""
    (folder / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLES / "mug.jpg", folder / "mug.jpg")
    (folder / "notes.txt").write_text("mine")
    (folder / "sub" / "data.bin").write_bytes(bytes(range(256)))
    (folder / "frame_0000.png").write_bytes(b"not img2gs's")
    return checksums(folder)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name or ".old-" in p.name]


def _views(n: int, size: int = 8) -> PosedViews:
    images = torch.rand(n, size, size, 4, generator=torch.Generator().manual_seed(n))
    K = cam.intrinsics_from_fov(cam.FOV_DEG, size, size).expand(n, 3, 3).clone()
    return PosedViews(images=images, c2w=cam.poses_c2w(cam.target_orbit(n)), K=K)


# --- the manifest names agree with their writers ---------------------------------------------------------


def test_manifests_match_their_writers(tmp_path):
    from img2gs import atomic
    from img2gs.training import loop as training_loop
    from img2gs.viewgen import checkpoint
    from img2gs.data import shards

    assert shards.META_FILE == atomic._DATASET_META
    assert all(f.startswith(atomic._DATASET_FORMAT_PREFIX) for f in shards.READABLE_FORMATS)
    assert (checkpoint.FORMAT, checkpoint.CONFIG_FILE) == (atomic._CHECKPOINT_FORMAT, atomic._CHECKPOINT_CONFIG)
    from img2gs.shape import checkpoint as shape_checkpoint

    assert shape_checkpoint.FORMAT == atomic._SHAPE_CHECKPOINT_FORMAT
    assert checkpoint.RUN_CHECKPOINT_SUBDIR == atomic._RUN_CHECKPOINT_SUBDIR
    assert training_loop.OPTIONS_FILE == atomic._RUN_OPTIONS
    from img2gs.pipeline import train_all

    assert (train_all.PLAN_FILE, train_all.PLAN_FORMAT) == (atomic._LIFECYCLE_PLAN, atomic._LIFECYCLE_FORMAT)
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "plan.json").write_text(json.dumps({"format": train_all.PLAN_FORMAT}))
    assert owned_folder_kind(tmp_path / "l") == atomic.LIFECYCLE_RUN
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "meta.json").write_text(json.dumps({"format": shards.FORMAT}))
    (tmp_path / "r" / "checkpoint").mkdir(parents=True)
    (tmp_path / "r" / "training_options.json").write_text("{}")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text(json.dumps({"format": checkpoint.FORMAT}))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "meta.json").write_text(json.dumps({"format": "something-else"}))
    kinds = [owned_folder_kind(tmp_path / n) for n in ("d", "r", "r/checkpoint", "c", "x", "missing")]
    assert kinds == [DATASET, TRAINING_RUN, CHECKPOINT, CHECKPOINT, None, None]


# --- folders img2gs owns whole: replaced only when recognised ---------------------------------------------


def test_atomic_directory_refuses_a_foreign_folder_and_replaces_its_own(tmp_path):
    before = user_folder(tmp_path / "mine")
    with pytest.raises(OutputError, match="did not create"):
        with atomic_directory(tmp_path / "mine") as tmp:
            (tmp / "x").write_text("never")
    assert checksums(tmp_path / "mine") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temp folder was made
    with pytest.raises(OutputError, match="did not create"):
        check_output_path(tmp_path / "mine", force=True)
    # a dataset (by its meta.json) is replaced whole; an empty folder is replaced too
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "meta.json").write_text(json.dumps({"format": "img2gs-views/2"}))
    (tmp_path / "ds" / "old-shard").write_text("old")
    check_output_path(tmp_path / "ds", force=True)
    with atomic_directory(tmp_path / "ds") as tmp:
        (tmp / "meta.json").write_text(json.dumps({"format": "img2gs-views/2"}))
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == ["meta.json"]
    (tmp_path / "empty").mkdir()
    with atomic_directory(tmp_path / "empty") as tmp:
        (tmp / "f").write_text("x")
    # only the kinds asked for: a training run is not replaced by a dataset writer
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "training_options.json").write_text("{}")
    with pytest.raises(OutputError, match="a training run, not a dataset"):
        check_output_path(tmp_path / "run", force=True, kinds=[DATASET])


def test_data_build_force_refuses_a_foreign_folder(tmp_path):
    before = user_folder(tmp_path / "mine")
    result = runner.invoke(app, ["data", "build", "--preset", "tiny", "-o", str(tmp_path / "mine"), "--force"])
    assert result.exit_code == 2, result.output
    assert "did not create" in result.output and "Traceback" not in result.output
    assert checksums(tmp_path / "mine") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


@pytest.mark.parametrize("command", ["teacher", "distill"])
def test_train_force_refuses_a_folder_that_is_not_a_run(tmp_path, command):
    before = user_folder(tmp_path / "mine")
    (tmp_path / "mine" / "checkpoint").mkdir()  # start_fresh would delete checkpoint/ and log.jsonl of a run
    (tmp_path / "mine" / "log.jsonl").write_text("my log")
    before = checksums(tmp_path / "mine")
    args = ["train", command, "--data", str(tmp_path / "nodata"), "-o", str(tmp_path / "mine"), "--force"]
    if command == "distill":
        (tmp_path / "teacher").mkdir()
        (tmp_path / "teacher" / "config.json").write_text(json.dumps({"format": "img2gs-viewgen"}))
        args += ["--teacher", str(tmp_path / "teacher")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "not a training run folder" in result.output
    assert checksums(tmp_path / "mine") == before and (tmp_path / "mine" / "checkpoint").is_dir()


# --- folders the user names: merged into ------------------------------------------------------------------


def test_posed_views_merge_into_a_user_folder(tmp_path):
    """`reconstruct photos/mug.jpg --views-dir photos --force`: the photo and its neighbours stay."""
    folder = tmp_path / "photos"
    before = user_folder(folder)
    write_posed_views(folder, _views(5))
    assert len(read_posed_views(folder)) == 5
    write_posed_views(folder, _views(3))  # the previous run's frames 3 and 4 go, nothing else does
    assert len(read_posed_views(folder)) == 3
    assert sorted(p.name for p in (folder / "images").iterdir()) == [f"frame_{i:04d}.png" for i in range(3)]
    after = checksums(folder)
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {"transforms.json", *(f"images/frame_{i:04d}.png" for i in range(3))}
    assert no_temp_files(folder)
    write_posed_views(folder, PosedViews(_views(2).images, _views(2).c2w, _views(2).K, names=["a.png", "b.png"]))
    assert not (folder / "images").exists()  # emptied by removing img2gs's own frames
    assert {k: checksums(folder)[k] for k in before} == before


def test_a_foreign_index_is_replaced_but_its_files_are_kept(tmp_path):
    folder = tmp_path / "capture"
    before = user_folder(folder)
    (folder / "transforms.json").write_text(json.dumps({"frames": [{"file_path": "mug.jpg"}],
                                                        WRITTEN_FILES_KEY: "not a list"}))
    write_posed_views(folder, _views(2))
    after = checksums(folder)
    assert {k: after[k] for k in before} == before  # mug.jpg, listed by the foreign index, is kept


def test_merge_never_leaves_the_folder_and_keeps_the_old_index_on_failure(tmp_path):
    (tmp_path / "outside.txt").write_text("keep")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "index.json").write_text("old index")
    merge_into_directory(folder, [], "index.json", "new", previous=["../outside.txt", str(tmp_path / "outside.txt"),
                                                                     "sub/../../outside.txt", "", "."])
    assert (tmp_path / "outside.txt").read_text() == "keep" and (folder / "index.json").read_text() == "new"

    def fails(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        merge_into_directory(folder, [("a.txt", lambda p: p.write_text("A")), ("b.txt", fails)], "index.json", "x")
    assert (folder / "index.json").read_text() == "new"  # the index is written last
    assert (folder / "a.txt").read_text() == "A" and not (folder / "b.txt").exists()  # no half-written file
    assert no_temp_files(folder)
    with pytest.raises(OutputError, match="inside the folder"):
        merge_into_directory(folder, [("../escape.txt", lambda p: p.write_text("x"))], "index.json", "x")
    assert not (tmp_path / "escape.txt").exists()


def test_views_dir_is_checked_as_a_merged_folder(tmp_path):
    photos = tmp_path / "photos"
    before = user_folder(photos)
    outputs = ReconstructOutputs(ply=tmp_path / "o" / "out.ply", views_dir=photos)
    with pytest.raises(OutputError, match="not empty"):
        outputs.check()
    outputs.with_force(True).check()  # with --force: merged into (a folder, not replaced whole)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="expected a folder"):
        check_output_folder(tmp_path / "file", force=True)
    check_output_folder(tmp_path / "empty-or-new")
    assert checksums(photos) == before


@pytest.fixture(scope="module")
def small_scene(tmp_path_factory):
    """A tiny posed-view folder (6 cameras, 16 px) and a .ply of a few Gaussians."""
    root = tmp_path_factory.mktemp("scene")
    views = write_synthetic_scene(root / "views", n_train=4, n_test=2, size=16)
    g = torch.Generator().manual_seed(0)
    n = 64
    gaussians = Gaussians({"means": 0.3 * torch.randn(n, 3, generator=g), "scales": torch.full((n, 3), -2.5),
                           "quats": torch.randn(n, 4, generator=g), "opacities": torch.zeros(n),
                           "sh0": torch.randn(n, 1, 3, generator=g), "shN": torch.zeros(n, 0, 3)})
    save_ply(root / "s.ply", gaussians)
    return views, root / "s.ply"


def test_render_force_merges_into_the_output_folder(small_scene, tmp_path):
    views, ply = small_scene
    out = tmp_path / "mydir"
    before = user_folder(out)
    args = ["render", str(ply), "--cameras", str(views / "transforms.json"), "-o", str(out), "--backend", "torch"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "not empty" in result.output  # without --force: refused
    assert checksums(out) == before
    result = runner.invoke(app, [*args, "--force"])
    assert result.exit_code == 0, result.output
    after = checksums(out)
    assert {k: after[k] for k in before} == before
    rendered = read_posed_views(out)  # the renders are a posed-view folder of their own
    assert len(rendered) == 6 and set(after) - set(before) == {"transforms.json", *rendered.names}
    assert no_temp_files(out)
    # again from 2 cameras: the previous run's other 4 PNGs go, the user's files stay
    cams = json.loads((views / "transforms.json").read_text())
    cams["frames"] = cams["frames"][:2]
    (tmp_path / "two.json").write_text(json.dumps(cams))
    result = runner.invoke(app, ["render", str(ply), "--cameras", str(tmp_path / "two.json"), "-o", str(out),
                                 "--backend", "torch", "--force"])
    assert result.exit_code == 0, result.output
    final = checksums(out)
    assert {k: final[k] for k in before} == before
    assert set(final) - set(before) == {"transforms.json", *read_posed_views(out).names}
    assert len(read_posed_views(out)) == 2


def test_render_refuses_to_write_over_its_inputs(small_scene, tmp_path):
    views, ply = small_scene
    copy = tmp_path / "views"
    shutil.copytree(views, copy)
    before = checksums(copy)
    for target in (copy, copy / "images"):
        result = runner.invoke(app, ["render", str(ply), "--cameras", str(copy), "-o", str(target),
                                     "--backend", "torch", "--force"])
        assert result.exit_code == 2, result.output
        assert "--cameras" in result.output
    assert checksums(copy) == before


# --- side files and batch names ---------------------------------------------------------------------------


def test_fit_refuses_an_existing_side_file_before_any_work(small_scene, tmp_path):
    views, _ = small_scene
    (tmp_path / "scene.fit.json").write_text('{"mine": true}')
    before = checksums(tmp_path)
    result = runner.invoke(app, ["fit", str(views), "-o", str(tmp_path / "scene.ply"), "--preset", "tiny",
                                 "--iters", "1", "--backend", "torch"])
    assert result.exit_code == 2, result.output
    assert "scene.fit.json already exists" in result.output and "fitting" not in result.output
    assert checksums(tmp_path) == before and not (tmp_path / "scene.ply").exists()


def _fake_convert(photo: Path, outputs: ReconstructOutputs, **_) -> None:
    outputs.check()
    outputs.ply.write_text(f"from {photo.name}")


def test_batch_tells_clashing_stems_apart_and_reruns_skip(tmp_path, monkeypatch):
    from img2gs.cli import reconstruct as cli_reconstruct

    monkeypatch.setattr(cli_reconstruct, "_convert", _fake_convert)
    (tmp_path / "in").mkdir()
    for name in ("mug.jpg", "mug.png"):
        shutil.copy(EXAMPLES / name, tmp_path / "in" / name)
    (tmp_path / "in" / "cup.png").write_bytes((EXAMPLES / "mug.png").read_bytes())
    args = ["batch", str(tmp_path / "in" / "*"), "-o", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 ok, 0 failed, 0 skipped" in result.output
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["cup.ply", "mug_jpg.ply", "mug_png.ply"]
    assert (out / "mug_jpg.ply").read_text() == "from mug.jpg" and (out / "mug_png.ply").read_text() == "from mug.png"
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "0 ok, 0 failed, 3 skipped" in result.output


def test_batch_refuses_an_unresolvable_clash_before_any_work(tmp_path, monkeypatch):
    from img2gs.cli import reconstruct as cli_reconstruct

    calls = []
    monkeypatch.setattr(cli_reconstruct, "_convert", lambda photo, outputs, **_: calls.append(photo))
    for sub in ("a", "b"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        shutil.copy(EXAMPLES / "mug.jpg", tmp_path / "in" / sub / "mug.jpg")
    result = runner.invoke(app, ["batch", str(tmp_path / "in" / "*" / "*.jpg"), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "would both write" in result.output and "Traceback" not in result.output
    assert calls == [] and not (tmp_path / "out").exists()
