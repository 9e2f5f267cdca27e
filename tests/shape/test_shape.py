"""The shape stage: network contract, loss, tiny training, checkpoint, estimator, CLI."""

import dataclasses

import pytest
import torch
from typer.testing import CliRunner

from img2gs.cli import app
from img2gs.device import autocast
from img2gs.errors import CheckpointError, Img2gsError, PresetError
from img2gs.shape.checkpoint import load_shape_checkpoint, shape_dir_of
from img2gs.shape.config import ShapeLossConfig, ShapeNetConfig, load_shape_preset
from img2gs.shape.estimator import ShapeEstimator
from img2gs.shape.loss import ShapeLoss
from img2gs.shape.network import ShapeNet, ShapePrediction, encode_input, load_grown
from img2gs.shape.train import augment, shape_batch, train_shape
from img2gs.training.config import LoopConfig

runner = CliRunner()


def test_network_outputs_ordered_layers_and_an_elevation():
    net = ShapeNet(ShapeNetConfig(resolution=16, channels=(8, 16), blocks_per_level=1, norm_groups=4))
    photos = torch.rand(3, 16, 16, 4)
    x = encode_input(photos)
    assert x.shape == (3, 6, 16, 16)
    assert torch.allclose(x[:, 3], photos[..., 3] * 2 - 1)  # alpha channel
    assert float(x[0, 4, 0, 0]) < 0 < float(x[0, 4, 0, -1])  # x coordinate grows to the right
    pred = net(x)
    assert pred.front.shape == pred.back.shape == pred.log_b.shape == (3, 16, 16)
    assert pred.elevation.shape == (3,)
    assert bool((pred.back >= pred.front).all())
    # zero-initialised head: at step 0 the layers sit around the orbit centre's depth
    assert torch.allclose(pred.front, torch.full_like(pred.front, 3.2))


def test_loss_is_zero_on_the_truth_and_grows_with_the_error():
    depth = torch.stack([torch.full((2, 8, 8), 3.0), torch.full((2, 8, 8), 3.5)], dim=1)  # [B, 2, H, W]
    alpha, elevation = torch.ones(2, 8, 8), torch.tensor([10.0, 30.0])
    loss = ShapeLoss(dataclasses.replace(ShapeLossConfig(), confidence=0.0))
    exact = ShapePrediction(depth[:, 0], depth[:, 1], torch.zeros(2, 8, 8), elevation)
    total, terms = loss(exact, depth, alpha, elevation)
    assert float(total) == pytest.approx(0.0, abs=1e-7)
    wrong = ShapePrediction(depth[:, 0] + 0.1, depth[:, 1] - 0.2, torch.zeros(2, 8, 8), elevation + 5.0)
    _, terms = loss(wrong, depth, alpha, elevation)
    assert terms["front"] == pytest.approx(0.1, rel=1e-4) and terms["back"] == pytest.approx(0.2, rel=1e-4)
    assert terms["elevation"] > 0
    # pixels outside the object do not count
    _, terms = loss(wrong, depth, torch.zeros(2, 8, 8), elevation)
    assert terms["front"] == 0.0 and terms["back"] == 0.0


def test_augmentation_mirrors_photo_and_depth_together(tiny_data_dir):
    from viewgen_helpers import tiny_dataset

    dataset = tiny_dataset(tiny_data_dir)
    batch = shape_batch(dataset, [0, 1], 16)
    batch.photos[..., :8, 3] = 0.0  # left half empty: a mirror moves the object to the right half
    batch.depth[..., :8] = 0.0
    config = dataclasses.replace(load_shape_preset("tiny"), flip_probability=1.0, color_jitter=0.0)
    out = augment(batch, config, torch.Generator().manual_seed(0))
    assert torch.equal(out.photos[..., 3], batch.photos[..., 3].flip(2))
    assert torch.equal(out.depth, batch.depth.flip(3))
    assert torch.equal(out.target_alpha, batch.target_alpha.flip(3))
    assert torch.equal(out.target_poses[..., 1], -batch.target_poses[..., 1])  # azimuths mirrored
    assert torch.equal(out.elevation, batch.elevation)


def test_bf16_autocast_runs_the_body_in_bf16_and_the_heads_in_fp32():
    torch.manual_seed(0)
    net = ShapeNet(ShapeNetConfig(resolution=16, channels=(8, 16), blocks_per_level=1, norm_groups=4))
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)  # a trained head: the layers vary per pixel
    x = encode_input(torch.rand(2, 16, 16, 4))
    full = net(x)
    with autocast("bf16", torch.device("cpu")):
        mixed = net(x)
        assert net.stem(x).dtype == torch.bfloat16  # the body does run in bf16
    # the outputs are fp32 (a bf16 camera z near 3.2 would be quantised to 0.016); what differs is the body's
    # bf16 rounding, small beside the trained model's depth error (0.15)
    for a, b, tol in [(full.front, mixed.front, 0.05), (full.back, mixed.back, 0.05),
                      (full.elevation, mixed.elevation, 0.1)]:
        assert b.dtype == torch.float32
        assert float((a - b).abs().max()) < tol
    assert float((full.front - mixed.front).abs().max()) > 0  # ... and it was not fp32 all along


def test_an_unknown_training_precision_is_refused():
    with pytest.raises(PresetError, match="precision"):
        LoopConfig(precision="fp16")
    with pytest.raises(Img2gsError, match="precision"):
        autocast("fp8", torch.device("cpu"))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_tiny_training_learns_writes_a_checkpoint_and_estimates(tiny_data_dir, tmp_path, precision):
    from viewgen_helpers import tiny_dataset

    config = load_shape_preset("tiny")
    config = dataclasses.replace(config, loop=dataclasses.replace(config.loop, steps=40, lr=3e-3, warmup_steps=5,
                                                                  checkpoint_every=40, log_every=10,
                                                                  precision=precision))
    result = train_shape(config, tiny_dataset(tiny_data_dir), tmp_path / "run")
    assert result.step == 40
    log = [__import__("json").loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    net, info = load_shape_checkpoint(tmp_path / "run")
    assert info.model == config.model and info.provenance["step"] == 40
    estimate = ShapeEstimator(net)(tiny_dataset(tiny_data_dir)[0]["images"][0])
    assert estimate.front.shape == (16, 16) and bool((estimate.back >= estimate.front).all())
    # the tiny data: a slab with front 3.0 and back 3.4 wherever the object is
    inside = estimate.valid
    assert abs(float(estimate.front[inside].mean()) - 3.0) < 0.15
    assert abs(float(estimate.back[inside].mean()) - 3.4) < 0.15


def test_a_view_generator_folder_is_not_a_shape_stage(tiny_student):
    with pytest.raises(CheckpointError, match="no shape-stage checkpoint"):
        shape_dir_of(tiny_student)


def test_cli_train_and_eval_shape(tiny_data_dir, tmp_path):
    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", "shape", "--data", str(tiny_data_dir), "-o", str(run), "--preset", "tiny",
                                  "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    assert (run / "checkpoint" / "model.safetensors").is_file()
    again = runner.invoke(app, ["train", "shape", "--data", str(tiny_data_dir), "-o", str(run), "--preset", "tiny"])
    assert again.exit_code == 2  # an existing run is not overwritten without --force
    evaluated = runner.invoke(app, ["eval", "shape", "--data", str(tiny_data_dir), "--model", str(run),
                                    "--samples", "2", "--json", str(tmp_path / "eval.json"), "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    rows = __import__("json").loads((tmp_path / "eval.json").read_text())["rows"]
    assert rows["all"]["samples"] == 2 and 0.0 <= rows["all"]["iou_true_depth"] <= 1.0


def test_cli_trains_on_several_builds_at_once(tiny_data_dir, tmp_path):
    from viewgen_helpers import tiny_dataset

    run = tmp_path / "run"
    trained = runner.invoke(app, ["train", "shape", "--data", str(tiny_data_dir), "--data", str(tiny_data_dir),
                                  "-o", str(run), "--preset", "tiny", "--device", "cpu"])
    assert trained.exit_code == 0, trained.output
    assert f"{2 * len(tiny_dataset(tiny_data_dir))} samples" in trained.output
    _, info = load_shape_checkpoint(run)
    assert info.provenance["data"] == f"{tiny_data_dir}, {tiny_data_dir}"


def test_a_run_can_start_from_another_runs_weights(tiny_data_dir, tiny_shape, tmp_path):
    from viewgen_helpers import tiny_dataset

    config = load_shape_preset("tiny")
    config = dataclasses.replace(config, loop=dataclasses.replace(config.loop, steps=1, lr=1e-12, warmup_steps=1))
    train_shape(config, tiny_dataset(tiny_data_dir), tmp_path / "ft", init=tiny_shape)
    start, _ = load_shape_checkpoint(tiny_shape)
    tuned, info = load_shape_checkpoint(tmp_path / "ft")
    assert info.provenance["init"] == str(tiny_shape) and info.provenance["init_step"] == 2
    for name, value in start.state_dict().items():  # a vanishing learning rate: still the start's weights
        assert torch.allclose(value, tuned.state_dict()[name], atol=1e-6), name
    other = dataclasses.replace(config, model=dataclasses.replace(config.model, channels=(8, 24)))
    with pytest.raises(CheckpointError, match="differs"):
        train_shape(other, tiny_dataset(tiny_data_dir), tmp_path / "bad", init=tiny_shape)
    grown = dataclasses.replace(config, model=dataclasses.replace(config.model, mid_blocks=1))
    train_shape(grown, tiny_dataset(tiny_data_dir), tmp_path / "grown", init=tiny_shape)  # a larger network may
    assert len(load_shape_checkpoint(tmp_path / "grown")[0].mid) == 2


def test_a_network_grows_by_middle_blocks_that_start_as_the_identity():
    small = ShapeNet(ShapeNetConfig(resolution=16, channels=(8, 16), blocks_per_level=1, norm_groups=4))
    with torch.no_grad():  # a non-zero head, so that the comparison below can fail
        small.head[-1].weight.normal_(0.0, 0.1)
    large = load_grown(ShapeNet(dataclasses.replace(small.config, mid_blocks=2)), small)
    assert len(large.mid) == 4 and sum(p.numel() for p in large.parameters()) > sum(p.numel() for p in small.parameters())
    x = encode_input(torch.rand(2, 16, 16, 4))
    a, b = small(x), large(x)
    assert torch.allclose(a.front, b.front, atol=1e-6) and torch.allclose(a.elevation, b.elevation, atol=1e-6)
    with torch.no_grad():  # once trained, the middle blocks do change the output
        large.mid[1].out.weight.normal_(0.0, 0.5)
        large.mid[0].conv2.weight.normal_(0.0, 0.5)
    assert not torch.allclose(large(x).front, a.front, atol=1e-4)
    y = large(x)
    (y.front.mean() + y.elevation.mean()).backward()  # gradients reach the attention's projections
    assert float(large.mid[1].qkv.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="middle blocks"):  # growing the other way round, or wider, is refused
        load_grown(small, large)
    with pytest.raises(ValueError, match="middle blocks"):
        load_grown(ShapeNet(dataclasses.replace(small.config, channels=(8, 24))), small)
    with pytest.raises(PresetError, match="attention_heads"):
        ShapeNetConfig(resolution=16, channels=(8, 16), norm_groups=4, mid_blocks=1, attention_heads=3)


def test_a_shape_config_that_does_not_fit_its_weights_is_refused(tiny_shape, tmp_path):
    import json
    import shutil

    folder = tmp_path / "shape"
    shutil.copytree(tiny_shape / "checkpoint", folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["model"]["channels"] = [c * 64 for c in meta["model"]["channels"]]
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="weights do not fit"):
        load_shape_checkpoint(folder)
    meta["model"]["blocks_per_level"] = 10**9
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="far larger than its weights"):
        load_shape_checkpoint(folder)


def test_export_writes_a_half_precision_shape_folder_that_predicts_the_same(tiny_shape, tmp_path):
    from safetensors import safe_open

    from img2gs.errors import OutputError
    from img2gs.shape.checkpoint import export_shape_checkpoint

    folder = export_shape_checkpoint(tiny_shape, tmp_path / "model" / "shape")
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}
    source, _ = load_shape_checkpoint(tiny_shape)
    exported, info = load_shape_checkpoint(tmp_path / "model")  # found as a model folder's shape/
    assert info.provenance["step"] == 2
    x = encode_input(torch.rand(2, 16, 16, 4))
    assert torch.allclose(source(x).front, exported(x).front, atol=1e-2)
    export_shape_checkpoint(tiny_shape, folder)  # its own output may be replaced
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(OutputError):
        export_shape_checkpoint(tiny_shape, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_evaluation_skips_a_sample_with_no_object_pixel(tiny_data_dir, tiny_shape):
    from viewgen_helpers import tiny_dataset

    from img2gs.shape.evaluate import evaluate_shape

    class OneEmptyPhoto:  # the tiny dataset with sample 0's photo blank
        def __init__(self, dataset):
            self.dataset, self.object_ids = dataset, dataset.object_ids

        def __getitem__(self, i):
            item = dict(self.dataset[i])
            if i == 0:
                item["images"] = item["images"].clone()
                item["images"][0, ..., 3] = 0.0
            return item

    data = OneEmptyPhoto(tiny_dataset(tiny_data_dir, "val"))
    report = evaluate_shape(ShapeEstimator.load(tiny_shape), data, samples=len(data.object_ids))
    assert report.skipped == [data.object_ids[0]]
    assert len(report.per_sample) == len(data.object_ids) - 1
