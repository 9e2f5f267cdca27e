import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see img2gs/__init__.py)

import pytest  # noqa: E402
import torch  # noqa: E402

# Keep the suite predictable on 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory):
    """A tiny consistency-student checkpoint (teacher 2 steps, distillation 2 steps) for pipeline tests."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "viewgen"))
    from viewgen_helpers import tiny_dataset, tiny_preset, train_tiny_teacher

    from img2gs.viewgen.train_distill import train_distill

    data = tmp_path_factory.mktemp("tiny_data")
    teacher = tmp_path_factory.mktemp("tiny_teacher")
    student = tmp_path_factory.mktemp("tiny_student")
    train_tiny_teacher(data, teacher, steps=2)
    train_distill(tiny_preset().distill, teacher, tiny_dataset(data), student)
    return student
