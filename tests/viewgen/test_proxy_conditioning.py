"""The generator conditioned per pixel on the lifted proxy: precomputed proxy views (resumable), batches,
training of a proxy-conditioned teacher and student, and generation with a proxy."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import torch

from typer.testing import CliRunner

from img2gs.cameras import OrbitPose
from img2gs.cli import app
from img2gs.errors import DataFormatError, OutputError
from img2gs.proxy.render import ProxyRender
from img2gs.image_io import composite_on
from img2gs.viewgen.batches import BatchSampler, check_proxies, decode_views, encode_views
from img2gs.viewgen.config import load_viewgen_preset
from img2gs.viewgen.generator import ViewGenerator
from img2gs.viewgen.network import PROXY_CHANNELS, ViewGenNet
from img2gs.viewgen.proxy_views import MANIFEST, ProxyViewStore, build_proxy_views, spread_shards
from img2gs.viewgen.train_distill import train_distill
from img2gs.viewgen.train_teacher import train_teacher
from tests.viewgen.viewgen_helpers import RESOLUTION, VIEWS, tiny_dataset

runner = CliRunner()


def proxy_preset(residual: bool = False):
    preset = load_viewgen_preset("tiny")
    model = dataclasses.replace(preset.model, proxy_conditioning=True, residual_on_proxy=residual)
    return preset, model, dataclasses.replace(preset.teacher, model=model)


@pytest.fixture(scope="module")
def proxy_dir(tiny_data_dir, tiny_shape, tmp_path_factory):
    out = tmp_path_factory.mktemp("proxies") / "proxies"
    build_proxy_views(tiny_data_dir, tiny_shape, out, RESOLUTION)
    return out


def test_proxy_views_are_built_for_every_split_and_read_back_aligned(proxy_dir, tiny_data_dir):
    dataset = tiny_dataset(tiny_data_dir, "val")
    store = ProxyViewStore(proxy_dir, dataset)
    assert store.resolution == RESOLUTION and store.indices == list(range(len(dataset)))
    render = store[0]
    assert render.rgba.shape == (VIEWS, RESOLUTION, RESOLUTION, 4)
    assert render.depth.shape == render.seen.shape == (VIEWS, RESOLUTION, RESOLUTION)
    assert 0.0 <= float(render.seen.min()) and float(render.seen.max()) <= 1.0
    # the proxy covers the photo at its own pose (view 0) and is seen there
    photo_alpha = dataset[0]["images"][0, ..., 3] > 0.5
    assert float((render.rgba[0, ..., 3] > 0.5)[photo_alpha].float().mean()) > 0.9
    assert float(render.seen[0][photo_alpha].mean()) > 0.8


def test_proxy_build_resumes_missing_shards_and_refuses_other_settings(proxy_dir, tiny_data_dir, tiny_shape):
    shard = next(p for p in proxy_dir.iterdir() if p.name.startswith("train"))
    before = shard.read_bytes()
    shard.unlink()
    build_proxy_views(tiny_data_dir, tiny_shape, proxy_dir, RESOLUTION)  # resumes: only the missing shard
    assert shard.read_bytes() == before
    with pytest.raises(OutputError, match="other settings"):
        build_proxy_views(tiny_data_dir, tiny_shape, proxy_dir, RESOLUTION * 2)
    assert json.loads((proxy_dir / MANIFEST).read_text())["resolution"] == RESOLUTION


def test_proxy_build_refuses_a_folder_it_did_not_make(tmp_path, tiny_data_dir, tiny_shape):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not a proxy-view folder"):
        build_proxy_views(tiny_data_dir, tiny_shape, tmp_path, RESOLUTION)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_spread_shards_keeps_both_ends_and_every_part_of_the_build_order():
    assert spread_shards(17, 8) == [0, 2, 5, 7, 9, 11, 14, 16]
    assert spread_shards(3, 8) == [0, 1, 2]


def test_batches_carry_the_proxy_and_rays_of_the_chosen_views(proxy_dir, tiny_data_dir):
    _, model, _ = proxy_preset()
    dataset = tiny_dataset(tiny_data_dir)
    store = check_proxies(model, ProxyViewStore(proxy_dir, dataset))
    batch = BatchSampler(dataset, 2, 2, RESOLUTION, seed=0, proxies=store).batch(0)
    assert batch.proxy.shape == (2, 2, PROXY_CHANNELS, RESOLUTION, RESOLUTION)
    assert batch.rays.shape == (2, 2, 6, RESOLUTION, RESOLUTION)
    assert set(batch.cond()) == {"photo", "pose", "proxy", "rays"}
    with pytest.raises(DataFormatError, match="proxy"):
        check_proxies(model, None)


def test_the_network_reads_the_proxy_per_pixel():
    _, model, _ = proxy_preset()
    net = ViewGenNet(model).eval()
    b, v, r = 1, 2, RESOLUTION
    x, photo, pose = torch.randn(b, v, 4, r, r), torch.randn(b, 3, r, r), torch.randn(b, v, 4)
    proxy, rays = torch.randn(b, v, PROXY_CHANNELS, r, r), torch.randn(b, v, 6, r, r)
    with torch.no_grad():
        out = net(x, torch.zeros(b), photo, pose, proxy, rays)
        assert (net(x, torch.zeros(b), photo, pose, -proxy, rays) - out).abs().max() > 1e-5
        assert (net(x, torch.zeros(b), photo, pose, proxy, -rays) - out).abs().max() > 1e-5
    with pytest.raises(ValueError, match="proxy"):
        net(x, torch.zeros(b), photo, pose)


@pytest.fixture(scope="module")
def proxy_student(proxy_dir, tiny_data_dir, tmp_path_factory):
    preset, _, teacher_config = proxy_preset()
    dataset = tiny_dataset(tiny_data_dir)
    store = ProxyViewStore(proxy_dir, dataset)
    runs = tmp_path_factory.mktemp("proxy_runs")
    with pytest.raises(DataFormatError, match="proxy"):
        train_teacher(teacher_config, dataset, runs / "no_proxies")
    train_teacher(teacher_config, dataset, runs / "teacher", proxies=store)
    train_distill(preset.distill, runs / "teacher", dataset, runs / "student", proxies=store)
    return runs / "student"


@pytest.fixture(scope="module")
def proxy_model(proxy_student, tiny_shape, tmp_path_factory):
    """A model folder like assets/model/: the proxy-conditioned student plus shape/."""
    folder = tmp_path_factory.mktemp("proxy_model")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(proxy_student / "checkpoint" / name, folder / name)
    shutil.copytree(tiny_shape / "checkpoint", folder / "shape", ignore=shutil.ignore_patterns("train_state*"))
    return folder


def test_reconstruct_and_views_condition_the_generator_on_the_photos_proxy(proxy_model, tmp_path):
    from tests.pipeline.test_reconstruct import TINY, product_photo

    photo = product_photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    result = runner.invoke(app, ["reconstruct", str(photo), "-o", str(out / "scene.ply"), "--view-source",
                                 "generator", *TINY, "--model", str(proxy_model)])
    assert result.exit_code == 0, result.output
    assert (out / "scene.ply").stat().st_size > 0
    views = runner.invoke(app, ["views", str(photo), "-o", str(out / "views"), "-n", "4", "--device", "cpu",
                                "--model", str(proxy_model)])
    assert views.exit_code == 0, views.output
    assert len(list((out / "views" / "images").glob("view_*.png"))) == 4


def test_a_proxy_conditioned_teacher_and_student_train_and_generate(proxy_student, proxy_dir, tiny_data_dir):
    student = ViewGenerator.load(proxy_student)
    assert student.needs_proxy
    sample = tiny_dataset(tiny_data_dir, "val")[0]
    full = ProxyViewStore(proxy_dir, tiny_dataset(tiny_data_dir, "val"))[0]
    proxy = ProxyRender(full.rgba[1:], full.depth[1:], full.seen[1:])
    targets = [OrbitPose(*map(float, p)) for p in sample["poses"][1:]]
    views = student.generate(sample["images"][0], OrbitPose(*map(float, sample["poses"][0])), targets, proxy=proxy)
    assert views.shape == (VIEWS - 1, RESOLUTION, RESOLUTION, 4) and torch.isfinite(views).all()
    with pytest.raises(ValueError, match="proxy"):
        student.generate(sample["images"][0], OrbitPose(*map(float, sample["poses"][0])), targets)


def test_a_residual_generator_samples_around_the_proxy(proxy_dir, tiny_data_dir, tmp_path):
    """With residual_on_proxy the sample is x - proxy: a network that outputs nothing gives the proxy back."""
    preset, _, teacher_config = proxy_preset(residual=True)
    dataset = tiny_dataset(tiny_data_dir)
    store = ProxyViewStore(proxy_dir, dataset)
    train_teacher(teacher_config, dataset, tmp_path / "teacher", proxies=store)
    train_distill(preset.distill, tmp_path / "teacher", dataset, tmp_path / "student", proxies=store)
    student = ViewGenerator.load(tmp_path / "student")
    with torch.no_grad():
        out = student.denoiser.backbone.unet.conv_out
        out.weight.zero_()
        out.bias.zero_()
    val = tiny_dataset(tiny_data_dir, "val")
    sample, full = val[0], ProxyViewStore(proxy_dir, val)[0]
    proxy = ProxyRender(full.rgba[1:], full.depth[1:], full.seen[1:])
    targets = [OrbitPose(*map(float, p)) for p in sample["poses"][1:]]
    views = student.generate(sample["images"][0], OrbitPose(*map(float, sample["poses"][0])), targets, proxy=proxy)
    expected = decode_views(encode_views(proxy.rgba))
    assert torch.allclose(views[..., 3], expected[..., 3], atol=0.02)
    assert torch.allclose(composite_on(views, 1.0), composite_on(expected, 1.0), atol=0.02)
