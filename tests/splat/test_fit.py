import dataclasses

import pytest
import torch

from img2gs.mesh_render.synthetic_scene import synthetic_views
from img2gs.posed_views import PosedViews
from img2gs.presets import load_preset, preset_names
from img2gs.splat.fit import FitConfig, ViewSampler, camera_scene_scale, evaluate, fit


@pytest.fixture(scope="module")
def tiny_views() -> PosedViews:
    return synthetic_views(n_train=6, n_test=2, size=32)


def tiny(config: FitConfig, **changes) -> FitConfig:
    """A preset shrunk to test size (same code paths, fewer points and steps)."""
    mesh = dataclasses.replace(config.mesh, resolution=32, n_views=4, image_size=32)
    return dataclasses.replace(config, init_points=300, hull_resolution=24, mesh=mesh, **changes)


def test_presets_exist():
    assert {"tiny", "fast", "default", "quality"} <= set(preset_names("splat"))


@pytest.mark.parametrize("name", ["tiny", "fast", "default", "quality"])
def test_every_preset_fits_two_steps(tiny_views, name):
    config = tiny(load_preset(FitConfig, "splat", name), iterations=2)
    seen = []
    result = fit(tiny_views.subset("train"), config, backend="torch", callback=seen.append)
    assert [p.step for p in seen] == [1, 2] and all(p.total == 2 for p in seen)
    assert result.gaussians.is_finite() and len(result.gaussians) == result.stats["n_gaussians"]
    assert result.gaussians.sh_degree == config.sh_degree


def test_view_weights_focus_the_fit(tiny_views):
    train = tiny_views.subset("train")
    config = tiny(load_preset(FitConfig, "splat", "tiny"), iterations=40)
    uniform = fit(train, config, backend="cpu")
    weights = torch.zeros(len(train))
    weights[0] = 1.0  # all weight on view 0: it ends up fitted better than with uniform weights
    focused = fit(train, config, backend="cpu", view_weights=weights)
    one = train.select([0])
    focused_psnr = evaluate(focused.gaussians, one, backend="cpu")["psnr"]
    assert focused_psnr > evaluate(uniform.gaussians, one, backend="cpu")["psnr"]
    with pytest.raises(ValueError):
        fit(train, config, view_weights=torch.ones(3))


def test_view_sampler_visits_every_view_once_per_epoch():
    sampler = ViewSampler(5, 2, torch.Generator().manual_seed(0))
    batches = [sampler.next_batch() for _ in range(5)]  # 10 indices = 2 epochs
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(list(range(5)) * 2)


def test_camera_scene_scale_of_an_orbit():
    from img2gs.mesh_render.synthetic_scene import orbit_cameras

    assert camera_scene_scale(orbit_cameras(8, (0.0,))) == pytest.approx(1.1 * 3.2)  # gsplat's rule


def test_config_validation():
    with pytest.raises(ValueError):
        FitConfig(background="green")
    with pytest.raises(ValueError):
        FitConfig(init="sfm")


def test_regularisers_fade_and_shorten_the_gaussians(tiny_views):
    train = tiny_views.subset("train")
    config = tiny(load_preset(FitConfig, "splat", "tiny"), iterations=40)
    plain = fit(train, config, backend="cpu").gaussians
    loss = dataclasses.replace(config.loss, opacity_weight=0.5, needle_weight=0.5, max_anisotropy=2.0)
    regularised = fit(train, dataclasses.replace(config, loss=loss), backend="cpu").gaussians

    def anisotropy(g):
        return (g.scales.max(dim=-1).values / g.scales.min(dim=-1).values).mean()

    assert regularised.opacities.mean() < plain.opacities.mean()
    assert anisotropy(regularised) < anisotropy(plain)
