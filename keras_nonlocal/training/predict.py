"""Prediction: each video's top classes over its test views. The views of
video files are decoded in NumPy (any backend's install, no TensorFlow);
TFRecord shards go through the TFRecord pipeline."""

import keras
import numpy as np

from keras_nonlocal import data
from keras_nonlocal import zoo
from keras_nonlocal.extras import require_tensorflow
from keras_nonlocal.training.evaluate import combine_views
from keras_nonlocal.training.evaluate import view_scores


def predict(model, paths, clip=None, class_names=None, top=5, print_fn=print):
    """Top-`top` classes of each video, averaged over its test views.

    The views of video files are decoded in NumPy (`data.read_views`): no
    TensorFlow needed; `data.TFRecords` shards are read by the TFRecord
    pipeline (TensorFlow), labels not needed.

    Args:
        model: a zoo model.
        paths: video files, or `data.TFRecords`.
        clip: as in `evaluate` (default: the model's own clip and views).
        class_names: default the model's (its clip's), else class indices.
        top: classes per video.

    Returns:
        `{path or record id: [(name, score), ...]}`; an unreadable video maps
        to its error (a dropped record is counted in the TFRecord skips
        line, printed).
    """
    clip = zoo.resolve_clip(model, clip, print_fn)
    names = class_names or clip.class_names or [str(i) for i in range(model.output.shape[-1])]
    if isinstance(paths, data.TFRecords):
        require_tensorflow("predict on TFRecords (its tf.data pipeline)")
        dataset, skips = data.tfrecord_dataset(
            paths.paths(), len(names), clip, training=False, shuffle=False, with_video_id=True,
            keys=paths.keys, frame_rate=paths.frame_rate, resample=paths.resample,
            print_fn=print_fn, labels=False)
        scores, _, ids = view_scores(model, dataset)
        ids, averaged = combine_views(scores, ids)
        if skips.count:
            print_fn(skips.summary())
        return {i.decode(): _top(row, names, top) for i, row in zip(ids, averaged)}
    results = {}
    for path in paths:
        try:
            views = data.read_views(path, clip)
        except data.VideoError as error:
            results[path] = f"unreadable: {error}"
            continue
        score = np.asarray(keras.ops.convert_to_numpy(model.predict_on_batch(views))).mean(axis=0)
        results[path] = _top(score, names, top)
    return results


def _top(score, names, top):
    return [(names[i], float(score[i])) for i in np.argsort(-score)[:top]]
