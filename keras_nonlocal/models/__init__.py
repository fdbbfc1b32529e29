"""Architectures: the video ResNets, their cost, and non-local blocks in any model."""

from keras_nonlocal.models.complexity import complexity
from keras_nonlocal.models.complexity import format_complexity
from keras_nonlocal.models.insertion import insert_nonlocal
from keras_nonlocal.models.video_resnet import Architecture
from keras_nonlocal.models.video_resnet import nonlocal_after
from keras_nonlocal.models.video_resnet import video_resnet

__all__ = ["Architecture", "complexity", "format_complexity", "insert_nonlocal", "nonlocal_after",
           "video_resnet"]
