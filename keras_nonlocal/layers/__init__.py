"""Non-local layers."""

from keras_nonlocal.layers.nonlocal_block import NonLocal1D
from keras_nonlocal.layers.nonlocal_block import NonLocal2D
from keras_nonlocal.layers.nonlocal_block import NonLocal3D
from keras_nonlocal.layers.nonlocal_block import NonLocalBase

__all__ = ["NonLocal1D", "NonLocal2D", "NonLocal3D", "NonLocalBase"]
