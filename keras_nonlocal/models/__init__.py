"""Architectures: the video ResNets and their cost."""

from keras_nonlocal.models.complexity import complexity
from keras_nonlocal.models.complexity import format_complexity
from keras_nonlocal.models.video_resnet import Architecture
from keras_nonlocal.models.video_resnet import video_resnet

__all__ = ["Architecture", "complexity", "format_complexity", "video_resnet"]
