"""The view generator's backbone: shapes, cross-view coupling, conditioning, encoders."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from img2gs.errors import PresetError
from img2gs.viewgen.config import EncoderConfig, ModelConfig, load_viewgen_preset
from img2gs.viewgen.network import ViewGenNet, drop_condition, null_condition
from img2gs.viewgen.precond import Denoiser

pytestmark = pytest.mark.usefixtures("single_thread")


def tiny_model(**changes) -> ModelConfig:
    return dataclasses.replace(load_viewgen_preset("tiny").model, **changes)


def inputs(b: int = 2, v: int = 3, r: int = 16, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, v, 4, r, r, generator=g), torch.randn(b, generator=g),
            torch.rand(b, 3, r, r, generator=g) * 2 - 1, torch.randn(b, v, 4, generator=g))


@pytest.mark.parametrize("cross_view", [True, False])
def test_forward_shape_and_finite(cross_view):
    net = ViewGenNet(tiny_model(cross_view_attention=cross_view)).eval()
    x, c_noise, photo, pose = inputs()
    with torch.no_grad():
        out = net(x, c_noise, photo, pose)
    assert out.shape == x.shape == (2, 3, 4, 16, 16)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cross_view", [True, False])
def test_cross_view_attention_couples_the_views_of_one_object_only(cross_view):
    """Changing view 2 of object 0 changes view 1 of object 0 only with cross-view attention, and never
    touches object 1."""
    net = ViewGenNet(tiny_model(cross_view_attention=cross_view)).eval()
    x, c_noise, photo, pose = inputs()
    x2 = x.clone()
    x2[0, 2] += torch.randn_like(x2[0, 2])
    with torch.no_grad():
        out, out2 = net(x, c_noise, photo, pose), net(x2, c_noise, photo, pose)
    view1_change = float((out2[0, 1] - out[0, 1]).abs().max())
    assert float((out2[0, 2] - out[0, 2]).abs().max()) > 1e-3  # the changed view itself responds
    assert float((out2[1] - out[1]).abs().max()) == 0.0  # other objects are independent
    if cross_view:
        assert view1_change > 1e-5
    else:
        assert view1_change < 1e-6


def test_pose_and_photo_condition_the_output():
    net = ViewGenNet(tiny_model()).eval()
    x, c_noise, photo, pose = inputs()
    with torch.no_grad():
        out = net(x, c_noise, photo, pose)
        assert (net(x, c_noise, photo, pose + 1.0) - out).abs().max() > 1e-5
        assert (net(x, c_noise, -photo, pose) - out).abs().max() > 1e-5
        assert (net(x, c_noise + 1.0, photo, pose) - out).abs().max() > 1e-5


def test_views_count_is_read_from_the_shapes_so_guidance_can_stack_batches():
    """Stacking [uncond; cond] along B (as the samplers do) gives the same result as two calls."""
    net = ViewGenNet(tiny_model()).eval()
    x, c_noise, photo, pose = inputs(b=1, v=4)
    null = null_condition(photo=photo, pose=pose)
    with torch.no_grad():
        both = net(torch.cat([x, x]), torch.cat([c_noise, c_noise]), torch.cat([null["photo"], photo]),
                   torch.cat([null["pose"], pose]))
        separate = torch.cat([net(x, c_noise, **null), net(x, c_noise, photo, pose)])
    assert torch.allclose(both, separate, atol=1e-5)


def test_bad_shapes_are_rejected():
    net = ViewGenNet(tiny_model())
    x, c_noise, photo, pose = inputs()
    with pytest.raises(ValueError, match="pose"):
        net(x, c_noise, photo, pose[:, :2])
    with pytest.raises(ValueError, match="photo"):
        net(x, c_noise, photo[:1], pose)


def test_drop_condition_drops_photo_pose_and_proxy_together_per_object_and_keeps_the_rays(generator):
    cond = {"photo": torch.ones(64, 3, 4, 4), "pose": torch.ones(64, 5, 4), "proxy": torch.ones(64, 5, 6, 4, 4),
            "rays": torch.ones(64, 5, 6, 4, 4)}
    dropped = drop_condition(cond, 0.5, generator)
    kept = {k: dropped[k].flatten(1).amax(1) > 0 for k in cond}  # [B] each
    assert torch.equal(kept["photo"], kept["pose"]) and torch.equal(kept["photo"], kept["proxy"])
    assert bool(kept["rays"].all())
    assert 10 < int(kept["photo"].sum()) < 54
    null = null_condition(**cond)
    assert float(null["proxy"].abs().max()) == 0.0 and torch.equal(null["rays"], cond["rays"])


def test_denoiser_wraps_the_backbone_with_edm_and_consistency_preconditioning():
    net = ViewGenNet(tiny_model()).eval()
    x, _, photo, pose = inputs()
    with torch.no_grad():
        consistency = Denoiser(net, 0.5, 0.002, "consistency")
        assert torch.allclose(consistency(x, 0.002, photo=photo, pose=pose), x)  # boundary condition
        assert Denoiser(net, 0.5, 0.002, "edm")(x, 1.0, photo=photo, pose=pose).shape == x.shape


def test_initialisation_is_seeded_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a, b = ViewGenNet(tiny_model()), ViewGenNet(tiny_model())
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_invalid_model_configs_are_preset_errors():
    with pytest.raises(PresetError):
        tiny_model(attention=(False,))
    with pytest.raises(PresetError):
        tiny_model(resolution=15)


def test_timm_vit_encoder_with_a_tiny_random_config():
    """The DINOv2 path (timm), built as a tiny random ViT: no download, same call contract."""
    pytest.importorskip("timm", reason="timm (and a torchvision matching torch) is not installed")
    encoder = EncoderConfig(kind="timm", timm_model="vit_tiny_patch16_224", timm_image_size=16, freeze=False,
                            timm_kwargs={"patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2})
    net = ViewGenNet(tiny_model(encoder=encoder)).eval()
    x, c_noise, photo, pose = inputs()
    with torch.no_grad():
        out = net(x, c_noise, photo, pose)
        assert out.shape == x.shape and torch.isfinite(out).all()
        assert (net(x, c_noise, -photo, pose) - out).abs().max() > 1e-6
