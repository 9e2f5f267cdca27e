import os

import pytest
import torch

# Keep the suite predictable on 2 cores.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)
