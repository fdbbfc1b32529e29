import os
import sys
import zlib

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))


def _share_the_cores():
    """Each pytest-xdist worker gets its share of the cores, and JAX compiles
    at the lowest XLA optimisation. Set before the first import of a backend,
    inherited by the tests' subprocesses.

    Why: two workers on two cores, each with a thread pool of two, switch
    threads for nothing (the PyTorch pass took 57 s with the default pools,
    25 s with one thread per worker). A JAX test compiles hundreds of small
    programs once each, so the compile, not the run, is most of its time (a
    sample of layer tests: 104 s at the default level, 63 s at level 0).
    Results stay within every test's float32 tolerance; the benchmarks run
    at the defaults."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", threads)
        os.environ.setdefault("OMP_NUM_THREADS", threads)
    flags = TEST_XLA_FLAGS + (("--xla_cpu_multi_thread_eigen=false",) if workers > 1 else ())
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


TEST_XLA_FLAGS = ("--xla_backend_optimization_level=0", "--xla_llvm_disable_expensive_passes=true")
_share_the_cores()
# No backend is imported here: pytest-xdist's controller loads this file
# before it starts the workers, and an import of Keras costs it 3-5 s.

# Every test draws fresh random inputs and weights from its own generator,
# seeded from the test's id; set KERAS_NONLOCAL_TEST_SEED to draw others.
BASE_SEED = int(os.environ.get("KERAS_NONLOCAL_TEST_SEED", "0"))


# Tests of a minute or more on 2 cores (`pytest --durations`), started first:
# handed out last, they left one worker alone on them for minutes while the
# other idled.
LONG_FIRST = (
    "tests/demo/test_demo.py::test_quick_demo",
    "tests/training/test_jax.py",
    "tests/test_packaging.py::test_without_a_backend",
    "tests/training/test_train.py::test_kill_9",
    "tests/test_benchmarks.py::test_gpu",
    "tests/test_notebooks.py",
    "tests/test_features.py",
    "tests/training/test_distributed.py",
    "tests/training/test_clip_record.py",
    "tests/test_timeline.py",
    "tests/test_readme.py",
    "tests/data/test_pipeline.py::test_make_tfrecords",
    "tests/models/test_backends.py",
    "tests/models/test_insertion.py",
)


def pytest_collection_modifyitems(config, items):
    """The long tests first, in `LONG_FIRST`'s order (a stable sort: the
    same order in every xdist worker)."""
    def rank(item):
        return next((i for i, prefix in enumerate(LONG_FIRST)
                     if item.nodeid.startswith(prefix)), len(LONG_FIRST))

    items.sort(key=rank)


@pytest.fixture(autouse=True)
def _no_global_tf_seed():
    """Each test starts without TensorFlow's global seed. A test (or module
    fixture) calling `keras.utils.set_random_seed` sets it, and TensorFlow
    combines it with op seeds (`tf.data.Dataset.random(seed=...)`, the
    pipelines' element seeds): tests on the same worker after it drew other
    clips than their `seed=` gives (two test_pipeline tests failed in that
    order)."""
    yield
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(None)


@pytest.fixture
def rng(request):
    seed = zlib.crc32(request.node.nodeid.encode()) ^ BASE_SEED
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def window_model(tmp_path_factory):
    """A `.keras` NL-C2D (base width 8, 3 classes) with non-trivial blocks."""
    import keras

    from helpers import WINDOW_CLIP
    from keras_nonlocal import NonLocal3D
    from keras_nonlocal import zoo

    keras.utils.set_random_seed(7)
    model = zoo.nl_c2d_r14(classes=3, base_width=8,
                           clip=dict(WINDOW_CLIP, class_names=("red", "green", "blue")))
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, NonLocal3D):
            layer.bn.gamma.assign(rng.normal(0, 1, layer.bn.gamma.shape).astype("float32"))
    # a classifier whose scores are far from 0 and 1 (timelines compare them)
    sample = rng.integers(0, 256, (4, 4, 32, 32, 3)).astype("float32")
    scale = float(np.std(keras.ops.convert_to_numpy(zoo.feature_model(model)(sample))))
    kernel, bias = model.get_layer("predictions").get_weights()
    model.get_layer("predictions").set_weights(
        [rng.normal(0, 1, kernel.shape).astype("float32") / (scale * 16), bias])
    path = str(tmp_path_factory.mktemp("window_model") / "nl_c2d.keras")
    model.save(path)
    return path


@pytest.fixture(scope="session")
def window_videos(tmp_path_factory):
    """A folder of videos shorter than, as long as, and longer than a window."""
    import video_factory as vf
    from helpers import WINDOW_VIDEOS

    root = tmp_path_factory.mktemp("window_videos")
    for name, frames in WINDOW_VIDEOS.items():
        os.makedirs((root / name).parent, exist_ok=True)
        extra = dict(b_frames=2) if name.endswith(".avi") else {}
        vf.write_video(str(root / name), frames, width=32, height=32, **extra)
    return str(root)
