"""The shipped generator reads its conditioning: with the proxy of ANOTHER object its views must be
clearly worse against the true views than with the object's own proxy (slow: builds fresh objects,
runs the shipped shape stage and the student)."""

from __future__ import annotations

import statistics

import pytest
import torch

from img2gs.cameras import OrbitPose
from img2gs.data.build import build_dataset
from img2gs.data.config import DataBuildConfig
from img2gs.data.dataset import ViewDataset
from img2gs.image_io import composite_on, resize_rgba
from img2gs.metrics import psnr
from img2gs.paths import find_default_checkpoint
from img2gs.proxy.render import ProxyRender
from img2gs.shape.estimator import ShapeEstimator
from img2gs.viewgen.generator import ViewGenerator
from img2gs.viewgen.proxy_views import sample_proxy_views

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped():
    folder = find_default_checkpoint()
    if folder is None or not (folder / "shape").is_dir():
        pytest.skip("no shipped model folder with a shape stage")
    generator = ViewGenerator.load(folder)
    if not generator.needs_proxy:
        pytest.skip("the shipped generator is not proxy-conditioned")
    return generator, ShapeEstimator.load(folder)


@pytest.fixture(scope="module")
def fresh_objects(tmp_path_factory):
    """8 objects the shipped model never saw (another seed than the shipped data), 64 px, 10 views."""
    config = DataBuildConfig(procedural_objects=4, organic_objects=4, samples_per_shard=64, val_fraction=0.0,
                             seed=90210)
    folder = tmp_path_factory.mktemp("fresh") / "data"
    build_dataset(config, folder)
    return ViewDataset(folder, "train")


def _views_psnr(generator, sample, proxy_render: ProxyRender) -> float:
    images, poses = sample["images"], sample["poses"]
    r = generator.resolution
    targets = [OrbitPose(*map(float, p)) for p in poses[1:]]
    proxy = ProxyRender(proxy_render.rgba[1:], proxy_render.depth[1:], proxy_render.seen[1:])
    views = generator.generate(images[0], OrbitPose(*map(float, poses[0])), targets, proxy=proxy)
    truth = composite_on(torch.stack([resize_rgba(im, r) for im in images[1:]]), 1.0)
    return float(psnr(composite_on(views, 1.0), truth).mean())


def test_the_student_is_clearly_worse_with_another_objects_proxy(shipped, fresh_objects):
    generator, estimator = shipped
    samples = [fresh_objects[i] for i in range(len(fresh_objects))]
    renders = [sample_proxy_views(estimator, s["images"], s["poses"], generator.resolution) for s in samples]
    own = [_views_psnr(generator, s, renders[i]) for i, s in enumerate(samples)]
    # another object's proxy, rendered at THIS sample's poses (the cameras stay right, the object is wrong)
    other = []
    for i, s in enumerate(samples):
        donor = samples[(i + 1) % len(samples)]
        wrong = sample_proxy_views(estimator, donor["images"][:1], s["poses"], generator.resolution)
        other.append(_views_psnr(generator, s, wrong))
    print(f"own proxy {statistics.mean(own):.2f} dB, another object's proxy {statistics.mean(other):.2f} dB")
    assert statistics.mean(own) > statistics.mean(other) + 1.5, (own, other)
