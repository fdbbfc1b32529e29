"""Features over whole videos: a model's clip slid over each video, one row per window.

The window rule is `data.windows`'. Decoding (PyAV, into NumPy: no
TensorFlow needed) runs in background threads and overlaps the model;
windows of several videos share a batch; with a `strategy`, every device
it offers takes part of each batch (tf.distribute on TensorFlow,
keras.distribution on JAX).

Example:

```python
from keras_nonlocal import features, zoo

model = zoo.nl_i3d_r50(weights="kinetics400")
for video in features.extract_features(model, ["a.mp4", "b.mp4"]):
    video.outputs.shape       # (windows, 2048)
    video.windows[0].start    # seconds
summary = features.write_features(model, "videos/", "features/")
```
"""

import collections
import dataclasses
import glob
import json
import os
import queue
import threading
import time

import numpy as np

from keras_nonlocal import zoo
from keras_nonlocal.data import windows as windows_lib
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.record_windows import RecordItems
from keras_nonlocal.data.record_windows import RecordReader
from keras_nonlocal.data.record_windows import record_items
from keras_nonlocal.data.record_windows import record_windows
from keras_nonlocal.data.skips import SkipLog
from keras_nonlocal.data.sources import find_videos
from keras_nonlocal.extras import require_tensorflow

VideoResult = collections.namedtuple("VideoResult",
                                     ["path", "name", "outputs", "windows", "fps", "error"])
VideoResult.__doc__ = """One video's outputs: `outputs` `(windows, ...)` float32
(the model's output per window, averaged over its crops), `windows` its
`data.Window`s, `fps`; or `error` (a message; the rest None) when the video
could not be read."""

ENGINES = ("threads", "tf.data")


def _video_items(videos, clip=None):
    if isinstance(videos, RecordItems):
        return videos
    if _is_records(videos):
        return record_items(videos, clip)
    if isinstance(videos, (str, os.PathLike)):
        return find_videos(videos)
    items = []
    for video in videos:
        if isinstance(video, (tuple, list)):
            items.append((str(video[0]), str(video[1])))
        else:
            items.extend(find_videos(video))
    return items


def window_outputs(model, videos, clip=None, hop=None, crops=1, short_side=None, batch_size=4,
                   decoders=2, placement=None, progress=False, engine="threads"):
    """Runs `model` on every window of every video; one result per video.

    Args:
        model: a zoo model, or a model made from one (`zoo.feature_model`).
        videos: a folder, a list file, video files, or `(path, name)` pairs
            (see `data.find_videos`).
        clip: changes to the model's clip (a dict) or a `Clip`; default the
            model's own (frames, stride, test short side).
        hop: frames between window starts (default `num_frames * stride`).
        crops: 1 (centre) or 3 crops per window, averaged.
        short_side: the test short side (default the clip's).
        batch_size: windows per model call (every call has this many: the
            last is padded, so the model compiles once).
        decoders: videos decoded at once, each in its own thread.
        placement: a `training.distribution.Placement` (its strategy or
            distribution splits each batch over its devices); the model must
            have been built or loaded under it.
        progress: a progress bar (videos, windows, rate, ETA).
        engine: who decodes: `"threads"` (Python threads, any install) or
            `"tf.data"` (an interleaved `tf.data` pipeline of the same
            PyAV reader, `decoders` videos at once; TensorFlow needed).

    Yields:
        A `VideoResult` per video, as soon as its last window is computed
        (in input order with one decoder; unreadable videos with `error`).
    """
    clip = zoo.resolve_clip(model, clip, print_fn=None)
    windows_lib.check_hop(hop)
    if crops not in (1, 3):
        raise ValueError(f"`crops` must be 1 or 3. Received: crops={crops!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}")
    if engine not in ENGINES:
        raise ValueError(f"`engine` must be one of {ENGINES}. Received: engine={engine!r}")
    items = _video_items(videos, clip)
    source = _WindowSource(items, clip, hop, crops, short_side)
    assembler = _Assembler(items, _model_call(model, placement, batch_size * crops), batch_size,
                           crops, _Progress(len(items)) if progress else None)
    events = _EventQueue(maxsize=4 * batch_size)
    threads = _start_decoders(events, source, engine, decoders)
    try:
        yield from assembler.results(events, len(threads))
    finally:
        # Not joined: a decoder may be inside a video; it sees the stop at its next event.
        events.stop()


def _is_records(videos):
    from keras_nonlocal.data.sources import TFRecords

    return isinstance(videos, TFRecords)


@dataclasses.dataclass(frozen=True)
class _WindowEvent:
    """What a decoder tells the assembler; `kind` is one of:

    - `"window"`: window `count` (from 0) of video `index`, its `window`
      (a `data.Window`) and `views` (`(crops, frames, H, W, 3)` uint8);
    - `"end"`: video `index` has `count` windows, at `fps`;
    - `"error"`: video `index` cannot be read; `error` says why;
    - `"crash"`: the decoder failed (`error`, the exception: a bug, not a
      bad video, so the caller raises it);
    - `"done"`: the decoder has nothing more to say.
    """

    kind: str
    index: int = None
    count: int = 0
    window: object = None
    views: object = None
    fps: float = None
    error: object = None


class _EventQueue:
    """The bounded queue from the decoders to the assembler, with its stop."""

    def __init__(self, maxsize):
        self._queue = queue.Queue(maxsize=maxsize)
        self._stop = threading.Event()

    @property
    def stopped(self):
        return self._stop.is_set()

    def stop(self):
        self._stop.set()

    def put(self, event):
        """Waits for room, or drops `event` once stopped (nobody reads it)."""
        while not self.stopped:
            try:
                self._queue.put(event, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, timeout=0.1):
        """The next event, or None after `timeout` seconds without one."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None


class _WindowSource:
    """The events of each video of `items` (by index): its windows in order,
    then its `"end"`; or an `"error"` when it cannot be read."""

    def __init__(self, items, clip, hop, crops, short_side):
        self.items = items
        self.keys = items.keys if isinstance(items, RecordItems) else None
        self.reader = RecordReader()
        self.clip, self.hop, self.crops, self.short_side = clip, hop, crops, short_side

    def events(self, index):
        source = self.items[index][0]  # a file path, or a record's RecordRef
        try:
            if self.keys is not None:
                fps = source.fps
                windows = record_windows(self.reader, source, self.keys, self.clip, self.hop,
                                         self.crops, self.short_side)
            else:
                fps = probe(source).fps
                windows = windows_lib.iter_windows(source, self.clip, hop=self.hop,
                                                   crops=self.crops, short_side=self.short_side)
            count = 0
            for window, views in windows:
                yield _WindowEvent("window", index, count, window=window, views=views)
                count += 1
            yield _WindowEvent("end", index, count, fps=fps)
        except VideoError as error:
            yield _WindowEvent("error", index, error=str(error))


def _start_decoders(events, source, engine, decoders):
    """Starts the decoding threads, which put `source`'s events on `events`."""
    count = len(source.items)
    if engine == "tf.data":
        targets = {"tf.data": lambda: _tf_data_events(source.events, count, decoders)}
    else:
        claims = _VideoClaims(count, events)
        targets = {f"decoder-{i}": lambda: claims.events(source)
                   for i in range(max(1, min(decoders, count)))}
    threads = [threading.Thread(target=_decode_into, args=(events, produce), daemon=True,
                                name=name) for name, produce in targets.items()]
    for thread in threads:
        thread.start()
    return threads


def _decode_into(events, produce):
    """A decoder thread: puts `produce()`'s events on `events` until stopped,
    then one `"done"`."""
    try:
        for event in produce():
            if events.stopped:
                return
            events.put(event)
    except BaseException as error:  # a bug, not a bad video: the caller sees it
        events.put(_WindowEvent("crash", error=error))
    finally:
        events.put(_WindowEvent("done"))


class _VideoClaims:
    """Hands the videos out to the decoder threads, each video to one."""

    def __init__(self, count, events):
        self._indices = iter(range(count))
        self._lock = threading.Lock()
        self._events = events

    def events(self, source):
        """The events of every video this thread claims, one video after another."""
        while not self._events.stopped:
            with self._lock:
                index = next(self._indices, None)
            if index is None:
                return
            yield from source.events(index)


_TF_DATA_KINDS = ("window", "end", "error")


def _tf_data_events(video, count, decoders):
    """The events of `video(index)` for every index, read through an
    interleaved tf.data pipeline (`decoders` videos at once)."""
    tf = require_tensorflow("engine='tf.data'")

    def encoded(index):
        for event in video(int(index)):
            yield _encode_event(event)

    signature = tuple(tf.TensorSpec((), dtype) for dtype in
                      (tf.int32, tf.int64, tf.int64, tf.int64, tf.int64, tf.float64, tf.float64,
                       tf.float64)) \
        + (tf.TensorSpec((None, None, None, None, 3), tf.uint8), tf.TensorSpec((), tf.string))
    dataset = tf.data.Dataset.range(count).interleave(
        lambda i: tf.data.Dataset.from_generator(encoded, args=(i,), output_signature=signature),
        cycle_length=max(1, decoders), num_parallel_calls=max(1, decoders), deterministic=False)
    for values in dataset.prefetch(2).as_numpy_iterator():
        yield _decode_event(values)


def _encode_event(event):
    """A `"window"`, `"end"` or `"error"` event as one tuple of tensor values
    (tf.data wants one signature for all: unused fields are empty)."""
    first, last, start, end = event.window if event.kind == "window" else (0, 0, 0.0, 0.0)
    views = event.views if event.kind == "window" else np.zeros((0, 0, 0, 0, 3), np.uint8)
    return (_TF_DATA_KINDS.index(event.kind), event.index, event.count, first, last, start, end,
            event.fps or 0.0, views, event.error or "")


def _decode_event(values):
    """The event `_encode_event` made `values` (NumPy, from tf.data) from."""
    kind, index, count, first, last, start, end, fps, views, text = values
    kind, index, count = _TF_DATA_KINDS[kind], int(index), int(count)
    if kind == "window":
        window = windows_lib.Window(int(first), int(last), float(start), float(end))
        return _WindowEvent("window", index, count, window=window, views=views)
    if kind == "end":
        return _WindowEvent("end", index, count, fps=float(fps))
    return _WindowEvent("error", index, error=text.decode())


class _VideoState:
    """One video being assembled: its windows and outputs so far (by window
    number), and once its decoder has finished it, its window count and fps."""

    def __init__(self):
        self.windows, self.outputs, self.total, self.fps = {}, {}, None, None

    @property
    def complete(self):
        return self.total is not None and len(self.outputs) == self.total

    def result(self, path, name):
        order = range(self.total)
        return VideoResult(path, name, np.stack([self.outputs[k] for k in order]),
                           [self.windows[k] for k in order], self.fps, None)


class _Assembler:
    """Runs the model on the decoded windows, `batch_size` windows (`crops`
    views each) a call, and makes each video's `VideoResult`."""

    def __init__(self, items, call, batch_size, crops, bar=None):
        self.items, self.call, self.batch_size, self.crops, self.bar = \
            items, call, batch_size, crops, bar
        self.states = {}  # video index -> _VideoState
        self.pending = []  # (video index, window number, views) awaiting the model

    def results(self, events, running):
        """Yields the results from `events` (`running` decoders put them
        there), each as soon as its video is complete, until every decoder
        is done and every window computed."""
        while running or self.pending:
            event = events.get() if running else None
            if event is None:
                # Nothing came for a while (or nothing will): don't hold windows back.
                self._run_batch()
            elif event.kind == "done":
                running -= 1
            elif event.kind == "crash":
                raise event.error
            elif event.kind == "error":
                yield self._failed(event.index, event.error)
            else:
                self._add(event)
            yield from self._completed()

    def _add(self, event):
        state = self.states.setdefault(event.index, _VideoState())
        if event.kind == "end":
            state.total, state.fps = event.count, event.fps
            return
        state.windows[event.count] = event.window
        self.pending.append((event.index, event.count, event.views))
        if len(self.pending) == self.batch_size:
            self._run_batch()

    def _run_batch(self):
        if not self.pending:
            return
        outputs = self.call(np.concatenate([views for _, _, views in self.pending]))
        outputs = outputs.reshape((len(self.pending), self.crops) + outputs.shape[1:]).mean(axis=1)
        for (index, k, _), row in zip(self.pending, outputs):
            if index in self.states:  # not a video that failed after some windows
                self.states[index].outputs[k] = row
        if self.bar:
            self.bar.windows(len(self.pending))
        self.pending.clear()

    def _failed(self, index, message):
        self.states.pop(index, None)
        if self.bar:
            self.bar.video()
        path, name = self.items[index]
        return VideoResult(path, name, None, None, None, message)

    def _completed(self):
        for index in sorted(self.states):
            if self.states[index].complete:
                result = self.states.pop(index).result(*self.items[index])
                if self.bar:
                    self.bar.video()
                yield result


def _model_call(model, placement, views):
    """`views -> outputs` in float32 NumPy, always at `views` clips a call
    (padded; rounded up to the replicas), on the placement's devices."""
    import keras

    replicas = placement.replicas if placement is not None else 1
    size = -(-views // replicas) * replicas

    def call(x):
        n = len(x)
        if n < size:
            x = np.concatenate([x, np.repeat(x[-1:], size - n, axis=0)])
        if replicas > 1:
            out = model.predict(x, batch_size=size, verbose=0)
        else:
            out = model.predict_on_batch(x)
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)[:n]

    return call


class _Progress:
    """videos done / total, windows, windows per second and the ETA (Keras' Progbar)."""

    def __init__(self, total):
        import keras

        self.bar = keras.utils.Progbar(total, unit_name="video",
                                       stateful_metrics=["windows", "windows/s"])
        self.done, self.count, self.start = 0, 0, time.time()

    def _update(self):
        rate = self.count / max(time.time() - self.start, 1e-9)
        self.bar.update(self.done, [("windows", self.count), ("windows/s", rate)])

    def windows(self, n):
        self.count += n
        self._update()

    def video(self):
        self.done += 1
        self._update()


def extract_features(model, videos, layer=None, pooling="avg", **kwargs):
    """Features of every window of every video.

    Args:
        model: a zoo model (a classifier or not: its features are taken).
        videos: as in `window_outputs`.
        layer: the stage (a Keras layer name, e.g. `"conv4_block6_out"`);
            default the res5 output the classifier reads.
        pooling: `"avg"` (default), `"max"`, or None (the maps).
        **kwargs: `window_outputs`' (`clip`, `hop`, `crops`, `short_side`,
            `batch_size`, `decoders`, `placement`, `progress`).

    Yields:
        `VideoResult`s whose `outputs` are float32 `(windows, C)` (pooled).
    """
    return window_outputs(zoo.feature_model(model, layer, pooling), videos, **kwargs)


def output_paths(out_dir, name):
    """Where a video's features go: `out_dir/<name without extension>.npy` and `.json`."""
    base = os.path.join(out_dir, os.path.splitext(name)[0])
    return base + ".npy", base + ".json"


def _write_atomically(path, write):
    """`write(file)` into a partial file renamed to `path` when complete (a
    partial file a killed run left is removed)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    for stale in glob.glob(glob.escape(path) + ".partial-*"):
        os.remove(stale)
    partial = f"{path}.partial-{os.getpid()}"
    with open(partial, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def window_records(windows):
    """The windows as JSON-ready dicts (`first_frame`, `last_frame`, `start`, `end`)."""
    return [dict(first_frame=int(w.first_frame), last_frame=int(w.last_frame),
                 start=float(w.start), end=float(w.end)) for w in windows]


def write_features(model, videos, out_dir, overwrite=False, **kwargs):
    """Writes every video's features: `out_dir/<name>.npy` (float32
    `(windows, C)`) and beside it `<name>.json` (`fps`, `windows`).

    Each file is written whole or not at all (a rename), the `.npy` last,
    so a run killed at any point loses only the videos in flight; a rerun
    skips the videos whose `.npy` and `.json` exist (`overwrite=True`
    redoes them).

    Args:
        model, videos: as in `extract_features`.
        out_dir: the output folder.
        overwrite: recompute videos already written.
        **kwargs: `extract_features`' (`layer`, `pooling`, `hop`, ...).

    Returns:
        A dict: `written` (names), `kept` (names done by an earlier run),
        `skipped` (name -> error).
    """
    items = _video_items(videos, zoo.resolve_clip(model, kwargs.get("clip"), print_fn=None))
    kept = [name for _, name in items
            if not overwrite and all(map(os.path.exists, output_paths(out_dir, name)))]
    done = set(kept)
    todo = [(path, name) for path, name in items if name not in done]
    if isinstance(items, RecordItems):
        todo = RecordItems(todo, items.keys)
    written, skips = [], SkipLog()
    if todo:
        for result in extract_features(model, todo, **kwargs):
            if result.error is not None:
                skips.add(str(result.path), result.error)
                continue
            npy, meta = output_paths(out_dir, result.name)
            record = dict(video=str(result.path), fps=result.fps,
                          windows=window_records(result.windows))
            _write_atomically(meta, lambda f: f.write(json.dumps(record, indent=1).encode()))
            _write_atomically(npy, lambda f: np.save(f, result.outputs))
            written.append(result.name)
    return dict(written=written, kept=kept, skipped=dict(skips.errors))
