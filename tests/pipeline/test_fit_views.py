"""The fit's views: the photo in full-resolution tiles, proxy targets, seen-pixel blending."""

import torch

from img2gs.cameras import FOV_DEG, input_pose, intrinsics_from_fov, target_orbit
from img2gs.pipeline.fit_views import blend_seen, concat_views, photo_tiles, proxy_target_views
from img2gs.proxy.render import ProxyRender
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.render import render_rgba


def premultiplied(rgba):
    """Colour is compared premultiplied: where alpha is ~0 it is meaningless."""
    return torch.cat([rgba[..., :3] * rgba[..., 3:], rgba[..., 3:]], -1)


def test_tiles_are_crops_of_the_photo_and_their_cameras_render_the_same_crops(generator):
    pose = input_pose(20.0)
    scene = Gaussians.random_in_sphere(300, 0.8, sh_degree=0, init_opacity=0.6, generator=generator)
    full = render_rgba(scene, pose.c2w()[None], intrinsics_from_fov(FOV_DEG, 64, 64)[None], 64, 64)[0]
    tiles = photo_tiles(full, pose, 32)
    assert len(tiles) == 4 and tiles.width == tiles.height == 32
    for k, (row, col) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        crop = full[row * 32:(row + 1) * 32, col * 32:(col + 1) * 32]
        assert torch.allclose(premultiplied(tiles.images[k]), premultiplied(crop), atol=1e-5)
        rendered = render_rgba(scene, tiles.c2w[k:k + 1], tiles.K[k:k + 1], 32, 32)[0]
        # the same image
        diff = (premultiplied(rendered) - premultiplied(crop)).abs()  # float32 sums in another tile order
        assert float(diff.max()) < 5e-3 and float(diff.mean()) < 1e-4
    single = photo_tiles(full, pose, 64)
    assert len(single) == 1 and torch.allclose(premultiplied(single.images[0]), premultiplied(full), atol=1e-5)


def test_generated_views_never_overrule_what_the_photo_sees():
    proxy_rgba = torch.zeros(2, 8, 8, 4)
    proxy_rgba[..., 0] = 1.0
    proxy_rgba[..., 3] = 1.0  # the proxy: opaque red
    seen = torch.zeros(2, 8, 8)
    seen[:, :, :4] = 1.0  # the left half is seen in the photo
    render = ProxyRender(rgba=proxy_rgba, depth=torch.ones(2, 8, 8), seen=seen)
    generated = torch.zeros(2, 4, 4, 4)
    generated[..., 2] = 1.0
    generated[..., 3] = 1.0  # generated: opaque blue, at a lower resolution
    out = blend_seen(generated, render)
    assert out.shape == (2, 8, 8, 4)
    assert torch.allclose(out[:, :, :4], proxy_rgba[:, :, :4])
    assert torch.allclose(out[:, :, 4:, 2], torch.ones(2, 8, 4))


def test_proxy_targets_are_posed_like_the_orbit(generator):
    from img2gs.proxy.lift import LiftedProxy

    g = Gaussians.random_in_sphere(100, 0.8, sh_degree=0, init_opacity=0.6, generator=generator)
    proxy = LiftedProxy(g, seen=torch.ones(100), layer=torch.zeros(100, dtype=torch.int8))
    views, render = proxy_target_views(proxy, target_orbit(8), 24)
    assert len(views) == 8 and views.width == 24 and render.seen.shape == (8, 24, 24)
    assert float(render.seen[render.rgba[..., 3] > 0.5].min()) > 0.99  # every Gaussian is a seen one
    both = concat_views(photo_tiles(torch.rand(48, 48, 4), input_pose(), 24), views)
    assert len(both) == 12


def test_generated_views_correct_the_proxys_low_frequencies_and_keep_its_detail():
    from img2gs.image_io import resize_rgba
    from img2gs.pipeline.fit_views import transfer_generated

    g = torch.Generator().manual_seed(0)
    proxy_rgba = torch.ones(1, 16, 16, 4)
    proxy_rgba[..., :3] = 0.3 + 0.4 * torch.rand(1, 16, 16, 3, generator=g)  # textured, opaque
    render = ProxyRender(rgba=proxy_rgba, depth=torch.ones(1, 16, 16), seen=torch.zeros(1, 16, 16))
    generated = resize_rgba(proxy_rgba, 4)
    generated[..., 0] += 0.2  # the generator makes it redder at its 4 px
    out = transfer_generated(generated, render)
    assert torch.allclose(resize_rgba(out, 4), generated, atol=1e-4)  # its low frequencies are the generator's
    detail = lambda x: x - resize_rgba(resize_rgba(x, 4), 16)  # noqa: E731
    assert torch.allclose(detail(out)[..., 1:3], detail(proxy_rgba)[..., 1:3], atol=1e-4)  # the proxy's detail
    same = transfer_generated(proxy_rgba.clone(), render)
    assert torch.allclose(same, proxy_rgba, atol=1e-5)  # at full resolution it is the generated view itself
