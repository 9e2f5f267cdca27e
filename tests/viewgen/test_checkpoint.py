"""Checkpoints: safetensors + JSON only, exact round trip, one-line errors for bad folders."""

from __future__ import annotations

import json
import os
import pickle
import stat

import pytest
import torch

from img2gs.errors import CheckpointError
from img2gs.viewgen.checkpoint import (
    CheckpointInfo,
    load_checkpoint,
    read_checkpoint_info,
    resolve_checkpoint_dir,
    write_checkpoint,
)
from img2gs.viewgen.config import load_viewgen_preset
from img2gs.viewgen.network import ViewGenNet

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def model_config():
    return load_viewgen_preset("tiny").model


@pytest.fixture
def checkpoint(tmp_path, model_config):
    net = ViewGenNet(model_config)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # differ from a fresh initialisation
    info = CheckpointInfo(kind="student", model=model_config, sampling={"steps": 2}, provenance={"step": 7})
    write_checkpoint(tmp_path / "ckpt", net, info)
    return tmp_path / "ckpt", net


def test_round_trip_is_exact_and_files_are_safetensors_and_json_only(checkpoint):
    folder, net = checkpoint
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    json.loads((folder / "config.json").read_text())
    header_len = int.from_bytes((folder / "model.safetensors").read_bytes()[:8], "little")
    json.loads((folder / "model.safetensors").read_bytes()[8:8 + header_len])  # safetensors = JSON header + raw
    with pytest.raises(pickle.UnpicklingError):  # not a pickle (torch.save zip / pickle)
        pickle.loads((folder / "model.safetensors").read_bytes())
    loaded, info = load_checkpoint(folder)
    assert info.kind == "student" and info.sampling == {"steps": 2} and info.provenance == {"step": 7}
    assert info.model == net.config
    for (name, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert not loaded.training


def test_checkpoint_files_get_normal_permissions(checkpoint):
    """safetensors writes 0600 files; a shipped or shared checkpoint must be readable like any other file."""
    folder, _ = checkpoint
    mask = os.umask(0)
    os.umask(mask)
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o666 & ~mask, name


def test_fp16_weights_load_into_fp32(tmp_path, model_config):
    net = ViewGenNet(model_config)
    write_checkpoint(tmp_path / "half", net, CheckpointInfo("teacher", model_config), dtype=torch.float16)
    loaded, _ = load_checkpoint(tmp_path / "half")
    p, q = next(net.parameters()), next(loaded.parameters())
    assert q.dtype == torch.float32 and torch.allclose(p, q, atol=1e-2)


def test_run_folder_resolves_to_its_checkpoint(tmp_path, checkpoint):
    folder, _ = checkpoint
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    for f in folder.iterdir():
        (run / "checkpoint" / f.name).write_bytes(f.read_bytes())
    assert resolve_checkpoint_dir(run) == run / "checkpoint"
    assert read_checkpoint_info(run).kind == "student"


@pytest.mark.parametrize("damage, message", [
    ("missing", "not found"),
    ("empty", "no config.json"),
    ("bad_json", "cannot read JSON"),
    ("foreign", "not an img2gs view-generator config"),
    ("no_weights", "weights file missing"),
    ("truncated", "not a readable safetensors"),
    ("wrong_shape", "do not fit"),
])
def test_bad_checkpoints_raise_checkpoint_error(tmp_path, checkpoint, damage, message):
    folder, _ = checkpoint
    if damage == "missing":
        folder = tmp_path / "nope"
    elif damage == "empty":
        folder = tmp_path / "empty"
        folder.mkdir()
    elif damage == "bad_json":
        (folder / "config.json").write_text("{not json")
    elif damage == "foreign":
        (folder / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    elif damage == "no_weights":
        (folder / "model.safetensors").unlink()
    elif damage == "truncated":
        data = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif damage == "wrong_shape":
        meta = json.loads((folder / "config.json").read_text())
        meta["model"]["cross_attention_dim"] = 24
        (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(folder)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("key, value, message", [
    ("block_out_channels", [512, 1024], "weights do not fit"),  # far larger than the weights
    ("layers_per_block", 10**9, "far larger than its weights"),  # would build block after block
    ("norm_num_groups", 0, "invalid model config"),
    ("cross_attention_dim", "abc", "cannot build the model"),
])
def test_a_config_that_does_not_fit_its_weights_is_refused_before_the_network_is_built(checkpoint, monkeypatch,
                                                                                        key, value, message):
    folder, _ = checkpoint
    meta = json.loads((folder / "config.json").read_text())
    meta["model"][key] = value
    (folder / "config.json").write_text(json.dumps(meta))
    built_on = []
    init = ViewGenNet.__init__

    def recording_init(self, config):
        init(self, config)
        built_on.append(next(self.parameters()).device.type)

    monkeypatch.setattr(ViewGenNet, "__init__", recording_init)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(folder)
    assert built_on in ([], ["meta"])  # never with real memory
