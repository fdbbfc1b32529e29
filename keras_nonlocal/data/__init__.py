"""Video data: lists of videos, PyAV decoding, tf.data pipelines, TFRecords."""

from keras_nonlocal.data.callbacks import SkippedVideosReport
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.decode import read_frames
from keras_nonlocal.data.make_tfrecords import make_tfrecords
from keras_nonlocal.data.pipeline import SkipLog
from keras_nonlocal.data.pipeline import video_dataset
from keras_nonlocal.data.sampling import eval_clip_indices
from keras_nonlocal.data.sampling import eval_crop_boxes
from keras_nonlocal.data.sampling import train_clip_indices
from keras_nonlocal.data.sources import VideoList
from keras_nonlocal.data.sources import read_class_names
from keras_nonlocal.data.sources import read_csv_list
from keras_nonlocal.data.sources import read_folder
from keras_nonlocal.data.sources import read_kinetics_csv
from keras_nonlocal.data.sources import read_slowfast_list
from keras_nonlocal.data.sources import read_videos
from keras_nonlocal.data.tfrecord import TFRecordSkips
from keras_nonlocal.data.tfrecord import tfrecord_dataset

__all__ = [
    "SkipLog", "SkippedVideosReport", "TFRecordSkips", "VideoError", "VideoList",
    "eval_clip_indices", "eval_crop_boxes", "make_tfrecords", "probe", "read_class_names",
    "read_csv_list", "read_folder", "read_frames", "read_kinetics_csv", "read_slowfast_list",
    "read_videos", "tfrecord_dataset", "train_clip_indices", "video_dataset",
]
