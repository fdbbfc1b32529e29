"""Multi-view evaluation (paper 4.1), prediction and SavedModel export."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_nonlocal import data


def average_per_video(scores, video_ids):
    """Mean of the view scores of each video: returns (ids, (V, C) scores)."""
    scores = np.asarray(scores, np.float64)
    video_ids = np.asarray(video_ids)
    ids, inverse = np.unique(video_ids, return_inverse=True)
    sums = np.zeros((len(ids), scores.shape[1]))
    np.add.at(sums, inverse, scores)
    counts = np.bincount(inverse, minlength=len(ids))[:, None]
    return ids, sums / counts


def topk_accuracy(scores, labels, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return float(np.mean([label in row for row, label in zip(top, labels)]))


def mean_average_precision(scores, targets):
    """mAP over classes with at least one positive (Charades style)."""
    precisions = []
    for c in range(scores.shape[1]):
        positives = targets[:, c] > 0
        if not positives.any():
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        hits = positives[order]
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
        scores.append(np.asarray(model.predict_on_batch(clips)))
        labels.append(targets.numpy())
        ids.append(video_ids.numpy())
    if not scores:
        raise ValueError("The evaluation dataset is empty. Received: 0 views")
    return np.concatenate(scores), np.concatenate(labels), np.concatenate(ids)


def evaluate(model, videos, num_frames=32, frame_stride=2, num_clips=10, num_crops=3,
             short_side=256, batch_size=4, output=None, multi_label=None):
    """The paper's multi-view testing of `model` on `videos` (a `VideoList`).

    Softmax scores of the `num_clips x num_crops` views of a video (fully
    convolutional at `short_side`) are averaged per video, then scored.
    Writes `output` (JSON) and a confusion-matrix PNG beside it when given.
    """
    multi_label = videos.multi_label if multi_label is None else multi_label
    dataset, skipped = data.video_dataset(
        videos, training=False, num_frames=num_frames, frame_stride=frame_stride,
        num_clips=num_clips, num_crops=num_crops, eval_short_side=short_side,
        batch_size=batch_size, with_video_id=True)
    scores, labels, ids = view_scores(model, dataset)
    video_ids, averaged = average_per_video(scores, ids)
    first = {i: labels[np.argmax(ids == i)] for i in video_ids}
    video_labels = np.stack([first[i] for i in video_ids])
    metrics = classification_metrics(averaged, video_labels, videos.class_names, multi_label)
    metrics.update(views_per_video=num_clips * num_crops, skipped_videos=sorted(skipped.errors))
    if output:
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        with open(output, "w") as f:
            json.dump(metrics, f, indent=1)
        if "confusion_matrix" in metrics:
            plot_confusion(metrics["confusion_matrix"], videos.class_names,
                           os.path.splitext(output)[0] + "_confusion.png")
    return metrics


def predict(model, paths, class_names, num_frames=32, frame_stride=2, num_clips=10,
            num_crops=3, short_side=256, top=5):
    """Top-`top` classes per video: {path: [(name, score), ...]} (unreadable: the error)."""
    videos = data.VideoList(list(paths), [[0]] * len(paths), list(class_names))
    dataset, skipped = data.video_dataset(
        videos, training=False, num_frames=num_frames, frame_stride=frame_stride,
        num_clips=num_clips, num_crops=num_crops, eval_short_side=short_side,
        batch_size=num_clips * num_crops, with_video_id=True)
    results = {path: f"unreadable: {error}" for path, error in skipped.errors.items()}
    for clips, _, ids in dataset:
        score = np.asarray(model.predict_on_batch(clips)).mean(axis=0)
        best = np.argsort(-score)[:top]
        results[paths[int(ids.numpy()[0])]] = [(class_names[i], float(score[i])) for i in best]
    for path in paths:
        results.setdefault(path, "unreadable")
    return results


def export_saved_model(model, path):
    """A SavedModel whose `serve` signature takes uint8 clips (batch, T, H, W, 3)
    and returns the class scores (TF Serving, `tf.saved_model.load`)."""
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(clips):
        return model(tf.cast(clips, "float32"), training=False)

    archive.add_endpoint(
        name="serve", fn=serve,
        input_signature=[tf.TensorSpec(model.input.shape, tf.uint8, name="clips")])
    archive.write_out(path)
    return path
