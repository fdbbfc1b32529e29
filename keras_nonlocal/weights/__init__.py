"""Weights: ImageNet inflation and loading weight files into zoo models."""

from keras_nonlocal.weights.imagenet import IMAGENET_NORMALIZATION
from keras_nonlocal.weights.imagenet import IMAGENET_SOURCES
from keras_nonlocal.weights.imagenet import imagenet_resnet
from keras_nonlocal.weights.inflation import inflate
from keras_nonlocal.weights.inflation import inflate_kernel
from keras_nonlocal.weights.kinetics import kinetics400_classes
from keras_nonlocal.weights.loading import copy_by_name
from keras_nonlocal.weights.loading import load_weights

__all__ = ["IMAGENET_NORMALIZATION", "IMAGENET_SOURCES", "copy_by_name", "imagenet_resnet",
           "inflate", "inflate_kernel", "kinetics400_classes", "load_weights"]
