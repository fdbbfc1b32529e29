"""keras_nonlocal: Non-local Neural Networks (Wang et al., CVPR 2018) for Keras 3."""

from keras_nonlocal.layers import NonLocal1D
from keras_nonlocal.layers import NonLocal2D
from keras_nonlocal.layers import NonLocal3D
from keras_nonlocal.layers import VideoPreprocessing  # registered, so saved zoo models load

__version__ = "0.1.0"

__all__ = ["NonLocal1D", "NonLocal2D", "NonLocal3D", "VideoPreprocessing", "__version__"]
