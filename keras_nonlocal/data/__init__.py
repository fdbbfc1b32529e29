"""Video data: video lists, PyAV decoding, test views, windows over whole
videos, tf.data pipelines, TFRecords.

Everything but the tf.data pipelines works without TensorFlow (decoding,
sampling, the test views in NumPy); `video_dataset`, `tfrecord_dataset` and
`TFRecordSkips` import it when first used.
"""

import importlib

from keras_nonlocal.data.callbacks import SkippedVideosReport
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.decode import read_frames
from keras_nonlocal.data.make_tfrecords import make_tfrecords
from keras_nonlocal.data.sampling import eval_clip_indices
from keras_nonlocal.data.sampling import eval_crop_boxes
from keras_nonlocal.data.sampling import train_clip_indices
from keras_nonlocal.data.skips import SkipLog
from keras_nonlocal.data.sources import RecordKeys
from keras_nonlocal.data.sources import TFRecords
from keras_nonlocal.data.sources import VideoList
from keras_nonlocal.data.sources import find_videos
from keras_nonlocal.data.sources import read_class_names
from keras_nonlocal.data.sources import read_csv_list
from keras_nonlocal.data.sources import read_folder
from keras_nonlocal.data.sources import read_kinetics_csv
from keras_nonlocal.data.sources import read_slowfast_list
from keras_nonlocal.data.sources import read_videos
from keras_nonlocal.data.views import read_views
from keras_nonlocal.data.windows import Window
from keras_nonlocal.data.windows import iter_windows
from keras_nonlocal.data.windows import window_indices
from keras_nonlocal.extras import require_tensorflow

# The tf.data parts, imported on first use: name -> module.
_TF_DATA = {"video_dataset": "pipeline", "tfrecord_dataset": "tfrecord",
            "TFRecordSkips": "tfrecord"}

__all__ = [
    "RecordKeys", "SkipLog", "SkippedVideosReport", "TFRecordSkips", "TFRecords", "VideoError", "VideoList", "Window",
    "eval_clip_indices", "eval_crop_boxes", "find_videos", "iter_windows", "make_tfrecords", "probe", "read_class_names",
    "read_csv_list", "read_folder", "read_frames", "read_kinetics_csv", "read_slowfast_list",
    "read_videos", "read_views", "tfrecord_dataset", "train_clip_indices", "video_dataset",
    "window_indices",
]


def __getattr__(name):
    if name in _TF_DATA:
        require_tensorflow(f"the tf.data pipelines (keras_nonlocal.data.{name})")
        return getattr(importlib.import_module(f"keras_nonlocal.data.{_TF_DATA[name]}"), name)
    raise AttributeError(f"module 'keras_nonlocal.data' has no attribute {name!r}")
