# Copyright (c) dckd_mm contributors. All rights reserved.
import os

import pytest
import torch

# Tests are small: keep them on 2 threads and deterministic.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
