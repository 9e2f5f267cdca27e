"""The rasterizer: hand-computed cases for the torch twin, and the numba `cpu` backend against the twin
(images and gradients w.r.t. every parameter), and gsplat against `cpu` on a GPU machine."""

from __future__ import annotations

import math

import pytest
import torch

from img2gs.cameras import OrbitPose, intrinsics_from_fov, project_points, viewmat_from_c2w
from img2gs.splat.projection import project_gaussians
from img2gs.splat.rasterize import rasterize
from img2gs.splat.sh import eval_sh, rgb_to_sh0, sh_basis

F64 = torch.float64


def make_scene(n: int, n_cameras: int, sh_degree: int | None, gen: torch.Generator, dtype=F64, width=40, height=28):
    """Random Gaussians around the unit sphere (some beyond the image edges), a few of them behind
    camera 0, seen by orbit cameras of which the second is close enough to crop the object."""
    means = torch.randn(n, 3, generator=gen, dtype=F64) * 0.7
    means[-1:] = 0.0  # at least one (fairly opaque) Gaussian in view
    poses = [OrbitPose(20.0, 30.0), OrbitPose(-10.0, 200.0, 1.6)][:n_cameras]
    c2w = torch.stack([p.c2w() for p in poses]).to(F64)
    if n >= 8:  # put a few Gaussians behind camera 0: beyond its centre, away from the object
        centre = c2w[0, :3, 3]
        means[:4] = centre * 1.3 + 0.1 * torch.randn(4, 3, generator=gen, dtype=F64)
    params = {
        "means": means,
        "quats": torch.randn(n, 4, generator=gen, dtype=F64),
        "scales": torch.rand(n, 3, generator=gen, dtype=F64) * 0.12 + 0.02,
        "opacities": torch.rand(n, generator=gen, dtype=F64) * 0.98 + 0.01,
        "colors": (torch.randn(n, (sh_degree + 1) ** 2, 3, generator=gen, dtype=F64) * 0.4
                   if sh_degree is not None else torch.rand(n, 3, generator=gen, dtype=F64)),
        "backgrounds": torch.rand(n_cameras, 3, generator=gen, dtype=F64),
    }
    params["opacities"][-1] = 0.9
    params = {k: v.to(dtype) for k, v in params.items()}
    cams = {
        "viewmats": viewmat_from_c2w(c2w).to(dtype),
        "Ks": intrinsics_from_fov(40.0, width, height)[None].expand(n_cameras, 3, 3).to(dtype),
        "width": width,
        "height": height,
    }
    return params, cams


def render_with_grads(backend: str, params: dict, cams: dict, weights: tuple, **kw):
    """Render, take the loss sum(w_c * colours) + sum(w_a * alphas), return outputs and all grads."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    colors, alphas, meta = rasterize(
        leaves["means"], leaves["quats"], leaves["scales"], leaves["opacities"], leaves["colors"],
        cams["viewmats"], cams["Ks"], cams["width"], cams["height"], backgrounds=leaves["backgrounds"],
        backend=backend, **kw,
    )
    meta["means2d"].retain_grad()  # what a densification strategy does (strategy.py)
    w_colors, w_alphas = weights
    ((colors * w_colors[..., : colors.shape[-1]]).sum() + (alphas * w_alphas).sum()).backward()
    grads = {k: v.grad for k, v in leaves.items()}
    grads["means2d"] = meta["means2d"].grad
    return colors.detach(), alphas.detach(), grads, meta


def loss_weights(params: dict, cams: dict, gen: torch.Generator):
    C, H, W = params["backgrounds"].shape[0], cams["height"], cams["width"]
    dtype = params["means"].dtype
    return torch.rand(C, H, W, 4, generator=gen, dtype=F64).to(dtype), torch.rand(C, H, W, 1, generator=gen, dtype=F64).to(dtype)


# ----------------------------------------------------------------------------- torch twin, by hand


def _one_gaussian(opacity: float, mean_xy=(0.01, 0.01), z=2.0, scale=0.05):
    """One isotropic Gaussian seen by an identity camera (f = 100, 32x32), so its mean projects to
    (16.5, 16.5): the centre of pixel (16, 16)."""
    args = dict(
        means=torch.tensor([[mean_xy[0], mean_xy[1], z]], dtype=F64),
        quats=torch.tensor([[0.3, -0.2, 0.5, 0.1]], dtype=F64),  # any rotation: the Gaussian is isotropic
        scales=torch.full((1, 3), scale, dtype=F64),
        opacities=torch.tensor([opacity], dtype=F64),
        colors=torch.tensor([[0.2, 0.4, 0.9]], dtype=F64),
        viewmats=torch.eye(4, dtype=F64)[None],
        Ks=torch.tensor([[[100.0, 0, 16], [0, 100.0, 16], [0, 0, 1]]], dtype=F64),
        width=32,
        height=32,
    )
    return args


def test_single_gaussian_matches_hand_computation():
    args = _one_gaussian(opacity=0.7)
    bg = torch.tensor([[0.1, 0.5, 0.3]], dtype=F64)
    colors, alphas, meta = rasterize(**args, backgrounds=bg, backend="torch")
    # The pixel centre sits on the mean: sigma = 0, so alpha = opacity, colour = o c + (1 - o) bg.
    assert alphas[0, 16, 16, 0].item() == pytest.approx(0.7, abs=1e-12)
    expected = 0.7 * args["colors"][0] + 0.3 * bg[0]
    torch.testing.assert_close(colors[0, 16, 16], expected, rtol=0, atol=1e-12)
    # By hand: J = (f/z) [[1, 0, -x/z], [0, 1, -y/z]], Sigma_2d = s^2 J J^T + 0.3 I.
    f_z, u, s2 = 100.0 / 2.0, 0.01 / 2.0, 0.05**2
    cxx = s2 * f_z**2 * (1 + u * u) + 0.3
    cxy = s2 * f_z**2 * u * u
    det = cxx * cxx - cxy * cxy
    conic_xx, conic_xy = cxx / det, -cxy / det
    lambda_max = cxx + abs(cxy)
    assert meta["radii"][0, 0].item() == math.ceil(3 * math.sqrt(lambda_max))
    torch.testing.assert_close(meta["means2d"][0, 0], torch.tensor([16.5, 16.5], dtype=F64))
    # One pixel to the right: d = (-1, 0), sigma = conic_xx / 2; one diagonally: d = (-1, -1).
    assert alphas[0, 16, 17, 0].item() == pytest.approx(0.7 * math.exp(-0.5 * conic_xx), rel=1e-10)
    diag = 0.5 * (2 * conic_xx) + conic_xy
    assert alphas[0, 17, 17, 0].item() == pytest.approx(0.7 * math.exp(-diag), rel=1e-10)
    # Far from the mean alpha < 1/255 is skipped entirely, and the background shows unchanged.
    assert alphas[0, 0, 0, 0].item() == 0.0
    torch.testing.assert_close(colors[0, 0, 0], bg[0], rtol=0, atol=0)


def test_opacity_is_clamped_and_nearer_gaussian_wins():
    args = _one_gaussian(opacity=1.0)
    colors, alphas, _ = rasterize(**args, backend="torch")
    assert alphas[0, 16, 16, 0].item() == pytest.approx(0.999, abs=1e-12)
    # Two nearly opaque Gaussians on the same pixel, the far one listed first: the near one is drawn,
    # T = 0.001 after it, and the far one would take T below 1e-4, so compositing stops before it.
    far, near = _one_gaussian(1.0, z=3.0), _one_gaussian(1.0, mean_xy=(0.01, 0.01), z=2.0)
    two = {k: (torch.cat([far[k], near[k]]) if k in ("means", "quats", "scales", "opacities", "colors") else far[k])
           for k in far}
    two["means"][0, :2] = 0.015  # (16.5, 16.5) at z = 3
    two["colors"][0] = torch.tensor([1.0, 0.0, 0.0], dtype=F64)
    bg = torch.tensor([[0.0, 1.0, 0.0]], dtype=F64)
    for backend in ("torch", "cpu"):
        colors, alphas, _ = rasterize(**two, backgrounds=bg, backend=backend)
        expected = 0.999 * near["colors"][0] + 0.001 * bg[0]
        torch.testing.assert_close(colors[0, 16, 16], expected, rtol=0, atol=1e-12)


def test_projection_matches_monte_carlo_of_projected_points():
    """EWA projection of a small anisotropic, rotated Gaussian = the covariance of its samples pushed
    through the pinhole camera (independent code: scipy rotations, cameras.project_points)."""
    from scipy.spatial.transform import Rotation

    gen = torch.Generator().manual_seed(3)
    quat_wxyz = torch.tensor([0.8, 0.3, -0.4, 0.2], dtype=F64)
    scales = torch.tensor([0.02, 0.006, 0.012], dtype=F64)
    mean = torch.tensor([0.3, -0.2, 0.1], dtype=F64)
    c2w = OrbitPose(25.0, 40.0, 2.5).c2w().to(F64)
    viewmat, K = viewmat_from_c2w(c2w)[None], intrinsics_from_fov(40.0, 64, 48)[None].to(F64)
    proj = project_gaussians(mean[None], quat_wxyz[None], scales[None], viewmat, K, 64, 48, eps2d=0.0)

    R = torch.from_numpy(Rotation.from_quat(quat_wxyz[[1, 2, 3, 0]].numpy()).as_matrix())
    samples = mean + (torch.randn(400_000, 3, generator=gen, dtype=F64) * scales) @ R.T
    uv, _ = project_points(samples, viewmat[0], K[0])
    a, b, c = proj.conics[0, 0]
    covar2d = torch.linalg.inv(torch.stack([torch.stack([a, b]), torch.stack([b, c])]))
    torch.testing.assert_close(covar2d, torch.cov(uv.T), rtol=0.02, atol=0.02 * covar2d.abs().max().item())
    torch.testing.assert_close(proj.means2d[0, 0], uv.mean(0), rtol=0, atol=0.01)


def test_culling_behind_near_far_and_off_screen():
    args = _one_gaussian(0.5)
    means = torch.tensor([[0.0, 0.0, 2.0], [0.0, 0.0, -2.0], [0.0, 0.0, 0.005], [5.0, 0.0, 2.0], [0.0, 0.0, 50.0]], dtype=F64)
    n = len(means)
    proj = project_gaussians(means, args["quats"].expand(n, 4), args["scales"].expand(n, 3), args["viewmats"],
                             args["Ks"], 32, 32, near_plane=0.01, far_plane=10.0)
    assert proj.radii[0].tolist()[0] > 0
    assert proj.radii[0].tolist()[1:] == [0, 0, 0, 0]  # behind, before near, off-screen, beyond far
    assert torch.isfinite(proj.means2d).all() and torch.isfinite(proj.conics).all()


def test_sh_basis_is_orthonormal_and_degree0_matches_rgb():
    # Fibonacci sphere: equal-area samples, so the mean approximates the integral / (4 pi).
    n = 20000
    i = torch.arange(n, dtype=F64) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (1 + 5**0.5) * i
    dirs = torch.stack([torch.sqrt(1 - z * z) * torch.cos(phi), torch.sqrt(1 - z * z) * torch.sin(phi), z], -1)
    Y = sh_basis(3, dirs)  # [n, 16]
    gram = 4 * math.pi * (Y.T @ Y) / n
    torch.testing.assert_close(gram, torch.eye(16, dtype=F64), rtol=0, atol=2e-3)
    # Degree-0 SH of rgb_to_sh0(c) renders exactly like the RGB colours c.
    rgb = torch.rand(5, 3, dtype=F64)
    torch.testing.assert_close(eval_sh(0, torch.randn(5, 3, dtype=F64), rgb_to_sh0(rgb)[:, None]) + 0.5, rgb)


def test_sh_degree0_render_equals_rgb_render(generator):
    params, cams = make_scene(60, 1, None, generator)
    rgb_colors, _, _ = rasterize(*[params[k] for k in ("means", "quats", "scales", "opacities", "colors")],
                                 cams["viewmats"], cams["Ks"], cams["width"], cams["height"], backend="torch")
    sh = rgb_to_sh0(params["colors"])[:, None]
    sh_colors, _, _ = rasterize(*[params[k] for k in ("means", "quats", "scales", "opacities")], sh,
                                cams["viewmats"], cams["Ks"], cams["width"], cams["height"], sh_degree=0,
                                backend="torch")
    torch.testing.assert_close(sh_colors, rgb_colors)


# ----------------------------------------------------------------------------- cpu backend vs twin


@pytest.mark.parametrize(
    "n, n_cameras, render_mode, sh_degree",
    [
        (1, 1, "RGB", None),
        (40, 2, "RGB", None),
        (150, 1, "RGB+D", 3),
        (150, 2, "RGB+ED", 0),
        (80, 2, "D", None),
        (80, 1, "ED", 3),
    ],
)
def test_cpu_matches_torch_values_and_grads(n, n_cameras, render_mode, sh_degree, generator):
    params, cams = make_scene(n, n_cameras, sh_degree, generator)
    weights = loss_weights(params, cams, generator)
    kw = dict(render_mode=render_mode, sh_degree=sh_degree)
    ref_c, ref_a, ref_g, ref_meta = render_with_grads("torch", params, cams, weights, **kw)
    cpu_c, cpu_a, cpu_g, cpu_meta = render_with_grads("cpu", params, cams, weights, **kw)
    assert ref_a.max() > 0.3, "scene should cover part of the image"
    if n >= 8:
        assert (ref_meta["radii"][0, :4] == 0).all(), "Gaussians behind camera 0 are culled"
    # Both sides compute in float64: only summation order differs.
    torch.testing.assert_close(cpu_c, ref_c, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(cpu_a, ref_a, rtol=1e-9, atol=1e-10)
    for key, ref in ref_g.items():
        if render_mode in ("D", "ED") and key in ("colors", "backgrounds"):  # not rendered in depth modes
            assert cpu_g[key] is None and ref is None
            continue
        assert ref is not None and torch.count_nonzero(ref) > 0, f"no gradient reaches {key}"
        torch.testing.assert_close(cpu_g[key], ref, rtol=1e-8, atol=1e-9, msg=lambda m: f"grad {key}: {m}")


def test_cpu_float32_close_to_float64_twin(generator):
    """float32 inputs: the cpu kernels composite in float64 internally, the projection and SH run in
    float32. Against the float64 twin the error is float32 rounding (~1e-7 of the image, measured
    6e-7 at most here); a Gaussian whose alpha sat within rounding of 1/255 or of the 1e-4
    transmittance stop could flip and cost up to ~4e-3 at a pixel, which this fixed scene does not
    contain, so the bounds are tight."""
    params, cams = make_scene(120, 2, 3, generator)
    weights = loss_weights(params, cams, generator)
    p32 = {k: v.float() for k, v in params.items()}
    c32 = {k: (v.float() if torch.is_tensor(v) else v) for k, v in cams.items()}
    ref_c, ref_a, ref_g, _ = render_with_grads("torch", params, cams, weights, sh_degree=3)
    out_c, out_a, out_g, _ = render_with_grads("cpu", p32, c32, tuple(w.float() for w in weights), sh_degree=3)
    assert out_c.dtype == torch.float32 and out_a.dtype == torch.float32
    assert (out_c.double() - ref_c).abs().max() < 1e-5
    assert (out_a.double() - ref_a).abs().max() < 1e-5
    for key, ref in ref_g.items():
        rel = (out_g[key].double() - ref).norm() / ref.norm()
        assert out_g[key].dtype == torch.float32 and rel < 1e-4, f"grad {key}: relative error {rel:.2e}"


@pytest.mark.parametrize("backend", ["torch", "cpu"])
def test_nothing_visible_renders_background(backend, generator):
    params, cams = make_scene(10, 2, None, generator)
    for n in (0, 10):  # no Gaussians at all; all of them high above, outside both views
        p = {k: (v[:n] if k != "backgrounds" else v) for k, v in params.items()}
        p["means"] = p["means"] + torch.tensor([0.0, 0.0, 100.0], dtype=F64)
        weights = loss_weights(p, cams, generator)
        colors, alphas, grads, meta = render_with_grads(backend, p, cams, weights)
        assert meta["radii"].shape == (2, n) and (meta["radii"] == 0).all()
        torch.testing.assert_close(colors, p["backgrounds"][:, None, None, :].expand_as(colors))
        assert (alphas == 0).all()
        torch.testing.assert_close(grads["backgrounds"], (weights[0][..., :3]).sum((1, 2)))
        if n:  # culled Gaussians get zero gradients (or none at all from the twin)
            assert grads["means"] is None or torch.count_nonzero(grads["means"]) == 0


def test_bad_inputs_raise_clear_errors(generator):
    params, cams = make_scene(5, 1, None, generator)
    base = dict(means=params["means"], quats=params["quats"], scales=params["scales"],
                opacities=params["opacities"], colors=params["colors"], viewmats=cams["viewmats"], Ks=cams["Ks"],
                width=40, height=28)
    cases = [
        (dict(means=params["means"][:, :2]), "means must be [N, 3]"),
        (dict(quats=params["quats"][:4]), "quats must be [5, 4] for N=5"),
        (dict(opacities=params["opacities"][:, None]), "opacities must be [5] for N=5"),
        (dict(colors=torch.zeros(5, 4, 3, dtype=F64)), "colors must be [N, 3]"),
        (dict(Ks=cams["Ks"][0]), "Ks must be [C, 3, 3]"),
        (dict(width=0), "width must be a positive int"),
        (dict(scales=params["scales"].float()), "all inputs must share dtype"),
    ]
    for override, message in cases:
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            rasterize(**{**base, **override})
    with pytest.raises(ValueError, match="K >= 16"):
        rasterize(**{**base, "colors": torch.zeros(5, 9, 3, dtype=F64)}, sh_degree=3)
    with pytest.raises(ValueError, match="render_mode"):
        rasterize(**base, render_mode="RGBD")


# ----------------------------------------------------------------------------- gsplat vs cpu


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA and gsplat")
def test_gsplat_matches_cpu(generator):
    """gsplat (float32, CUDA) against the cpu backend (float32) on the same scene. With gsplat 1.4 the
    rules are identical, so only float32 rounding and rare borderline alpha / transmittance decisions
    differ; gsplat >= 1.5 bounds Gaussians by per-axis 3-sigma extents instead of the largest
    eigenvalue, which changes which tiles see a Gaussian's faint (< 3.3 sigma) rim: hence mean-error
    and relative-norm tolerances rather than exact agreement."""
    params, cams = make_scene(300, 2, 3, generator, dtype=torch.float32, width=64, height=48)
    weights = loss_weights(params, cams, generator)
    kw = dict(render_mode="RGB+D", sh_degree=3)
    cpu_c, cpu_a, cpu_g, cpu_meta = render_with_grads("cpu", params, cams, weights, **kw)
    cuda = lambda d: {k: (v.cuda() if torch.is_tensor(v) else v) for k, v in d.items()}  # noqa: E731
    gs_c, gs_a, gs_g, gs_meta = render_with_grads("gsplat", cuda(params), cuda(cams), tuple(w.cuda() for w in weights), **kw)
    assert gs_meta["backend"] == "gsplat" and gs_meta["radii"].shape == cpu_meta["radii"].shape
    culled_alike = ((gs_meta["radii"].cpu() > 0) == (cpu_meta["radii"] > 0)).float().mean()
    assert culled_alike > 0.98
    torch.testing.assert_close(gs_meta["depths"].detach().cpu(), cpu_meta["depths"].detach(), rtol=1e-5, atol=1e-5)
    assert (gs_c.cpu() - cpu_c).abs().mean() < 1e-3
    assert (gs_a.cpu() - cpu_a).abs().mean() < 1e-3
    for key in ("means", "quats", "scales", "opacities", "colors", "backgrounds", "means2d"):
        ref, got = cpu_g[key], gs_g[key].cpu()
        rel = (got - ref).norm() / ref.norm().clamp_min(1e-12)
        assert rel < 5e-2, f"grad {key}: relative error {rel:.2e}"


def test_the_kernels_and_their_twin_take_their_rules_from_one_module():
    """ALPHA_MAX, ALPHA_MIN, T_MIN and the tile size are assigned in _rasterize_constants.py alone."""
    import ast
    from pathlib import Path

    import img2gs.splat as package

    rules = {"ALPHA_MAX", "ALPHA_MIN", "T_MIN", "TILE_SIZE", "TILE"}
    for path in Path(package.__file__).parent.glob("*.py"):
        assigned = {t.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
        if path.name != "_rasterize_constants.py":
            assert not assigned & rules, (path.name, assigned & rules)
