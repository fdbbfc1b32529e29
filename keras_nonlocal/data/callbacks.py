"""A Keras callback that reports skipped videos at the end of each epoch."""

import keras


class SkippedVideosReport(keras.callbacks.Callback):
    """Prints how many videos were skipped in the epoch, and which (nothing
    when none was).

    Args:
        *logs: `SkipLog` (video files) and/or `TFRecordSkips` objects, as
            returned by the dataset functions.
        print_fn: where the summary goes.

    Example:

    ```python
    train, skipped = data.video_dataset(videos)
    model.fit(train, callbacks=[data.SkippedVideosReport(skipped)])
    ```
    """

    def __init__(self, *logs, print_fn=print):
        super().__init__()
        self.logs = logs
        self.print_fn = print_fn
        self.history = []

    def on_epoch_end(self, epoch, logs=None):
        counts = [getattr(log, "count", 0) for log in self.logs]
        self.history.append(sum(counts))
        if logs is not None:
            logs["skipped_videos"] = sum(counts)
        for log in self.logs:
            if getattr(log, "count", 0):  # silent when nothing was skipped
                self.print_fn(f"epoch {epoch + 1}: {log.summary()}")
            if hasattr(log, "reset"):
                log.reset()
