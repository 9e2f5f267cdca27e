import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch is imported (see img2gs/__init__.py)

import pytest  # noqa: E402
import torch  # noqa: E402

# Keep the suite predictable on 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
