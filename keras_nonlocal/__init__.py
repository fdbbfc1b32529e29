"""keras_nonlocal: Non-local Neural Networks (Wang et al., CVPR 2018) for Keras 3."""

from keras_nonlocal.clip import Clip

__version__ = "0.1.0"
__all__ = ["Clip", "NonLocal1D", "NonLocal2D", "NonLocal3D", "PaperSGD", "VideoClassifier",
           "VideoPreprocessing", "VideoResNetBackbone", "__version__", "insert_nonlocal"]

from keras_nonlocal.extras import missing_backend_message


try:
    from keras_nonlocal import console

    console.configure()
    console.import_keras()
except ModuleNotFoundError as error:
    if error.name not in ("tensorflow", "jax", "jaxlib", "torch"):
        raise
    _MISSING_BACKEND = error  # the command line still answers --help

    def __getattr__(name):
        if name in __all__:
            raise ImportError(missing_backend_message(_MISSING_BACKEND))
        raise AttributeError(f"module 'keras_nonlocal' has no attribute {name!r}")
else:
    # Imported here so that loading a saved model or checkpoint needs only
    # `import keras_nonlocal`: these register with Keras' serialization.
    from keras_nonlocal.layers import NonLocal1D
    from keras_nonlocal.layers import NonLocal2D
    from keras_nonlocal.layers import NonLocal3D
    from keras_nonlocal.layers import VideoPreprocessing
    from keras_nonlocal.models import VideoClassifier
    from keras_nonlocal.models import VideoResNetBackbone
    from keras_nonlocal.models.insertion import insert_nonlocal
    from keras_nonlocal.optimizers import PaperSGD
