"""Live progress of the demo's runs, and workers that end with their parent.

Each training run (in a worker process or in the demo's own) reports events
`(run, kind, step, loss)` through a callback; the demo's process turns them
into one status line every few seconds: runs done, each running run's step
and loss, elapsed time and an estimate of the time left.
"""

import os
import threading
import time

import keras

# Steps between two reports of a run (the demo's runs take 0.04-0.1 s a step).
REPORT_EVERY = 10


class ReportSteps(keras.callbacks.Callback):
    """Sends `(run, "step", step, loss)` every `REPORT_EVERY` steps to `send`.

    Args:
        run: the run's name, e.g. `"nl_c2d_r50 seed 0"`.
        send: a callable taking one event tuple (a queue's `put`, or a
            `Progress.update` in the same process).
    """

    def __init__(self, run, send):
        super().__init__()
        self.run, self.send = run, send
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step % REPORT_EVERY == 0:
            self.send((self.run, "step", self.step, float((logs or {}).get("loss", "nan"))))


class Progress:
    """Folds run events into status lines printed at most every `interval` s.

    Args:
        runs: the names of all runs.
        steps: training steps per run.
        print_fn: where the lines go.
        interval: seconds between two lines (an event that ends a run prints
            at once).
    """

    def __init__(self, runs, steps, print_fn=print, interval=10.0):
        self.runs, self.steps, self.print_fn, self.interval = list(runs), steps, print_fn, interval
        self.state = {}  # run -> (step, loss) while it trains
        self.done = []
        self.start = time.perf_counter()
        self.printed = -interval

    def update(self, event):
        run, kind, step, loss = event
        if kind in ("start", "step"):
            self.state[run] = (step, loss)
        elif kind == "testing":
            self.state[run] = (self.steps, None)
        elif kind == "done":
            self.state.pop(run, None)
            self.done.append(run)
        self.tick(force=kind == "done")

    def tick(self, force=False):
        """Prints the status line if `interval` seconds have passed."""
        now = time.perf_counter()
        if force or now - self.printed >= self.interval:
            self.printed = now
            self.print_fn(self.line(now))

    def line(self, now):
        elapsed = now - self.start
        finished = len(self.done) + sum(s / self.steps for s, _ in self.state.values())
        left = elapsed * (len(self.runs) / finished - 1) if finished else None
        running = "; ".join(_describe(run, step, loss, self.steps)
                            for run, (step, loss) in self.state.items())
        return (f"[{_clock(elapsed)}] runs done {len(self.done)}/{len(self.runs)}"
                f"{'; ' + running if running else ''}"
                f"{f'; about {_clock(left)} left' if left is not None else ''}")


def _describe(run, step, loss, steps):
    if loss is None:
        return f"{run} testing"
    if step == 0:
        return f"{run} building its graph"
    return f"{run} step {step}/{steps} loss {loss:.3f}"


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def exit_with_parent(poll=1.0):
    """Ends this process when its parent has gone (checked every `poll` s).

    A worker of a process pool otherwise runs on, orphaned, when the demo is
    killed (SIGKILL leaves the pool no chance to stop it): as PyTorch's
    DataLoader workers do, the worker watches its parent.
    """
    parent = os.getppid()

    def watch():
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()
