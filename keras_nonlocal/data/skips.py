"""The record of the videos a pipeline skipped (pure Python, any backend)."""

import logging
import threading

logger = logging.getLogger("keras_nonlocal.data")


class SkipLog:
    """Thread-safe record of the videos a pipeline skipped.

    Attributes:
        errors: path -> first error message.
        count: skip events since the last `reset()` (a bad file met in two
            epochs counts twice).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.errors = {}
        self.count = 0

    def add(self, path, message):
        if message.startswith(f"{path}: "):
            message = message[len(path) + 2:]
        with self._lock:
            self.count += 1
            first = path not in self.errors
            if first:
                self.errors[path] = message
        if first:
            logger.warning("skipping unreadable video %s: %s", path, message)

    def reset(self):
        with self._lock:
            self.count = 0

    def summary(self):
        with self._lock:
            if not self.errors:
                return "no video skipped"
            files = "\n  ".join(f"{p}: {m}" for p, m in sorted(self.errors.items()))
            return (f"skipped {self.count} clips from {len(self.errors)} unreadable "
                    f"videos:\n  {files}")
