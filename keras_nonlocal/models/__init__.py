"""Architectures: the video ResNets, their cost, and non-local blocks in any model."""

from keras_nonlocal.models.backbone import VideoResNetBackbone
from keras_nonlocal.models.classifier import VideoClassifier
from keras_nonlocal.models.classifier import video_resnet
from keras_nonlocal.models.complexity import complexity
from keras_nonlocal.models.complexity import format_complexity
from keras_nonlocal.models.frozen_batch_norm import freeze_batch_norm
from keras_nonlocal.models.insertion import insert_nonlocal
from keras_nonlocal.models.video_resnet import Architecture
from keras_nonlocal.models.video_resnet import nonlocal_after

__all__ = ["Architecture", "VideoClassifier", "VideoResNetBackbone", "complexity",
           "format_complexity", "freeze_batch_norm", "insert_nonlocal", "nonlocal_after", "video_resnet"]
