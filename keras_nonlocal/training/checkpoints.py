"""Training checkpoints: a `.keras` file (model, optimizer and the random state
of the step), written atomically, found by step, loaded whole.

Keras saves a model's weights and its optimizer, but not the state of its
random seed generators (dropout's); a run resumed from such a file draws
other dropout masks than the uninterrupted run would. The states travel in
the same file, as an extra entry of its zip archive that Keras ignores.
"""

import glob
import json
import os
import re
import zipfile

import keras
import numpy as np

CHECKPOINT = re.compile(r"ckpt-(\d{8})\.keras$")
RANDOM_STATE = "keras_nonlocal/random_state.json"


def checkpoints(folder):
    """Complete checkpoints in `folder`, newest first: `[(step, path)]`."""
    found = []
    for path in glob.glob(os.path.join(folder, "ckpt-*.keras")):
        match = CHECKPOINT.search(path)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def random_state_variables(model):
    """The seed-generator states of `model` (dropout's), in a fixed order:
    its variables that are not weights."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def save_checkpoint(model, path):
    """Saves `model` (and its optimizer and random state) to `path`, atomically:
    the file exists only once complete."""
    temporary = path + ".tmp.keras"
    model.save(temporary)
    states = [np.asarray(keras.ops.convert_to_numpy(v)).tolist()
              for v in random_state_variables(model)]
    with zipfile.ZipFile(temporary, "a") as archive:
        archive.writestr(RANDOM_STATE, json.dumps({"states": states}))
    os.replace(temporary, path)
    return path


def load_checkpoint(path, compile=True):
    """The model of a checkpoint with its random state restored.

    A checkpoint written by Keras alone (no random state) loads as Keras
    loads it.
    """
    model = keras.saving.load_model(path, compile=compile)
    with zipfile.ZipFile(path) as archive:
        if RANDOM_STATE not in archive.namelist():
            return model
        states = json.loads(archive.read(RANDOM_STATE))["states"]
    variables = random_state_variables(model)
    if len(states) != len(variables):
        raise ValueError(f"{path}: {len(states)} random states for {len(variables)} seed "
                         f"generators. Received: {path!r}")
    for variable, state in zip(variables, states):
        variable.assign(np.asarray(state).astype(variable.dtype))
    return model


class CheckpointWriter(keras.callbacks.Callback):
    """Atomic `.keras` checkpoints every epoch (= `checkpoint_every` steps);
    the newest `keep` are kept."""

    def __init__(self, folder, steps_per_epoch, keep):
        super().__init__()
        self.folder, self.steps_per_epoch, self.keep = folder, steps_per_epoch, keep
        self.failed = False

    def on_epoch_end(self, epoch, logs=None):
        if self.failed:
            return
        step = (epoch + 1) * self.steps_per_epoch
        path = save_checkpoint(self.model, os.path.join(self.folder, f"ckpt-{step:08d}.keras"))
        with open(os.path.join(self.folder, "latest.json.tmp"), "w") as f:
            json.dump({"step": step, "path": os.path.basename(path)}, f)
        os.replace(os.path.join(self.folder, "latest.json.tmp"),
                   os.path.join(self.folder, "latest.json"))
        for _, old in checkpoints(self.folder)[self.keep:]:
            os.remove(old)
