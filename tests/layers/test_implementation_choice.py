"""The speed decisions `implementation="auto"` and the batch norm make (from
benchmarks/RESULTS.md), pinned so that they cannot change silently. Not timed:
each test checks which path runs, the benchmarks say why."""

import keras
import numpy as np
import pytest

from keras_nonlocal import NonLocal3D
from keras_nonlocal import zoo
from keras_nonlocal.layers import FusedBatchNormalization
from keras_nonlocal.layers import pairwise

# NL-I3D R50's res3 and res4 blocks at batch 8, subsampled 1x2x2 (the layer benchmark's shapes).
RES3 = (8, 4, 28, 28, 512)
RES4 = (8, 4, 14, 14, 1024)


def _path_taken(monkeypatch, mode, shape, **kwargs):
    """The pairwise function the layer calls for an input of `shape`
    (traced symbolically: nothing of that size is computed)."""
    taken = []
    for name in ("dense_dot_product", "linear_dot_product", "dense_concatenation",
                 "sorted_concatenation", "dense_softmax_attention",
                 "chunked_softmax_attention", "fused_softmax_attention"):
        original = getattr(pairwise, name)

        def spy(*args, _name=name, _original=original, **kw):
            taken.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(pairwise, name, spy)
    layer = NonLocal3D(mode=mode, pool_size=2, **kwargs)
    layer.build(shape)
    # The backend's symbolic trace of `call` (the layer's own compute_output_spec
    # only infers the shape).
    keras.src.backend.compute_output_spec(layer.call, keras.KerasTensor(shape))
    return taken


@pytest.mark.parametrize("mode,shape,expected", [
    # O(N d^2) where it is cheaper (res3), the map where Nk < d makes it cheaper (res4)
    ("dot_product", RES3, "linear_dot_product"),
    ("dot_product", RES4, "dense_dot_product"),
    # the map whenever it fits max_attention_bytes (1.3x-1.5x faster than the sort there)
    ("concatenation", RES3, "dense_concatenation"),
    ("concatenation", RES4, "dense_concatenation"),
    ("embedded_gaussian", RES3, "dense_softmax_attention"),
    ("gaussian", RES4, "dense_softmax_attention"),
])
def test_auto_picks_the_measured_fastest_path(monkeypatch, mode, shape, expected):
    assert _path_taken(monkeypatch, mode, shape) == [expected]


@pytest.mark.parametrize("mode,expected", [
    ("dot_product", "linear_dot_product"),
    ("concatenation", "sorted_concatenation"),
    ("embedded_gaussian", "chunked_softmax_attention" if keras.backend.backend() != "torch"
     else "fused_softmax_attention"),
])
def test_a_map_over_the_budget_is_never_built(monkeypatch, mode, expected):
    assert _path_taken(monkeypatch, mode, RES4, max_attention_bytes=1 << 20) == [expected]


def test_the_zoo_and_the_blocks_use_the_fused_batch_norm():
    model = zoo.nl_c2d_r14(weights=None, base_width=8, classes=4, input_shape=(4, 32, 32, 3),
                           include_preprocessing=False, num_nonlocal=2)
    norms = [layer for layer in model._flatten_layers() if isinstance(
        layer, keras.layers.BatchNormalization)]
    assert len(norms) == 1 + 4 * 4 + 2 and all(isinstance(n, FusedBatchNormalization)
                                                for n in norms)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's kernel")
def test_training_runs_tensorflows_fused_kernel():
    import tensorflow as tf

    layer = FusedBatchNormalization()
    x = tf.constant(np.ones((2, 3, 4, 5), "float32"))
    layer.build(x.shape)
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(x).graph
    assert "FusedBatchNormV3" in {op.type for op in graph.get_operations()}


def test_a_query_block_never_holds_more_queries_than_there_are():
    """The blocks are zero padded to `blocks x size`: a `scope="time"` block
    (2 queries a sequence, 1 key) under an unknown batch took a 6.7 M-query
    block from the 256 MiB budget, and its training step 20 GB."""
    assert pairwise.query_blocks(3, 10**7) == (1, 3)
    assert pairwise.query_blocks(10, 4) == (3, 4)
    blocks, size = pairwise.query_blocks(keras.ops.convert_to_tensor(5), 10**7)
    assert size == pairwise.MAX_DYNAMIC_BLOCK and int(blocks) == 1


def test_the_policy_works_in_float32_except_flash_on_a_jax_gpu(monkeypatch):
    from keras_nonlocal.layers import implementation

    q, k = (8, 3136, 256), (8, 784, 256)
    for mode in ("gaussian", "embedded_gaussian", "dot_product", "concatenation"):
        for requested in implementation.IMPLEMENTATIONS:
            plan = implementation.choose(mode, requested, q, k, k, "float16")
            assert plan.dtype == "float32", (mode, requested, plan)
    assert implementation.choose("dot_product", "auto", q, k, k, "float32",
                                 return_attention=True).kernel == "dense"
    # On a JAX GPU, flash attention takes the half-precision inputs (it
    # accumulates in float32 itself); nowhere else does a kernel see them.
    monkeypatch.setattr(implementation, "on_jax_gpu", lambda: True)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert implementation.choose("embedded_gaussian", "auto", q, k, k, "bfloat16") == (
        "fused", "bfloat16")
    with pytest.raises(ValueError, match="Received: implementation='fused'"):
        implementation.choose("gaussian", "fused", (8, 10, 512), (8, 5, 512), (8, 5, 256),
                              "float32")
