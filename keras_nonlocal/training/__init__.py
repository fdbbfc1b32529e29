"""Training, evaluation and prediction of zoo models (export: `keras_nonlocal.export`).

Importing it needs no TensorFlow; training and `evaluate` (tf.data) do, and
say so. `make_strategy` (tf.distribute) is
imported on first use.
"""

from keras_nonlocal.optimizers import PaperSGD
from keras_nonlocal.training.checkpoints import checkpoints
from keras_nonlocal.training.checkpoints import load_checkpoint
from keras_nonlocal.training.evaluate import combine_views
from keras_nonlocal.training.evaluate import classification_metrics
from keras_nonlocal.training.evaluate import evaluate
from keras_nonlocal.training.evaluate import mean_average_precision
from keras_nonlocal.training.predict import predict
from keras_nonlocal.training.recipe import Recipe
from keras_nonlocal.training.recipe import list_recipes
from keras_nonlocal.training.recipe import load_recipe
from keras_nonlocal.training.train import NonFiniteLossError
from keras_nonlocal.training.train import train

__all__ = ["NonFiniteLossError", "PaperSGD", "Recipe", "checkpoints", "combine_views",
           "classification_metrics", "evaluate", "list_recipes",
           "load_checkpoint", "load_recipe", "make_strategy", "mean_average_precision",
           "predict", "train"]


def __getattr__(name):
    if name == "make_strategy":
        from keras_nonlocal.training.strategy import make_strategy

        return make_strategy
    raise AttributeError(f"module 'keras_nonlocal.training' has no attribute {name!r}")
