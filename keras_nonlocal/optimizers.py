"""The paper's optimizer, registered with Keras on `import keras_nonlocal`
(so a checkpoint's optimizer loads on any backend without more imports)."""

import keras


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class PaperSGD(keras.optimizers.SGD):
    """SGD whose weight decay skips BN parameters and biases (paper 4.1).

    Same arguments as `keras.optimizers.SGD`. Keras applies the decay
    decoupled (`w -= lr * wd * w`), not as an L2 term in the gradient; with
    momentum the two differ slightly. The exclusion is part of the
    optimizer, so it survives saving and resuming.

    Example:

    >>> optimizer = PaperSGD(learning_rate=0.01, momentum=0.9, weight_decay=1e-4)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
