"""The view generator's training-data builder: framing contract, poses, splits, determinism, formats."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from typer.testing import CliRunner

from img2gs.cameras import INPUT_FILL, ORBIT_RADIUS, intrinsics_from_fov, orbit_to_c2w, project_points, viewmat_from_c2w
from img2gs.cli import app
from img2gs.data import DataBuildConfig, ViewDataset, build_dataset, load_shards, plan_objects, read_shard
from img2gs.data.build import render_object
from img2gs.data.framing import frame_for_input_view, hull_points, projected_box
from img2gs.data.mesh_folder import Y_UP_TO_Z_UP, find_meshes, load_mesh
from img2gs.data.procedural import procedural_object
from img2gs.data.sample import render_sample
from img2gs.data.split import split_of
from img2gs.data.views import sample_poses
from img2gs.errors import DataFormatError
from img2gs.mesh_render import prepare_surface, render_mesh
from img2gs.presets import load_preset, to_dict

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data") / "tiny"
    result = runner.invoke(app, ["data", "build", "--preset", "tiny", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_tiny_build_through_the_cli_writes_meta_and_shards(tiny_dataset):
    meta = json.loads((tiny_dataset / "meta.json").read_text())
    config = load_preset(DataBuildConfig, "data", "tiny")
    v, r = config.views_per_sample, config.resolution
    assert meta["resolution"] == r and meta["views_per_sample"] == v and meta["radius"] == ORBIT_RADIUS
    assert meta["counts"]["samples"] == config.procedural_objects and meta["counts"]["empty_views"] == 0
    assert meta["counts"]["train"]["samples"] > 0 and meta["counts"]["val"]["samples"] > 0
    for split in ("train", "val"):
        data = ViewDataset(tiny_dataset, split)
        assert len(data) == meta["counts"][split]["samples"]
        item = data[0]
        assert item["images"].shape == (v, r, r, 4) and item["images"].dtype == torch.float32
        assert item["poses"].shape == (v, 3)
        assert 0.0 <= item["images"].min() and item["images"].max() <= 1.0
        assert (item["images"][..., 3] > 0).any(dim=(1, 2)).all()  # the object is seen in every view
        assert torch.allclose(item["poses"][:, 2], torch.tensor(ORBIT_RADIUS))
        assert item["poses"][0, 1] == 0.0 and -10.0 <= item["poses"][0, 0] <= 40.0
    shard = read_shard(tiny_dataset / meta["shards"]["train"][0])
    assert shard.images.dtype == np.uint8 and shard.images.shape[1:] == (v, r, r, 4)
    assert shard.poses.dtype == np.float32 and len(shard.object_ids) == shard.images.shape[0]
    assert len(load_shards(tiny_dataset, "val")) == meta["counts"]["val"]["samples"]


def test_cli_refuses_existing_output_and_unknown_preset(tiny_dataset, tmp_path):
    result = runner.invoke(app, ["data", "build", "--preset", "tiny", "-o", str(tiny_dataset)])
    assert result.exit_code == 2 and "already exists" in result.output
    result = runner.invoke(app, ["data", "build", "--preset", "no-such-preset", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "unknown data preset" in result.output


def test_split_is_by_object_and_disjoint(tiny_dataset):
    config = load_preset(DataBuildConfig, "data", "tiny")
    ids = {split: set(ViewDataset(tiny_dataset, split).object_ids) for split in ("train", "val")}
    assert ids["train"] and ids["val"] and not ids["train"] & ids["val"]
    assert ids["train"] | ids["val"] == {t.object_id for t in plan_objects(config)}
    for split, members in ids.items():
        assert all(split_of(i, config.val_fraction) == split for i in members)
    share = np.mean([split_of(f"procedural/{i:07d}", 0.05) == "val" for i in range(4000)])
    assert 0.04 < share < 0.06


def test_shard_rows_are_what_render_object_produces(tiny_dataset):
    config = load_preset(DataBuildConfig, "data", "tiny")
    data = ViewDataset(tiny_dataset, "train")
    task = next(t for t in plan_objects(config) if t.object_id == data.object_ids[0])
    result = render_object(task, config)
    assert torch.equal(data[0]["poses"], torch.from_numpy(result.poses[0]))
    assert torch.equal((data[0]["images"] * 255).round().to(torch.uint8), torch.from_numpy(result.images[0]))


def test_the_tumble_of_every_sample_is_replayed_from_the_builds_config(monkeypatch):
    import img2gs.data.build as build

    config = replace(load_preset(DataBuildConfig, "data", "tiny"), procedural_objects=12,
                     procedural_tumble_probability=0.5)
    drawn = []
    real = build.render_sample

    def recording(surface, hull, rng, config, tumble=False):
        drawn.append(tumble)
        return real(surface, hull, rng, config, tumble)

    monkeypatch.setattr(build, "render_sample", recording)
    tasks = [t for t in plan_objects(config) if t.generated is not None]
    replayed = []
    for task in tasks:
        render_object(task, config)
        replayed += [build.was_tumbled(to_dict(config), task.object_id, k) for k in range(task.samples)]
    assert replayed == drawn and 0 < sum(drawn) < len(drawn)  # both kinds occur, each one replayed
    assert not build.was_tumbled(to_dict(config), "meshes/chair.obj", 0)  # meshes keep their up axis


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    config = replace(load_preset(DataBuildConfig, "data", "tiny"), procedural_objects=3)
    build_dataset(config, tmp_path / "a")
    build_dataset(config, tmp_path / "b")
    build_dataset(replace(config, seed=1), tmp_path / "c")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    a = read_shard(tmp_path / "a" / "train-00000.safetensors")
    c = read_shard(tmp_path / "c" / "train-00000.safetensors")
    assert not np.array_equal(a.images, c.images)


def test_a_build_stopped_after_every_object_and_continued_equals_an_uninterrupted_one(tmp_path):
    config = replace(load_preset(DataBuildConfig, "data", "tiny"), procedural_objects=4, organic_objects=1,
                     samples_per_shard=2)
    build_dataset(config, tmp_path / "straight")
    stops = 0
    while build_dataset(config, tmp_path / "stopped", should_stop=lambda: True) is None:
        stops += 1
        assert (tmp_path / "stopped.partial" / "build_state.safetensors").is_file()
        assert not (tmp_path / "stopped").exists()
    assert stops == len(plan_objects(config)) - 1  # the last object finishes the build instead
    assert not (tmp_path / "stopped.partial").exists()
    names = sorted(p.name for p in (tmp_path / "straight").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "stopped").iterdir())
    for name in names:  # meta.json included: counts and statistics carried over the stops
        assert (tmp_path / "straight" / name).read_bytes() == (tmp_path / "stopped" / name).read_bytes(), name


def test_a_stopped_build_is_continued_only_with_its_own_settings(tmp_path):
    from img2gs.errors import OutputError

    config = replace(load_preset(DataBuildConfig, "data", "tiny"), procedural_objects=3)
    assert build_dataset(config, tmp_path / "d", should_stop=lambda: True) is None
    with pytest.raises(OutputError, match="other settings"):
        build_dataset(replace(config, seed=5), tmp_path / "d")
    assert build_dataset(replace(config, seed=5), tmp_path / "d", force=True) is not None  # --force starts over
    (tmp_path / "e.partial").mkdir()
    (tmp_path / "e.partial" / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a stopped img2gs build"):
        build_dataset(config, tmp_path / "e")
    assert (tmp_path / "e.partial" / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_parallel_build_equals_serial_build(tmp_path):
    config = replace(load_preset(DataBuildConfig, "data", "tiny"), procedural_objects=4)
    build_dataset(config, tmp_path / "serial", workers=1)
    build_dataset(config, tmp_path / "parallel", workers=2)
    for path in (tmp_path / "serial").iterdir():
        assert path.read_bytes() == (tmp_path / "parallel" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("index", [0, 2, 5, 7, 10])
def test_input_view_is_framed_centred_at_fill(index):
    """The alpha bounding box of view 0 is centred, its longer side INPUT_FILL of the image (or the
    clamped fill, with the object then exactly at the radius limit)."""
    config = DataBuildConfig(resolution=64, views_per_sample=3)
    surface = prepare_surface(procedural_object(index, 0).scene)
    sample = render_sample(surface, hull_points(surface.vertices), np.random.default_rng(index), config)
    alpha = sample.images[0, ..., 3] > 0
    rows, cols = np.flatnonzero(alpha.any(1)), np.flatnonzero(alpha.any(0))
    size = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    fill = sample.framing.fill
    assert fill * 64 - 1.0 <= size <= fill * 64 + 2.0
    assert abs((cols[0] + cols[-1] + 1) / 2 - 32) <= 1.0 and abs((rows[0] + rows[-1] + 1) / 2 - 32) <= 1.0
    if sample.framing.clamped:
        assert fill < INPUT_FILL and sample.framing.radius == pytest.approx(config.max_object_radius, abs=1e-3)
    else:
        assert fill == INPUT_FILL and sample.framing.radius <= config.max_object_radius


def test_framing_is_exact_on_projected_hull_and_clamps_long_objects():
    c2w = orbit_to_c2w(torch.tensor(20.0), torch.tensor(0.0), torch.tensor(ORBIT_RADIUS)).double().numpy()
    K = intrinsics_from_fov(40.0, 100, 100).double().numpy()
    viewmat = viewmat_from_c2w(torch.from_numpy(c2w)).numpy()
    box = trimesh.creation.box(extents=[0.3, 0.5, 1.4]).vertices
    framing = frame_for_input_view(box, c2w, K, 100, 0.8, 1.08)
    lo, hi = projected_box(box @ framing.matrix[:3, :3].T + framing.matrix[:3, 3], viewmat, K)
    assert np.allclose((lo + hi) / 2, 50.0, atol=1e-3) and (hi - lo).max() == pytest.approx(80.0, abs=1e-3)
    assert not framing.clamped
    rod = trimesh.creation.box(extents=[2.0, 0.05, 0.05]).vertices  # pointing at the camera: tiny silhouette
    framing = frame_for_input_view(rod, c2w, K, 100, 0.8, 1.08)
    assert framing.clamped and framing.fill < 0.8 and framing.radius == pytest.approx(1.08, abs=1e-3)


def test_poses_reproduce_the_cameras_used():
    """Three small coloured spheres: in every view, the pixel where a sphere's centre projects with
    the camera rebuilt from the stored pose has that sphere's colour."""
    markers = {(1, 0, 0): (0.6, 0.0, 0.0), (0, 1, 0): (-0.3, 0.5, 0.2), (0, 0, 1): (-0.3, -0.5, -0.3)}
    scene = trimesh.Scene()
    for color, centre in markers.items():
        ball = trimesh.creation.icosphere(subdivisions=2, radius=0.15)
        ball.apply_translation(centre)
        ball.visual.face_colors = [*(np.array(color) * 255), 255]
        scene.add_geometry(ball)
    config = DataBuildConfig(resolution=96, views_per_sample=8, ambient=(1.0, 1.0))
    surface = prepare_surface(scene)
    sample = render_sample(surface, hull_points(surface.vertices), np.random.default_rng(3), config)
    poses = torch.from_numpy(sample.poses).double()
    viewmats = viewmat_from_c2w(orbit_to_c2w(poses[:, 0], poses[:, 1], poses[:, 2]).double())
    centres = np.array(list(markers.values())) @ sample.placement[:3, :3].T + sample.placement[:3, 3]
    K = intrinsics_from_fov(40.0, 96, 96).double()
    ball_radius = 0.15 * np.linalg.norm(sample.placement[:3, 0])
    checked = 0
    for view in range(config.views_per_sample):
        uv, _ = project_points(torch.from_numpy(centres), viewmats[view], K)
        eye = orbit_to_c2w(poses[view, 0], poses[view, 1], poses[view, 2]).double()[:3, 3].numpy()
        for i, ((color, _), (u, v)) in enumerate(zip(markers.items(), uv.tolist())):
            if _occluded(eye, centres, i, ball_radius):
                continue
            pixel = sample.images[view, int(v), int(u)]
            assert pixel[3] == 255 and int(np.argmax(pixel[:3])) == int(np.argmax(color)), (view, color)
            checked += 1
    assert checked >= 0.8 * 3 * config.views_per_sample


def _occluded(eye: np.ndarray, centres: np.ndarray, i: int, radius: float) -> bool:
    """Another ball lies (partly) between the camera and the centre of ball i."""
    ray = (centres[i] - eye) / np.linalg.norm(centres[i] - eye)
    for j, other in enumerate(centres):
        along = (other - eye) @ ray
        if j != i and along < (centres[i] - eye) @ ray and np.linalg.norm(other - eye - along * ray) < radius * 1.1:
            return True
    return False


def test_target_poses_mix_random_and_exact_orbit_poses():
    from img2gs.cameras import target_orbit

    config = DataBuildConfig(views_per_sample=10)
    orbit_poses = {(p.elevation, p.azimuth) for n in (8, 12, 16) for p in target_orbit(n)}
    exact, samples = 0, 200
    for k in range(samples):
        poses = sample_poses(np.random.default_rng(k), config)
        assert poses.shape == (10, 3) and poses[0, 1] == 0.0 and -10 <= poses[0, 0] <= 40
        targets = poses[1:]
        assert ((targets[:, 0] >= -20) & (targets[:, 0] <= 50)).all() and (targets[:, 1] < 360).all()
        exact += sum((e, a) in orbit_poses for e, a in targets[:, :2].tolist()) >= 8  # min(V - 1, n) >= 8
    assert 0.35 * samples < exact < 0.65 * samples  # orbit_probability 0.5


def write_textured_box_obj(folder: Path, name: str = "tall") -> Path:
    """A 0.6 x 2 x 0.6 box, Y-up (as OBJ files are), textured red on its upper half, blue below."""
    folder.mkdir(parents=True, exist_ok=True)
    texture = np.zeros((8, 8, 3), np.uint8)
    texture[:4] = (255, 0, 0)  # image top = v near 1 = upper half of the box
    texture[4:] = (0, 0, 255)
    Image.fromarray(texture).save(folder / f"{name}.png")
    (folder / f"{name}.mtl").write_text(f"newmtl paint\nKd 1 1 1\nmap_Kd {name}.png\n")
    box = trimesh.creation.box(extents=[0.6, 2.0, 0.6])
    box.apply_translation([0, 1.0, 0])
    lines = [f"mtllib {name}.mtl", "usemtl paint"]
    for f, face in enumerate(box.faces):
        for vertex in box.vertices[face]:
            lines.append("v {} {} {}".format(*vertex))
            lines.append(f"vt {0.5 + vertex[0] + vertex[2]} {vertex[1] / 2.0}")
        lines.append("f " + " ".join(f"{3 * f + k}/{3 * f + k}" for k in (1, 2, 3)))
    path = folder / f"{name}.obj"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_obj_with_mtl_and_texture_loads_upright_and_renders_its_texture(tmp_path):
    write_textured_box_obj(tmp_path / "meshes")
    (entry,) = find_meshes(tmp_path / "meshes")
    assert entry.object_id == "meshes/tall.obj"
    scene = load_mesh(entry)
    assert np.allclose(scene.extents, [0.6, 0.6, 2.0], atol=1e-6)  # Y-up file turned +Z up
    c2w = orbit_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([ORBIT_RADIUS]))
    scene.apply_translation([0, 0, -1.0])
    out = render_mesh(scene, c2w, intrinsics_from_fov(40.0, 64, 64), 64, 64, ambient=1.0)
    column = out.rgba[0, :, 32]
    covered = torch.nonzero(column[:, 3] == 1).flatten()
    top, bottom = column[covered[len(covered) // 4]], column[covered[3 * len(covered) // 4]]
    assert torch.allclose(top[:3], torch.tensor([1.0, 0.0, 0.0]), atol=0.01)
    assert torch.allclose(bottom[:3], torch.tensor([0.0, 0.0, 1.0]), atol=0.01)


def test_build_with_mesh_folder_counts_meshes_and_skips_broken_ones(tmp_path):
    write_textured_box_obj(tmp_path / "meshes")
    (tmp_path / "meshes" / "broken.ply").write_bytes(b"ply\nthis is not a mesh\n")
    (tmp_path / "meshes" / "flat.off").write_text("OFF\n4 2 0\n0 0 0\n1 0 0\n1 1 0\n0 1 0\n3 0 1 2\n3 0 2 3\n")
    (tmp_path / "meshes" / "LICENSE").write_text("CC0\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "build", "--preset", "tiny", "--procedural", "0", "--meshes",
                                 str(tmp_path / "meshes"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["samples"] == 1 and sum(meta["counts"]["skipped_meshes"].values()) == 2
    assert meta["counts"]["skipped_meshes"]["flat"] == 1  # a plane would be invisible edge-on
    meshes_source = next(s for s in meta["sources"] if s["kind"] == "meshes")
    assert meshes_source["licences"] == {"LICENSE": 3}
    split = "train" if meta["counts"]["train"]["samples"] else "val"
    item = ViewDataset(out, split)[0]
    assert item["object_id"] == "meshes/tall.obj"
    rgb = item["images"][..., :3][item["images"][..., 3] == 1]
    assert (rgb[:, 0] > 0.2).any() and (rgb[:, 2] > 0.2).any()  # both texture colours are seen


def test_sweet_home_3d_catalog_is_read_with_rotation_licence_and_without_doors(tmp_path):
    catalog = tmp_path / "meshes" / "MyCatalog"
    write_textured_box_obj(catalog / "cat" / "tall")
    write_textured_box_obj(catalog / "cat" / "door", name="door")
    write_textured_box_obj(catalog / "cat" / "unlisted", name="unlisted")
    (catalog / "PluginFurnitureCatalog.properties").write_text(
        "# test catalog\nname=My catalog\nlicense=Creative Commons Attribution 3.0\n"
        "model#1=/cat/tall/tall.obj\nmodelRotation#1=1 0 0 0 0 1 0 -1 0\ncreator#1=Some\\u00f6ne\n"
        "model#2=/cat/door/door.obj\ndoorOrWindow#2=true\n", encoding="latin-1")
    entries = find_meshes(tmp_path / "meshes")
    assert [e.object_id for e in entries] == ["meshes/MyCatalog/cat/tall/tall.obj"]
    rotation = Y_UP_TO_Z_UP @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]])
    assert np.allclose(entries[0].rotation, rotation)
    assert "Creative Commons" in entries[0].licence and "Someöne" in entries[0].credit
    assert len(find_meshes(tmp_path / "meshes", include_doors_and_windows=True)) == 2


def test_reading_a_folder_that_is_not_a_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(DataFormatError, match="not an img2gs dataset"):
        ViewDataset(tmp_path, "train")
    with pytest.raises(DataFormatError, match="does not exist"):
        find_meshes(tmp_path / "missing")


def test_glb_with_pbr_texture_loads_upright_and_renders_its_texture(tmp_path):
    """glTF is Y-up by specification; its base-colour texture goes through the PBR material path."""
    obj_dir = tmp_path / "obj"
    write_textured_box_obj(obj_dir)
    mesh = trimesh.load(obj_dir / "tall.obj", force="mesh", process=False)  # Y-up vertices, textured
    mesh.visual.material = mesh.visual.material.to_pbr()
    (tmp_path / "meshes").mkdir()
    mesh.export(tmp_path / "meshes" / "tall.glb")
    (entry,) = find_meshes(tmp_path / "meshes")
    scene = load_mesh(entry)
    assert np.allclose(scene.extents, [0.6, 0.6, 2.0], atol=1e-5)
    scene.apply_translation([0, 0, -1.0])
    c2w = orbit_to_c2w(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([ORBIT_RADIUS]))
    out = render_mesh(scene, c2w, intrinsics_from_fov(40.0, 64, 64), 64, 64, ambient=1.0)
    column = out.rgba[0, :, 32]
    covered = torch.nonzero(column[:, 3] == 1).flatten()
    assert column[covered[len(covered) // 4], 0] > 0.95 and column[covered[3 * len(covered) // 4], 2] > 0.95


def test_several_builds_read_as_one_dataset(tiny_dataset, tmp_path):
    from img2gs.data import ViewDatasets

    other = tmp_path / "other"
    result = runner.invoke(app, ["data", "build", "--preset", "tiny", "-o", str(other), "--seed", "5"])
    assert result.exit_code == 0, result.output
    first, second = ViewDataset(tiny_dataset, "train"), ViewDataset(other, "train")
    both = load_shards([tiny_dataset, other], "train")
    assert isinstance(both, ViewDatasets) and len(both) == len(first) + len(second)
    assert both.object_ids == first.object_ids + second.object_ids and both.has_depth
    assert torch.equal(both[len(first)]["images"], second[0]["images"])  # the second build follows the first
    assert torch.equal(both[-1]["images"], second[len(second) - 1]["images"])
    with pytest.raises(IndexError):
        both[len(both)]
    assert isinstance(load_shards([tiny_dataset], "train"), ViewDataset)  # one folder: the plain reader


def test_builds_of_different_resolutions_are_not_read_as_one(tiny_dataset, tmp_path):
    bigger = tmp_path / "bigger.json"
    preset = json.loads((Path(__file__).parents[2] / "configs" / "data" / "tiny.json").read_text())
    bigger.write_text(json.dumps({**preset, "resolution": 2 * preset["resolution"]}))
    result = runner.invoke(app, ["data", "build", "--preset", str(bigger), "-o", str(tmp_path / "big")])
    assert result.exit_code == 0, result.output
    with pytest.raises(DataFormatError, match="px"):
        load_shards([tiny_dataset, tmp_path / "big"], "train")
