"""Multi-view evaluation (paper 4.1): `evaluate` reads the data through the
tf.data pipelines (TensorFlow needed). Prediction: `training/predict.py`.
"""

import json
import os

import numpy as np

from keras_nonlocal import data
from keras_nonlocal import zoo
from keras_nonlocal.extras import require_tensorflow
from keras_nonlocal.protocol import COMBINES
from keras_nonlocal.protocol import protocol as protocol_of
from keras_nonlocal.settings import check_choice


def combine_views(scores, video_ids, labels=None, how="mean"):
    """The view scores of each video made one, as a protocol says.

    Args:
        scores: `(views, C)`. video_ids: `(views,)`.
        labels: optional, per view (indices or multi-hot rows); every view of
            a video must carry its video's label.
        how: `"mean"`, `"sum"` or `"max"` (`protocol.COMBINES`).

    Returns:
        `(ids, (V, C) combined scores)`, or with `labels`
        `(ids, combined, (V, ...) labels)`, videos in increasing id order.
    """
    check_choice("how", how, COMBINES)
    scores = np.asarray(scores, np.float64)
    video_ids = np.asarray(video_ids)
    ids, first, inverse = np.unique(video_ids, return_index=True, return_inverse=True)
    if how == "max":
        combined = np.full((len(ids), scores.shape[1]), -np.inf)
        np.maximum.at(combined, inverse, scores)
    else:
        combined = np.zeros((len(ids), scores.shape[1]))
        np.add.at(combined, inverse, scores)
        if how == "mean":
            combined /= np.bincount(inverse, minlength=len(ids))[:, None]
    if labels is None:
        return ids, combined
    labels = np.asarray(labels)
    per_video = labels[first]
    mismatch = np.any((labels != per_video[inverse]).reshape(len(labels), -1), axis=1)
    if mismatch.any():
        raise ValueError(f"Views of one video carry different labels: video "
                         f"{video_ids[mismatch][0]}. Received: {int(mismatch.sum())} such views")
    return ids, combined, per_video


def topk_accuracy(scores, labels, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([label in row for row, label in zip(top, labels)]))


def mean_average_precision(scores, targets):
    """mAP as the Charades devkit computes it (Charades_v1_classify.m and its
    Python `charades_map`): per class, the precision at each positive of the
    ranking by descending score, summed over the positives and divided by
    their number; averaged over the classes with a positive. Videos without
    any label rank last in every class (`charades_map`); tied scores keep
    the videos' order (MATLAB's stable sort), where sklearn's
    `average_precision_score` would pool them.

    Args:
        scores: `(videos, classes)`.
        targets: `(videos, classes)` multi-hot.
    """
    scores = np.array(scores, np.float64)
    targets = np.asarray(targets) > 0
    scores[~targets.any(axis=1)] = -np.inf
    precisions = []
    for c in range(scores.shape[1]):
        positives = targets[:, c]
        if not positives.any():
            continue
        hits = positives[np.argsort(-scores[:, c], kind="stable")]
        ranks = np.arange(1, len(hits) + 1)
        precisions.append(float(np.sum(np.cumsum(hits)[hits] / ranks[hits]) / positives.sum()))
    return float(np.mean(precisions)) if precisions else float("nan")


def classification_metrics(scores, labels, class_names=None, multi_label=False):
    """Top-1/top-5 and per-class accuracy (single-label) or mAP (multi-label).

    Args:
        scores: (videos, classes) averaged scores.
        labels: class indices (single-label) or multi-hot rows.
    """
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    names = class_names or [str(i) for i in range(scores.shape[1])]
    if multi_label:
        return {"mAP": mean_average_precision(scores, labels), "videos": int(len(scores))}
    predicted = scores.argmax(axis=1)
    per_class = {}
    for c, name in enumerate(names):
        mask = labels == c
        if mask.any():
            per_class[name] = float(np.mean(predicted[mask] == c))
    confusion = np.zeros((scores.shape[1], scores.shape[1]), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return {"top1": topk_accuracy(scores, labels, 1),
            "top5": topk_accuracy(scores, labels, min(5, scores.shape[1])),
            "per_class_accuracy": per_class, "confusion_matrix": confusion.tolist(),
            "videos": int(len(scores))}


def plot_confusion(confusion, class_names, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    size = max(4, 0.35 * len(class_names))
    fig, axis = plt.subplots(figsize=(size, size))
    axis.imshow(confusion, cmap="Blues")
    if len(class_names) <= 40:
        axis.set_xticks(range(len(class_names)), class_names, rotation=90)
        axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def view_scores(model, dataset):
    """Scores of every view: returns (scores, labels, video ids)."""
    scores, labels, ids = [], [], []
    for clips, targets, video_ids in dataset:
        scores.append(np.asarray(model.predict_on_batch(np.asarray(clips))))
        labels.append(targets.numpy())
        ids.append(video_ids.numpy())
    if not scores:
        raise ValueError("The evaluation dataset is empty. Received: 0 views")
    return np.concatenate(scores), np.concatenate(labels), np.concatenate(ids)


def evaluate(model, videos, clip=None, batch_size=4, output=None, multi_label=None,
             protocol=None, print_fn=print):
    """The multi-view testing of `model` on `videos` (a `VideoList`), the
    way a protocol says (paper 4.1; `keras_nonlocal.protocol`).

    The `eval_clips x eval_crops` views of a video (fully convolutional at
    `eval_short_side`) are placed by the protocol's clip start and crop
    rules, their scores combined per video as it says (mean, sum, or max
    for multi-label), then scored: top-1 / top-5 (or the Charades devkit's
    mAP) over the readable videos, and again over every listed video (an
    unreadable one counts as wrong, or ranks last).

    Args:
        model: a zoo model (or any model recording its clip).
        videos: a `VideoList` (its class order must be the model's: read it
            with `class_names=zoo.preprocessing_spec(model).class_names`), or
            `data.TFRecords` shards (Model Garden or DMVR records; labels read
            as the model's classes, videos told apart by their ids).
        clip: `None` for the model's own clip (what it was trained on), a
            dict of changes to it (printed), or a `Clip`.
        batch_size: views per batch.
        output: a JSON path for the metrics; a confusion-matrix PNG is
            written beside it.
        multi_label: default `videos.multi_label`.
        protocol: a name of `protocol.PROTOCOLS` (`"release"`,
            `"pyslowfast"`, `"mmaction2"`, `"keras_nonlocal"`); default the
            clip's (a preset's publisher's).
        print_fn: where clip changes are printed.

    Returns:
        A dict: `top1`, `top5`, `per_class_accuracy`, `confusion_matrix` (or
        `mAP`) over the readable videos, `listed` (the same figures over all
        listed videos), `reported` (which of the two the protocol reports),
        `protocol`, `videos`, `views_per_video`, `skipped_videos` (paths, or
        for TFRecords their number), `clip` and `per_video` (each video's
        label and top classes, by path or record id).

    Example:

    ```python
    model = zoo.nl_i3d_r50(weights="kinetics400")        # the release's file
    videos = data.read_videos("val.csv", class_names=zoo.preprocessing_spec(model).class_names)
    evaluate(model, videos)                        # its protocol: "release"
    evaluate(model, videos, protocol="pyslowfast")
    ```
    """
    require_tensorflow("evaluate (its tf.data pipeline)")
    clip = zoo.resolve_clip(model, clip, print_fn)
    if protocol is not None:
        clip = clip.replace(protocol=protocol_of(protocol).name)
    rules = protocol_of(clip.protocol)
    records = isinstance(videos, data.TFRecords)
    multi_label = videos.multi_label if multi_label is None else multi_label
    if records:
        if clip.class_names is None:
            raise ValueError("Evaluating TFRecords reads their labels as the model's classes; "
                             "this model records no class names. Received: class_names=None")
        class_names = list(clip.class_names)
        dataset, skipped = data.tfrecord_dataset(
            videos.paths(), len(class_names), clip, training=False, multi_label=multi_label,
            batch_size=batch_size, shuffle=False, with_video_id=True, keys=videos.keys,
            class_names=class_names, frame_rate=videos.frame_rate, resample=videos.resample,
            print_fn=print_fn)
    else:
        _check_classes(clip, videos.class_names)
        class_names = videos.class_names
        dataset, skipped = data.video_dataset(videos, clip, training=False,
                                              batch_size=batch_size, with_video_id=True)
    scores, labels, ids = view_scores(model, dataset)
    video_ids, combined, video_labels = combine_views(scores, ids, labels,
                                                      rules.combine_for(multi_label))
    metrics = classification_metrics(combined, video_labels, class_names, multi_label)
    if records:
        names = [i.decode() for i in video_ids]
        listed, missing, unreadable = len(names) + skipped.count, None, skipped.count
    else:
        names = [videos.paths[i] for i in video_ids]
        listed = len(videos)
        missing = [videos.labels[i] for i in np.setdiff1d(np.arange(listed), video_ids)]
        unreadable = sorted(skipped.errors)
    metrics["listed"] = _over_listed(metrics, combined, video_labels, listed, missing,
                                     multi_label)
    metrics.update(reported=rules.denominator, protocol=rules.name,
                   views_per_video=clip.eval_clips * clip.eval_crops,
                   skipped_videos=unreadable,
                   clip={k: v for k, v in clip.get_config().items() if k != "class_names"},
                   per_video=_per_video(names, combined, video_labels, class_names,
                                        multi_label))
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w") as f:
            json.dump(metrics, f, indent=1)
        if "confusion_matrix" in metrics:
            plot_confusion(metrics["confusion_matrix"], class_names,
                           os.path.splitext(output)[0] + "_confusion.png")
    return metrics


def _over_listed(metrics, scores, labels, listed, missing, multi_label):
    """The figures over all `listed` videos: an unreadable one is wrong
    (top-k) or, with `missing` (the unreadable videos' label lists), has the
    lowest score in every class (mAP; `None` where their labels are not
    known, as for dropped TFRecords)."""
    if multi_label:
        if missing is None:
            return {"mAP": None if listed > len(scores) else metrics["mAP"], "videos": listed}
        rows = np.zeros((len(missing), scores.shape[1]))
        for row, classes in zip(rows, missing):
            row[list(classes)] = 1
        all_scores = np.concatenate([scores, np.full(rows.shape, -np.inf)])
        return {"mAP": mean_average_precision(all_scores, np.concatenate([labels, rows])),
                "videos": listed}
    fraction = len(scores) / listed if listed else 0.0
    return {"top1": metrics["top1"] * fraction, "top5": metrics["top5"] * fraction,
            "videos": listed}


def _per_video(names, scores, labels, class_names, multi_label, top=5):
    """`{video: {"label": ..., "top": [[class, score], ...]}}`."""
    results = {}
    for name, row, label in zip(names, scores, labels):
        best = np.argsort(-row)[:top]
        truth = ([class_names[c] for c in np.flatnonzero(label)] if multi_label
                 else class_names[int(label)])
        results[name] = {"label": truth,
                         "top": [[class_names[c], float(row[c])] for c in best]}
    return results


def _check_classes(clip, class_names):
    if clip.class_names is not None and tuple(class_names) != clip.class_names:
        raise ValueError(
            "The videos' classes are not the model's (in order): scores would be read against "
            f"the wrong names. Model: {list(clip.class_names)[:5]}..., videos: "
            f"{list(class_names)[:5]}... Received: {len(class_names)} classes")
