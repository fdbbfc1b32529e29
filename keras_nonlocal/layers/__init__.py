"""Non-local layers."""

from keras_nonlocal.layers.affine import Affine
from keras_nonlocal.layers.affine import affine_weights
from keras_nonlocal.layers.fused_batch_norm import FusedBatchNormalization
from keras_nonlocal.layers.nonlocal_block import NonLocal1D
from keras_nonlocal.layers.nonlocal_block import NonLocal2D
from keras_nonlocal.layers.nonlocal_block import NonLocal3D
from keras_nonlocal.layers.nonlocal_block import NonLocalBase
from keras_nonlocal.layers.pairwise_function import PairwiseFunction
from keras_nonlocal.layers.pairwise_function import get_pairwise
from keras_nonlocal.layers.pairwise_function import pairwise_names
from keras_nonlocal.layers.pairwise_function import register_pairwise
from keras_nonlocal.layers.pooling import MaxPoolingAs2D
from keras_nonlocal.layers.preprocessing import VideoPreprocessing
from keras_nonlocal.layers.sync_batch_norm import SyncBatchNormalization
from keras_nonlocal.layers.window_pooling import WindowAveragePooling3D

__all__ = ["Affine", "FusedBatchNormalization", "MaxPoolingAs2D", "NonLocal1D", "NonLocal2D", "NonLocal3D",
           "NonLocalBase", "PairwiseFunction", "SyncBatchNormalization", "VideoPreprocessing",
           "WindowAveragePooling3D", "affine_weights", "get_pairwise", "pairwise_names",
           "register_pairwise"]
