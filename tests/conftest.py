import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

# Every test draws fresh random inputs and weights from its own generator,
# seeded from the test's id; set KERAS_NONLOCAL_TEST_SEED to draw others.
BASE_SEED = int(os.environ.get("KERAS_NONLOCAL_TEST_SEED", "0"))


@pytest.fixture
def rng(request):
    seed = zlib.crc32(request.node.nodeid.encode()) ^ BASE_SEED
    return np.random.default_rng(seed)
