"""Which install extra brings what: the errors that say so.

The library runs on any Keras backend; the tf.data pipelines (training,
`evaluate`, TFRecords) and SavedModel export need TensorFlow, which the
`[tensorflow]` extra brings (`[jax]` and `[torch]` do not).
"""


class TensorFlowNeeded(ModuleNotFoundError):
    """TensorFlow is not installed and what was asked for needs it."""


def require_tensorflow(what):
    """`import tensorflow`, or a `TensorFlowNeeded` naming `what` needs it and
    the extra to install."""
    try:
        import tensorflow
    except ModuleNotFoundError as error:
        if error.name != "tensorflow":
            raise
        raise TensorFlowNeeded(
            f"{what} need TensorFlow: pip install 'keras-nonlocal[tensorflow]' (the [jax] and "
            f"[torch] extras do not bring it). Received: {error}", name="tensorflow") from None
    return tensorflow


def missing_backend_message(error):
    """One line for a Keras whose backend package is not installed."""
    if isinstance(error, TensorFlowNeeded):
        return str(error)
    return ("keras_nonlocal needs a Keras backend: pip install 'keras-nonlocal[tensorflow]' "
            "(or [jax], [torch]; KERAS_BACKEND names the one to use). "
            f"Received: {error}")
