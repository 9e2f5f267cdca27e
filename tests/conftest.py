import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see img2gs/__init__.py)

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

# tests/viewgen/viewgen_helpers.py (a tiny dataset and runs) is imported by tests in several folders
sys.path.insert(0, str(Path(__file__).parent / "viewgen"))

# Keep the suite predictable on 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _viewgen_helpers():
    import viewgen_helpers

    return viewgen_helpers


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """A tiny dataset folder in the real shard format (see tests/viewgen/viewgen_helpers.py)."""
    folder = tmp_path_factory.mktemp("tiny_data")
    _viewgen_helpers().tiny_dataset(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_teacher(tiny_data_dir, tmp_path_factory):
    """A tiny teacher run folder trained for 2 steps."""
    run = tmp_path_factory.mktemp("tiny_teacher")
    _viewgen_helpers().train_tiny_teacher(tiny_data_dir, run, steps=2)
    return run


@pytest.fixture(scope="session")
def tiny_student(tiny_teacher, tiny_data_dir, tmp_path_factory):
    """A tiny consistency-student run folder distilled from `tiny_teacher` for 2 steps."""
    from img2gs.viewgen.train_distill import train_distill

    helpers = _viewgen_helpers()
    run = tmp_path_factory.mktemp("tiny_student")
    train_distill(helpers.tiny_preset().distill, tiny_teacher, helpers.tiny_dataset(tiny_data_dir), run)
    return run


@pytest.fixture(scope="session")
def tiny_shape(tiny_data_dir, tmp_path_factory):
    """A tiny shape-stage run folder trained for 2 steps on the tiny dataset."""
    import dataclasses

    from img2gs.shape.config import load_shape_preset
    from img2gs.shape.train import train_shape

    config = load_shape_preset("tiny")
    config = dataclasses.replace(config, loop=dataclasses.replace(config.loop, steps=2))
    run = tmp_path_factory.mktemp("tiny_shape")
    train_shape(config, _viewgen_helpers().tiny_dataset(tiny_data_dir), run)
    return run


@pytest.fixture(scope="session")
def tiny_model(tiny_student, tiny_shape, tmp_path_factory):
    """A model folder laid out like assets/model/: the student's checkpoint plus shape/ (the shape stage)."""
    import shutil

    folder = tmp_path_factory.mktemp("tiny_model")
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_student / "checkpoint" / name, folder / name)
    (folder / "shape").mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_shape / "checkpoint" / name, folder / "shape" / name)
    return folder
