"""Predictions along a video: the classifier on every window (`data.windows`' rule).

Example:

```python
from keras_nonlocal import timeline, zoo

model = zoo.nl_i3d_r50(weights="kinetics400_8x8")
windows = timeline.predict_timeline(model, "long.mp4", top=3)
windows[0]    # {'start': 0.0, 'end': 2.56, 'first_frame': 0, 'last_frame': 63, 'top': [...]}
timeline.write_timeline(windows, "long_timeline.csv")
timeline.plot_timeline(windows, "long_timeline.png")
```
"""

import csv
import json
import os

import numpy as np

from keras_nonlocal import zoo
from keras_nonlocal.features import window_outputs
from keras_nonlocal.features import window_records

FORMATS = (".json", ".csv")


def predict_timeline(model, video, top=5, class_names=None, **kwargs):
    """The top classes of every window of `video`.

    Args:
        model: a zoo classifier.
        video: a video file.
        top: classes per window.
        class_names: default the model's (its clip's), else class indices.
        **kwargs: `features.window_outputs`' (`clip`, `hop`, `crops`,
            `short_side`, `batch_size`, `placement`).

    Returns:
        A list, per window: `start`, `end` (seconds), `first_frame`,
        `last_frame`, and `top`: `[{"class": name, "score": s}, ...]`, the
        model's scores (probabilities for a softmax classifier) averaged
        over the window's crops.

    Raises:
        VideoError: the video cannot be read.
    """
    from keras_nonlocal.data.decode import VideoError

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"`top` must be a positive int. Received: top={top!r}")
    result = next(window_outputs(model, [(str(video), os.path.basename(str(video)))],
                                 decoders=1, **kwargs))
    if result.error is not None:
        raise VideoError(result.error)
    clip = zoo.resolve_clip(model, kwargs.get("clip"), print_fn=None)
    names = class_names or clip.class_names or [str(i) for i in range(result.outputs.shape[-1])]
    entries = []
    for record, scores in zip(window_records(result.windows), result.outputs):
        best = np.argsort(-scores, kind="stable")[:top]
        record["top"] = [{"class": names[i], "score": float(scores[i])} for i in best]
        entries.append(record)
    return entries


def write_timeline(entries, path):
    """Writes a timeline as JSON (a list of windows) or CSV (one row per
    window and rank: start, end, first_frame, last_frame, rank, class, score),
    by `path`'s extension."""
    extension = os.path.splitext(str(path))[1].lower()
    if extension not in FORMATS:
        raise ValueError(f"A timeline is written as .json or .csv. Received: {path!r}")
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    with open(path, "w", newline="") as f:
        if extension == ".json":
            json.dump(entries, f, indent=1)
            return path
        writer = csv.writer(f)
        writer.writerow(["start", "end", "first_frame", "last_frame", "rank", "class", "score"])
        for entry in entries:
            for rank, guess in enumerate(entry["top"], 1):
                writer.writerow([f"{entry['start']:.3f}", f"{entry['end']:.3f}",
                                 entry["first_frame"], entry["last_frame"], rank,
                                 guess["class"], f"{guess['score']:.6f}"])
    return path


def plot_timeline(entries, path, classes=5, title=None):
    """A PNG of the top classes' scores over time: the `classes` classes with
    the highest mean score over the windows where they are known, each a
    step line over the windows' [start, end)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = {}
    for entry in entries:
        for guess in entry["top"]:
            totals[guess["class"]] = totals.get(guess["class"], 0.0) + guess["score"]
    shown = sorted(totals, key=lambda name: -totals[name])[:classes]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name in shown:
        xs, ys = [], []
        for entry in entries:
            score = next((g["score"] for g in entry["top"] if g["class"] == name), np.nan)
            xs += [entry["start"], entry["end"]]
            ys += [score, score]
        ax.plot(xs, ys, label=name, linewidth=1.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
