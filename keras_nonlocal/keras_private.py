"""Every use of Keras' private API in this package, in one place.

Each function names the private attribute it touches and why no public one
serves; a Keras upgrade that breaks one breaks it here.
"""


def node_shapes(layer):
    """Input and output shapes of a functional model's layer at its first call.

    `layer._inbound_nodes`: Keras 3 has no public way to reach the tensors a
    layer was called on inside a functional model (`layer.input` fails for
    layers called more than once and for some nested ones).
    """
    node = layer._inbound_nodes[0]
    return tuple(node.input_tensors[0].shape), tuple(node.output_tensors[0].shape)


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
