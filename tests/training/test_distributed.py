"""Training under torchrun (torch DDP, gloo on CPU): the run does not depend on the process count."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from viewgen_helpers import tiny_dataset

from img2gs.errors import PresetError
from img2gs.training.distributed import Shard
from img2gs.viewgen.batches import BatchSampler
from img2gs.viewgen.checkpoint import load_checkpoint, load_weights

STEPS = 3


def test_shards_split_the_objects_in_order():
    x = torch.arange(12).view(4, 3)
    parts = [Shard(r, 2).take({"x": x, "w": 3.0}) for r in range(2)]
    assert torch.equal(torch.cat([p["x"] for p in parts]), x) and parts[1]["w"] == 3.0
    assert Shard().take(x) is x
    with pytest.raises(PresetError):
        Shard(0, 2).check_batch(3)


def _train(kind: str, nproc: int, out: Path, data: Path, extra: list[str]) -> subprocess.CompletedProcess:
    """`img2gs train <kind>` with the tiny preset, in `nproc` processes under torchrun (1: plain)."""
    command = ["train", kind, "--data", str(data), "-o", str(out), "--preset", "tiny", "--device", "cpu",
               "--steps", str(STEPS), *extra]
    if nproc == 1:
        launch = [sys.executable, "-m", "img2gs"]
    else:
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                  "--standalone", "-m", "img2gs"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*launch, *command], capture_output=True, text=True, env=env, timeout=600)


def _losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "log.jsonl").read_text().splitlines()]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_weights(run / "checkpoint" / "model.safetensors")


def _network(run: Path):
    net, _ = load_checkpoint(run / "checkpoint", "cpu")
    return net.eval()


@pytest.mark.parametrize("kind", ["teacher", "distill"])
def test_two_processes_train_what_one_does(tmp_path, tiny_data_dir, tiny_teacher, kind):
    extra = ["--teacher", str(tiny_teacher)] if kind == "distill" else []
    one, two = tmp_path / "one", tmp_path / "two"
    single = _train(kind, 1, one, tiny_data_dir, extra)
    assert single.returncode == 0, single.stderr[-3000:]
    double = _train(kind, 2, two, tiny_data_dir, extra)
    assert double.returncode == 0, double.stderr[-3000:]
    assert "2 processes (torchrun)" in " ".join(double.stdout.split())  # rich wraps lines
    # the same global batch, noise and gradient: the logged loss (the processes' mean) and the weights agree
    # to float32 summation order
    assert len(_losses(two)) == STEPS  # one log, written by rank 0 alone
    assert _losses(two) == pytest.approx(_losses(one), rel=1e-4, abs=1e-6)
    # the networks compute the same function; weight by weight too, but for parameters whose gradient is zero
    # in exact arithmetic (a conv bias before a GroupNorm): Adam turns their float noise into +-lr steps
    net1, net2 = _network(one), _network(two)
    batch = BatchSampler(tiny_dataset(tiny_data_dir), 2, 2, net1.config.resolution, seed=1).batch(0)
    x = torch.randn(batch.targets.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(net2(x, torch.full((2,), 0.5), **batch.cond()),
                                   net1(x, torch.full((2,), 0.5), **batch.cond()), rtol=1e-4, atol=1e-5)
    w1, w2 = _weights(one), _weights(two)
    agree = [name for name in w1 if torch.allclose(w2[name], w1[name], rtol=1e-3, atol=1e-4)]
    assert len(agree) >= len(w1) - 2, sorted(set(w1) - set(agree))
    if kind == "teacher":  # a 2-process checkpoint resumes in 1 process
        shutil.copytree(two, tmp_path / "resumed")
        more = _train(kind, 1, tmp_path / "resumed", tiny_data_dir, ["--resume"])
        assert more.returncode == 0, more.stderr[-3000:]


def test_a_batch_the_processes_cannot_split_is_one_clear_line(tmp_path, tiny_data_dir):
    preset = json.loads(Path("configs/viewgen/tiny.json").read_text())
    preset["teacher"]["loop"]["batch_objects"] = 3
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(preset))
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
              "-m", "img2gs", "train", "teacher", "--data", str(tiny_data_dir), "-o", str(tmp_path / "run"),
              "--preset", str(odd), "--device", "cpu"]
    result = subprocess.run(launch, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            timeout=600)
    assert result.returncode != 0
    assert "cannot be split over 2 processes" in result.stdout + result.stderr
    # each process exits 2 with the one line; what follows is torchrun's own report of failed children
    assert 'File "' + str(Path("img2gs").resolve()) not in result.stdout + result.stderr
