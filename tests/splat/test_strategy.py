import dataclasses

import pytest
import torch

from img2gs.splat.densify_ops import SPLIT_SCALE_DIVISOR, duplicate, remove, split
from img2gs.splat.gaussians import Gaussians
from img2gs.splat.optim import LearningRates, make_optimizers
from img2gs.splat.strategy import DefaultStrategy, Strategy


def setup(n: int, generator: torch.Generator, scale: float = 0.05, opacity: float = 0.5):
    pts = torch.randn(n, 3, generator=generator)
    g = Gaussians.from_points(pts, torch.rand(n, 3, generator=generator), sh_degree=1, init_opacity=opacity,
                              generator=generator).trainable()
    with torch.no_grad():
        g.params["scales"].fill_(float(torch.log(torch.tensor(scale))))
    optimizers = make_optimizers(g.params, LearningRates(), scene_scale=1.0)
    return g.params, optimizers


def take_adam_step(params, optimizers, generator):
    """One step with a random loss so every parameter has non-zero Adam moments (distinct per row)."""
    loss = sum((p * torch.randn(p.shape, generator=generator)).sum() for p in params.values())
    loss.backward()
    for opt in optimizers.values():
        opt.step()
        opt.zero_grad()


def fake_meta(n: int, grad: torch.Tensor, visible: torch.Tensor | None = None, width=64, height=32):
    means2d = torch.zeros(1, n, 2, requires_grad=True)
    means2d.grad = grad[None].clone()  # [1, N, 2] pixel-space gradients
    radii = torch.ones(1, n, dtype=torch.int32) if visible is None else visible[None].int()
    return {"means2d": means2d, "radii": radii, "width": width, "height": height, "n_cameras": 1}


def moments(optimizer, param):
    return optimizer.state[param]["exp_avg"], optimizer.state[param]["exp_avg_sq"]


def test_split_makes_two_children_with_shrunk_scales_and_aligned_moments(generator):
    params, opts = setup(6, generator)
    take_adam_step(params, opts, generator)
    old = {k: v.detach().clone() for k, v in params.items()}
    old_moments = {k: [m.clone() for m in moments(opts[k], params[k])] for k in params}
    state = {"grad2d": torch.arange(6.0), "count": torch.ones(6), "scene_scale": 1.0}
    mask = torch.tensor([False, True, False, False, True, False])
    split(params, opts, state, mask, generator=generator)

    rest, sel = torch.tensor([0, 2, 3, 5]), torch.tensor([1, 4])
    assert params["means"].shape == (8, 3)
    for name in params:
        assert isinstance(params[name], torch.nn.Parameter)
        assert opts[name].param_groups[0]["params"][0] is params[name]
        exp_avg, exp_avg_sq = moments(opts[name], params[name])
        assert exp_avg.shape == params[name].shape
        # kept rows keep their parameters and their moments; the children start with zero moments
        torch.testing.assert_close(params[name][:4].detach(), old[name][rest]) if name != "means" else None
        torch.testing.assert_close(exp_avg[:4], old_moments[name][0][rest])
        torch.testing.assert_close(exp_avg_sq[:4], old_moments[name][1][rest])
        assert exp_avg[4:].abs().sum() == 0 and exp_avg_sq[4:].abs().sum() == 0
    children_scales = torch.exp(params["scales"][4:].detach())
    torch.testing.assert_close(children_scales, torch.exp(old["scales"][sel]).repeat(2, 1) / SPLIT_SCALE_DIVISOR)
    # children sit around their parent, not on it
    offsets = params["means"][4:].detach() - old["means"][sel].repeat(2, 1)
    assert (offsets.norm(dim=-1) > 0).all() and (offsets.norm(dim=-1) < 0.5).all()
    torch.testing.assert_close(state["grad2d"], torch.tensor([0.0, 2, 3, 5, 1, 4, 1, 4]))


def test_duplicate_appends_copies_with_zero_moments(generator):
    params, opts = setup(5, generator)
    take_adam_step(params, opts, generator)
    old_means = params["means"].detach().clone()
    state = {"grad2d": torch.arange(5.0), "count": torch.ones(5), "scene_scale": 1.0}
    duplicate(params, opts, state, torch.tensor([True, False, False, True, False]))
    torch.testing.assert_close(params["means"][5:].detach(), old_means[[0, 3]])
    exp_avg, _ = moments(opts["means"], params["means"])
    assert exp_avg.shape == (7, 3) and exp_avg[5:].abs().sum() == 0 and exp_avg[:5].abs().sum() > 0
    torch.testing.assert_close(state["grad2d"], torch.tensor([0.0, 1, 2, 3, 4, 0, 3]))


def test_remove_keeps_moments_of_the_survivors(generator):
    params, opts = setup(5, generator)
    take_adam_step(params, opts, generator)
    before, _ = moments(opts["opacities"], params["opacities"])
    before = before.clone()
    remove(params, opts, {"x": torch.arange(5)}, torch.tensor([False, True, True, False, False]))
    after, _ = moments(opts["opacities"], params["opacities"])
    torch.testing.assert_close(after, before[[0, 3, 4]])
    # the optimiser keeps working on the new parameters
    take_adam_step(params, opts, generator)


def test_pruning_removes_exactly_the_low_opacity_gaussians(generator):
    params, opts = setup(10, generator)
    with torch.no_grad():
        params["opacities"][[2, 7]] = torch.logit(torch.tensor(0.001))
        params["opacities"][5] = torch.logit(torch.tensor(0.006))  # just above prune_opa
    keep_means = params["means"].detach()[[0, 1, 3, 4, 5, 6, 8, 9]].clone()
    strategy = DefaultStrategy(prune_opa=0.005, refine_start_iter=0, refine_every=10, reset_every=1000, grow_grad2d=1.0)
    state = strategy.initialize_state()
    done = strategy.step_post_backward(params, opts, state, 10, fake_meta(10, torch.zeros(10, 2)))
    assert done == {"duplicated": 0, "split": 0, "pruned": 2, "reset": 0}
    torch.testing.assert_close(params["means"].detach(), keep_means)


def test_growth_clones_small_and_splits_large_high_gradient_gaussians(generator):
    params, opts = setup(4, generator, scale=0.005)
    with torch.no_grad():
        params["scales"][2:] = float(torch.log(torch.tensor(0.2)))  # 2 and 3 are large
    strategy = DefaultStrategy(grow_grad2d=0.01, grow_scale3d=0.01, refine_start_iter=0, refine_every=10, reset_every=1000)
    state = strategy.initialize_state(scene_scale=1.0)
    # NDC gradient = pixel gradient * width / 2: rows 1 and 3 are above the threshold
    grad = torch.tensor([[0.0, 0.0], [0.001, 0.0], [0.0001, 0.0], [0.0, 0.001]])
    meta = fake_meta(4, grad, width=64, height=32)  # row 1: 0.001*32 = 0.032; row 3: 0.001*16 = 0.016
    done = strategy.step_post_backward(params, opts, state, 10, meta)
    assert (done["duplicated"], done["split"]) == (1, 1)
    assert params["means"].shape[0] == 4 + 1 + 1
    assert state["grad2d"].abs().sum() == 0 and state["count"].abs().sum() == 0  # reset after refining


def test_invisible_gaussians_accumulate_nothing(generator):
    params, opts = setup(3, generator)
    strategy = DefaultStrategy(refine_start_iter=100)
    state = strategy.initialize_state()
    grad = torch.ones(3, 2)
    strategy.step_post_backward(params, opts, state, 1, fake_meta(3, grad, visible=torch.tensor([1, 0, 1])))
    assert state["count"].tolist() == [1.0, 0.0, 1.0]
    assert state["grad2d"][1] == 0 and state["grad2d"][0] > 0


@pytest.mark.parametrize("reset_every", [30, 50])
def test_opacity_reset_happens_exactly_at_the_configured_steps(generator, reset_every):
    """gsplat v1.5.3 wrote `step % reset_every == 0 & step > 0`, which is never true: test the steps."""
    params, opts = setup(8, generator, opacity=0.9)
    strategy = DefaultStrategy(reset_every=reset_every, refine_start_iter=10_000, refine_stop_iter=120, prune_opa=0.005)
    state = strategy.initialize_state()
    reset_steps = []
    for step in range(150):
        take_adam_step(params, opts, generator)  # opacities drift between resets
        with torch.no_grad():
            params["opacities"].fill_(3.0)
        done = strategy.step_post_backward(params, opts, state, step, fake_meta(8, torch.zeros(8, 2)))
        if done["reset"]:
            reset_steps.append(step)
            torch.testing.assert_close(torch.sigmoid(params["opacities"].detach()), torch.full((8,), 0.01))
            exp_avg, exp_avg_sq = moments(opts["opacities"], params["opacities"])
            assert exp_avg.abs().sum() == 0 and exp_avg_sq.abs().sum() == 0
        else:
            assert torch.sigmoid(params["opacities"].detach()).min() > 0.9
    assert reset_steps == [s for s in range(1, 120) if s % reset_every == 0]  # none after refine_stop_iter


def test_growth_respects_max_gaussians(generator):
    params, opts = setup(10, generator, scale=0.005)
    strategy = DefaultStrategy(grow_grad2d=0.0, refine_start_iter=0, refine_every=10, reset_every=1000, max_gaussians=13)
    state = strategy.initialize_state()
    grad = torch.linspace(0.01, 0.1, 10)[:, None].repeat(1, 2)
    strategy.step_post_backward(params, opts, state, 10, fake_meta(10, grad))
    assert params["means"].shape[0] == 13
    torch.testing.assert_close(params["means"][10:].detach(), params["means"][7:10].detach())  # top-3 gradients


def test_strategy_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DefaultStrategy().prune_opa = 0.1


@dataclasses.dataclass(frozen=True)
class RecordingStrategy(Strategy):
    """A strategy that changes nothing and records the fitter's calls (what an MCMC strategy plugs into)."""

    calls: list = dataclasses.field(default_factory=list, compare=False)

    def check_sanity(self, params, optimizers) -> None:
        super().check_sanity(params, optimizers)
        self.calls.append(("sanity", -1))

    def step_pre_backward(self, params, optimizers, state, step, meta) -> None:
        assert meta["means2d"].requires_grad  # the render's graph, before backward
        self.calls.append(("pre", step))

    def step_post_backward(self, params, optimizers, state, step, meta, generator=None):
        self.calls.append(("post", step))
        return {"duplicated": 0, "split": 0, "pruned": 0, "reset": 0}


def test_the_fitter_calls_any_strategy_through_the_base_interface():
    from img2gs.splat.fit import FitConfig, fit
    from img2gs.mesh_render.synthetic_scene import synthetic_views

    views = synthetic_views(n_train=3, n_test=0, size=24).subset("train")
    recording = RecordingStrategy()
    config = FitConfig(iterations=3, init_points=100, hull_resolution=16, strategy=recording)
    fit(views, config, backend="torch")
    assert recording.calls == [("sanity", -1), ("pre", 0), ("post", 0), ("pre", 1), ("post", 1), ("pre", 2),
                               ("post", 2)]
    with pytest.raises(NotImplementedError):
        Strategy().step_post_backward({}, {}, {}, 0, {})
    with pytest.raises(ValueError, match="needs parameter"):
        Strategy().check_sanity({"means": torch.zeros(2, 3)}, {})
