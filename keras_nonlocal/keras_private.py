"""Every use of Keras' (and TensorFlow's) private API in this package, in one place.

Each function or class names the private attribute it touches and why no
public one serves; a Keras upgrade that breaks one breaks it here.
"""

import keras


def build_training_state(model, input_shape, label_shape):
    """Creates a compiled model's optimizer and metric variables from input
    and label shapes, without running it.

    `Model._symbolic_build`: Keras calls it itself only under a tf.distribute
    strategy; without one, the TensorFlow trainer creates these variables
    while tracing the first step and so traces it twice.
    """
    import numpy as np

    model._symbolic_build(data_batch=(np.zeros(input_shape, "float32"),
                                      np.zeros(label_shape, "float32")))


def op_determinism_enabled():
    """Whether TensorFlow's op determinism is on.

    `tensorflow.python.framework.config.is_op_determinism_enabled`: TensorFlow
    exports only `enable_op_determinism` (see `disable_op_determinism`).
    """
    from tensorflow.python.framework import config

    return config.is_op_determinism_enabled()


def disable_op_determinism():
    """Turns TensorFlow's op determinism off again.

    `tensorflow.python.framework.config.disable_op_determinism`: TensorFlow
    exports only `enable_op_determinism`, so a run cannot otherwise leave the
    process as it found it.
    """
    from tensorflow.python.framework import config

    config.disable_op_determinism()


def node_shapes(layer):
    """Input and output shapes of a functional model's layer at its first call.

    `layer._inbound_nodes`: Keras 3 has no public way to reach the tensors a
    layer was called on inside a functional model (`layer.input` fails for
    layers called more than once and for some nested ones).
    """
    node = layer._inbound_nodes[0]
    return tuple(node.input_tensors[0].shape), tuple(node.output_tensors[0].shape)


def is_graph_model(model):
    """Whether `model` is a functional or Sequential model, whose graph Keras
    can rebuild (`_nodes_by_depth` / `keras.Sequential`; Keras exports no
    `Functional` class to test against)."""
    return isinstance(model, keras.Sequential) or hasattr(model, "_nodes_by_depth")


def graph_calls(model, layer):
    """The nodes (calls) of `layer` in `model`'s own graph (`_nodes_by_depth`).

    A layer shared by two functional models (as `insert_nonlocal` shares
    them) has the nodes of both in `layer._inbound_nodes`, and `layer.output`
    is its first model's; no public API says which node is whose.
    """
    return [node for nodes in getattr(model, "_nodes_by_depth", {}).values() for node in nodes
            if node.operation is layer]


def output_in(model, layer):
    """`layer`'s output tensor in `model`'s graph (see `graph_calls`)."""
    calls = graph_calls(model, layer)
    return calls[0].outputs[0] if calls else layer.output


def all_layers(model):
    """Every layer of `model`, nested sublayers included (`_flatten_layers`):
    `model.layers` lists only the top level, not e.g. a NonLocal3D's BN."""
    return list(model._flatten_layers(include_self=False, recursive=True))


def build_compile_state(model, element_spec):
    """Builds the optimizer and metric state from a dataset's element spec
    (`_symbolic_build`), without iterating the data as `fit` would."""
    model._symbolic_build(data_batch=element_spec)


def skip_fit_build(model):
    """Turns off `fit`'s own state build (`_maybe_symbolic_build`), which
    reads one batch and restarts the stream, after `build_compile_state`."""
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
