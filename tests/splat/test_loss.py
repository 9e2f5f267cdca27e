import pytest
import torch

from img2gs.splat.loss import LossWeights, composite, shape_regularisers, splat_loss


def test_perfect_render_has_zero_loss(generator):
    target = torch.rand(2, 16, 16, 4, generator=generator)
    bg = torch.rand(2, 3, generator=generator)
    loss, parts = splat_loss(composite(target, bg), target[..., 3:], target, bg)
    assert float(loss) == pytest.approx(0.0, abs=1e-5)
    assert parts["l1"].shape == (2,)


def test_wrong_alpha_is_penalised_on_any_background():
    target = torch.zeros(1, 16, 16, 4)
    target[..., 0] = 1.0  # red object covering the image
    target[..., 3] = 1.0
    render_alpha = torch.zeros(1, 16, 16, 1)  # the render shows only background
    for bg in (torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]])):
        loss, parts = splat_loss(bg[:, None, None, :].expand(1, 16, 16, 3), render_alpha, target, bg)
        assert parts["alpha"].item() == pytest.approx(1.0)
        assert loss > 0.09  # the alpha term alone is alpha_weight * 1


def test_l1_and_ssim_weights():
    target = torch.zeros(1, 16, 16, 4)
    target[..., 3] = 1.0
    render = torch.full((1, 16, 16, 3), 0.5)
    bg = torch.zeros(1, 3)
    alpha = torch.ones(1, 16, 16, 1)
    loss, parts = splat_loss(render, alpha, target, bg, LossWeights(ssim_lambda=0.0, alpha_weight=0.0))
    assert float(loss) == pytest.approx(0.5)
    loss2, _ = splat_loss(render, alpha, target, bg, LossWeights(ssim_lambda=1.0, alpha_weight=0.0))
    assert float(loss2) == pytest.approx(float(parts["dssim"][0]))


def test_view_weights_weight_the_views():
    target = torch.zeros(2, 16, 16, 4)
    target[..., 3] = 1.0
    render = torch.zeros(2, 16, 16, 3)
    render[1] = 1.0  # view 1 is wrong, view 0 is right
    bg, alpha = torch.zeros(2, 3), torch.ones(2, 16, 16, 1)
    w = LossWeights(ssim_lambda=0.0, alpha_weight=0.0)
    equal, _ = splat_loss(render, alpha, target, bg, w)
    heavy_on_good, _ = splat_loss(render, alpha, target, bg, w, view_weights=torch.tensor([3.0, 1.0]))
    assert float(equal) == pytest.approx(0.5) and float(heavy_on_good) == pytest.approx(0.25)
    nothing, _ = splat_loss(render, alpha, target, bg, w, view_weights=torch.tensor([0.0, 0.0]))
    assert float(nothing) == 0.0  # a batch of views that do not count
    with pytest.raises(ValueError):
        splat_loss(render, alpha, target, bg, w, view_weights=torch.tensor([-1.0, 1.0]))


def test_loss_gradient_reaches_render(generator):
    target = torch.rand(1, 16, 16, 4, generator=generator)
    render = torch.rand(1, 16, 16, 3, generator=generator, requires_grad=True)
    alpha = torch.rand(1, 16, 16, 1, generator=generator, requires_grad=True)
    loss, _ = splat_loss(render, alpha, target, torch.ones(1, 3))
    loss.backward()
    assert render.grad.abs().sum() > 0 and alpha.grad.abs().sum() > 0


def test_flatten_loss_is_the_mean_smallest_scale():
    from img2gs.splat.loss import flatten_loss

    scales = torch.tensor([[0.1, 0.02, 0.3], [0.05, 0.05, 0.01]], requires_grad=True)
    loss = flatten_loss(scales)
    assert loss.item() == pytest.approx(0.015)
    loss.backward()
    torch.testing.assert_close(scales.grad, torch.tensor([[0.0, 0.5, 0.0], [0.0, 0.0, 0.5]]))


def test_shape_regularisers_by_hand():
    scales = torch.tensor([[0.1, 0.1, 0.1], [2.0, 0.1, 0.1]])  # a ball and a needle 20x as long as wide
    opacities = torch.tensor([0.2, 0.6])
    weights = LossWeights(opacity_weight=1.0, scale_weight=10.0, needle_weight=0.5, max_anisotropy=10.0)
    total, terms = shape_regularisers(scales, opacities, 2.0, weights)
    assert terms["opacity"] == pytest.approx(0.4)
    assert terms["scale"] == pytest.approx((0.3 + 2.2) / 6 / 2.0)
    assert terms["needle"] == pytest.approx((20.0 - 10.0) / 2)  # the ball is under the hinge
    assert total == pytest.approx(0.4 + 10.0 * terms["scale"] + 0.5 * 5.0)


def test_needle_term_shortens_only_needles():
    scales = torch.tensor([[0.1, 0.1, 0.1], [2.0, 0.1, 0.1]], requires_grad=True)
    total, _ = shape_regularisers(scales, torch.ones(2), 1.0, LossWeights(needle_weight=1.0))
    total.backward()
    assert torch.all(scales.grad[0] == 0)  # within the allowed anisotropy: untouched
    assert scales.grad[1, 0] > 0 and scales.grad[1, 1] < 0  # the long axis shrinks, the short one grows


def test_regularisers_off_by_default_and_checked():
    assert not LossWeights().regularised
    assert LossWeights(opacity_weight=0.01).regularised
    with pytest.raises(ValueError):
        LossWeights(needle_weight=-1.0)
    with pytest.raises(ValueError):
        LossWeights(max_anisotropy=0.5)
