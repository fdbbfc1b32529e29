"""Training a zoo model from a recipe: resumable, distributed, logged.

`train(recipe)` runs `model.fit` in "epochs" of `checkpoint_every` steps over
an endless, seeded stream of clips. After each one a checkpoint (model and
optimizer, a `.keras` file) is written to a temporary name and renamed into
place, and the last `keep_checkpoints` are kept. A restarted run loads the
newest checkpoint that opens, skips the stream to the step it holds (no
decoding of the skipped clips) and goes on, so a job killed at any moment
ends with the weights an uninterrupted run would have.
"""

import contextlib
import dataclasses
import glob
import json
import logging
import math
import os
import warnings

import keras

from keras_nonlocal import data
from keras_nonlocal import keras_private
from keras_nonlocal import zoo
from keras_nonlocal.extras import require_tensorflow
from keras_nonlocal.models import freeze_batch_norm
from keras_nonlocal.optimizers import PaperSGD
from keras_nonlocal.optimizers import WarmupCosineDecay
from keras_nonlocal.training import distribution
from keras_nonlocal.training.checkpoints import CheckpointWriter
from keras_nonlocal.training.checkpoints import checkpoints
from keras_nonlocal.training.checkpoints import load_checkpoint
from keras_nonlocal.training.curves import plot_curves

logger = logging.getLogger("keras_nonlocal.training")


class NonFiniteLossError(RuntimeError):
    """Training stopped at a non-finite loss (the checkpoints before it kept)."""


def check_batch(global_batch, replicas):
    """The global batch must split evenly over the replicas."""
    if global_batch % replicas:
        raise ValueError(
            f"The global batch {global_batch} does not split over {replicas} replicas. "
            f"Received: batch_size={global_batch}")
    return global_batch // replicas


REFERENCE_BATCH = 64  # the paper's lr 0.01 is for 64 clips


def learning_rate(recipe):
    """The paper's schedule, scaled with the global batch."""
    peak = recipe.lr_at_batch_64 * recipe.batch_size / REFERENCE_BATCH
    if recipe.lr_schedule == "cosine":
        warmup = min(recipe.warmup_steps, recipe.steps - 1)
        return WarmupCosineDecay(
            initial_learning_rate=peak / 100 if warmup else peak,
            decay_steps=max(recipe.steps - warmup, 1),
            warmup_target=peak if warmup else None, warmup_steps=warmup)
    boundaries = sorted({int(f * recipe.steps) for f in recipe.lr_decay_at if 0 < f < 1})
    if not boundaries:
        return peak
    return keras.optimizers.schedules.PiecewiseConstantDecay(
        boundaries, [peak * 0.1**i for i in range(len(boundaries) + 1)])


def build_optimizer(recipe):
    return PaperSGD(
        learning_rate=learning_rate(recipe), momentum=recipe.momentum, nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay or None, clipnorm=recipe.clipnorm)


def read_data_source(recipe, training=True):
    """Checks and reads the train (or val) data of a recipe, without decoding.

    Returns `(source, class_names)`, `source` being a `VideoList` or a list
    of TFRecord files.
    """
    key = "train_data" if training else "val_data"
    path = getattr(recipe, key)
    if not path:
        raise ValueError(f"The recipe has no {key}. Received: {key}=None")
    if recipe.data_format == "tfrecord":
        files = sorted(glob.glob(path)) or sorted(glob.glob(os.path.join(path, "*.tfrecord")))
        if not files:
            raise ValueError(f"No TFRecord files at {path!r}. Received: {key}={path!r}")
        if recipe.num_classes is None:
            raise ValueError("TFRecord data needs `num_classes`. Received: num_classes=None")
        names = [str(i) for i in range(recipe.num_classes)]
        if recipe.class_names:
            names = data.read_class_names(recipe.class_names)
        return files, names
    if not os.path.exists(path):
        raise ValueError(f"Data path not found. Received: {key}={path!r}")
    videos = data.read_videos(path, root=recipe.data_root, class_names=recipe.class_names)
    if len(videos) == 0:
        raise ValueError(f"No videos in {path!r}. Received: 0 videos")
    if recipe.multi_label:
        videos.multi_label = True
    return videos, videos.class_names


def training_stream(recipe, source, clip, start_step=0, training=True):
    """The training stream of `clip` from `start_step` (or the 1-view
    validation set) over a source from `read_data_source`. Returns
    `(dataset, skip_log)`."""
    common = dict(batch_size=recipe.batch_size, seed=recipe.seed, drop_remainder=training)
    if training:
        common.update(repeat=True, skip=start_step * recipe.batch_size)
    else:
        clip = clip.replace(eval_clips=1, eval_crops=1)
    if isinstance(source, data.VideoList):
        return data.video_dataset(source, clip, training=training, **common)
    return data.tfrecord_dataset(source, recipe.num_classes, clip, training=training,
                                 multi_label=recipe.multi_label, **common)


def build_model(recipe, class_names):
    """The recipe's zoo model, recording the recipe's clip and class names."""
    kwargs = dict(classes=len(class_names), dropout=recipe.dropout,
                  sampling=recipe.sampling, publisher=recipe.publisher,
                  num_nonlocal=recipe.num_nonlocal, nonlocal_mode=recipe.nonlocal_mode,
                  classifier_activation="sigmoid" if recipe.multi_label else "softmax",
                  base_width=recipe.base_width, synchronized_bn=recipe.synchronized_bn,
                  clip=dict(recipe.clip_changes(), class_names=tuple(class_names)))
    model = zoo.build(recipe.model, weights=recipe.weights, **kwargs)
    if recipe.affine_bn and recipe.freeze_bn:
        raise ValueError("affine_bn trains the frozen batch norms' scale and bias, freeze_bn "
                         "fixes them: set one. Received: affine_bn=True, freeze_bn=True")
    if recipe.affine_bn:
        model = freeze_batch_norm(model)
    if recipe.freeze_bn:
        for layer in keras_private.all_layers(model):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False  # Keras 3: also runs it in inference mode
    return model


def compile_model(model, recipe):
    loss = (keras.losses.BinaryCrossentropy() if recipe.multi_label
            else keras.losses.SparseCategoricalCrossentropy())
    metrics = [] if recipe.multi_label else ["accuracy"]
    model.compile(build_optimizer(recipe), loss=loss, metrics=metrics,
                  jit_compile=jit_compile(recipe))
    if keras.backend.backend() == "tensorflow":
        # The optimizer's and metrics' variables made now: created inside
        # the first traced step, they make TensorFlow trace it a second time
        # (the demo's model: 20 s of tracing instead of 13, measured).
        clip = zoo.preprocessing_spec(model)
        shape = (1, clip.num_frames, clip.crop_size, clip.crop_size, 3)
        labels = (1, model.output.shape[-1]) if recipe.multi_label else (1,)
        keras_private.build_training_state(model, shape, labels)


def jit_compile(recipe):
    """What `model.compile` gets as `jit_compile`, per backend (measured).

    JAX: always `True`; without it Keras runs the step op by op, compiling
    each op on its own (a tiny recipe: 1,360 compilations, 7 s per step).
    TensorFlow: `"auto"`, which leaves XLA off on a CPU-only machine (XLA
    made the I3D / NL-I3D R50 training step 3.4x slower there), and `False`
    for `deterministic` runs (XLA's kernels are not all deterministic).
    """
    if keras.backend.backend() == "jax":
        return True
    return False if recipe.deterministic else "auto"


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first non-finite loss and remembers the step."""

    def __init__(self, steps_per_epoch, writer):
        super().__init__()
        self.steps_per_epoch, self.writer = steps_per_epoch, writer
        self.bad_step = None
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.bad_step = self.epoch * self.steps_per_epoch + batch + 1
            self.writer.failed = True
            self.model.stop_training = True


def _check_resumable(model, path, recipe, class_names):
    """A checkpoint resumes only the run it belongs to: same model, classes
    and, where the recipe sets them, clip settings."""
    if model.name != recipe.model or model.output.shape[-1] != len(class_names):
        raise ValueError(
            f"Checkpoint {path} holds {model.name} with {model.output.shape[-1]} classes, "
            f"the recipe trains {recipe.model} with {len(class_names)}. Received: output_dir="
            f"{recipe.output_dir!r}")
    clip = zoo.preprocessing_spec(model)
    differ = {k: (getattr(clip, k), v) for k, v in recipe.clip_changes().items()
              if getattr(clip, k) != v}
    if differ:
        shown = ", ".join(f"{k}={new} (checkpoint: {old})" for k, (old, new) in differ.items())
        raise ValueError(f"Checkpoint {path} was trained on another clip than the recipe's: "
                         f"{shown}. Received: output_dir={recipe.output_dir!r}")


def train(recipe, verbose="auto", callbacks=()):
    """Trains `recipe` (a `Recipe`); returns a summary dict.

    Prepares the run (placement, seeds, the run folder), resumes from its
    newest checkpoint or builds the model, fits, and writes the outputs
    (curves, classes). A global mixed-precision policy the recipe sets is
    restored afterwards.

    Args:
        recipe: a `Recipe` (see `training.load_recipe`).
        verbose: as `Model.fit`'s; 0 also leaves out the first line (the
            model and where it trains), for callers that print their own.
        callbacks: more Keras callbacks for `fit` (after the package's own:
            checkpoints, CSV log, TensorBoard).

    Raises:
        ValueError: bad settings, missing data, an empty dataset, a batch that
            does not split over the replicas, or a checkpoint of another model,
            all before the first step.
        NonFiniteLossError: a non-finite loss (the message names the step; the
            checkpoints written before it are kept).
    """
    require_tensorflow("training (its tf.data pipelines)")
    recipe, placement = _prepare(recipe, verbose)
    with _precision(recipe.mixed_precision), _op_determinism(recipe.deterministic):
        with placement.scope():
            source, class_names = read_data_source(recipe)  # checked before any step
            model, start_step, resumed_from = _resume_or_build(recipe, class_names)
        stopper = _fit(model, recipe, placement, source, start_step, resumed_from, verbose,
                       callbacks)
    return _write_outputs(model, recipe, class_names, stopper, resumed_from, start_step)


def _prepare(recipe, verbose):
    """Places the run, seeds it, makes its folder; returns `(recipe, placement)`
    (a worker's recipe writes to its own sub-folder)."""
    if recipe.steps % recipe.checkpoint_every:
        raise ValueError(
            f"`steps` must be a multiple of `checkpoint_every`. Received: steps={recipe.steps}, "
            f"checkpoint_every={recipe.checkpoint_every}")
    # First: jax.distributed must start before anything touches a JAX device.
    placement = distribution.place(recipe.strategy, recipe.model_shards)
    keras.utils.set_random_seed(recipe.seed)
    if verbose != 0:
        print(f"training {recipe.model} on {placement.describe()}", flush=True)
    check_batch(recipe.batch_size, placement.replicas)
    worker = placement.worker_name()
    if worker:
        # Every worker saves (saving reads distributed variables together);
        # only the chief's files are the run's, the others go to a sub-folder.
        recipe = dataclasses.replace(recipe, output_dir=os.path.join(recipe.output_dir, worker))
    os.makedirs(os.path.join(recipe.output_dir, "checkpoints"), exist_ok=True)
    with open(os.path.join(recipe.output_dir, "recipe.json"), "w") as f:
        json.dump(vars(recipe), f, indent=1)
    return recipe, placement


@contextlib.contextmanager
def _precision(mixed_precision):
    """The recipe's mixed-precision policy while the run builds and trains."""
    previous = keras.config.dtype_policy()
    if mixed_precision != "float32":
        keras.config.set_dtype_policy(f"mixed_{mixed_precision}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def _op_determinism(deterministic):
    """TensorFlow's op determinism while a `deterministic` run trains, and
    as it was after: left on, it would make every later unseeded random op
    in the process raise."""
    if not deterministic or keras.backend.backend() != "tensorflow":
        yield
        return
    tf = require_tensorflow("training")
    was_on = keras_private.op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if not was_on:
            keras_private.disable_op_determinism()


def _resume_or_build(recipe, class_names):
    """`(model, start_step, resumed_from)`: the newest checkpoint of the run
    that opens, or a new compiled model."""
    folder = os.path.join(recipe.output_dir, "checkpoints")
    for step, path in checkpoints(folder):
        try:
            model = load_checkpoint(path)
        except Exception as error:  # noqa: BLE001 -- an unreadable file: try an older one
            logger.warning("cannot load checkpoint %s (%s); trying an older one", path, error)
            continue
        _check_resumable(model, path, recipe, class_names)
        message = f"resuming from {path} at step {step} of {recipe.steps}"
        logger.warning(message)
        print(message, flush=True)
        return model, step, path
    model = build_model(recipe, class_names)
    compile_model(model, recipe)
    return model, 0, None


def _fit(model, recipe, placement, source, start_step, resumed_from, verbose, extra=()):
    """Runs `fit` from `start_step` to `recipe.steps`; returns the stopper."""
    clip = zoo.preprocessing_spec(model)
    dataset, skip_log = training_stream(recipe, source, clip, start_step)
    validation = None
    if recipe.val_data:
        validation, _ = training_stream(recipe, read_data_source(recipe, training=False)[0],
                                        clip, training=False)
    writer = CheckpointWriter(os.path.join(recipe.output_dir, "checkpoints"),
                              recipe.checkpoint_every, recipe.keep_checkpoints)
    stopper = StopOnNonFiniteLoss(recipe.checkpoint_every, writer)
    callbacks = [
        stopper, writer,
        keras.callbacks.CSVLogger(os.path.join(recipe.output_dir, "log.csv"),
                                  append=bool(resumed_from)),
        keras.callbacks.TensorBoard(os.path.join(recipe.output_dir, "tensorboard")),
        data.SkippedVideosReport(skip_log),
        *extra,
    ]
    if placement.strategy is not None:
        from keras_nonlocal.training.strategy import prepare_fit

        prepare_fit(model, dataset, placement.strategy)
    with warnings.catch_warnings():
        # The training stream is endless; only the validation set, read to
        # its end after every epoch, "runs out of data", as it should.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        model.fit(dataset, epochs=recipe.steps // recipe.checkpoint_every,
                  initial_epoch=start_step // recipe.checkpoint_every,
                  steps_per_epoch=recipe.checkpoint_every, validation_data=validation,
                  callbacks=callbacks, verbose=verbose, shuffle=False)  # the stream is shuffled
    return stopper


def _write_outputs(model, recipe, class_names, stopper, resumed_from, start_step):
    folder = os.path.join(recipe.output_dir, "checkpoints")
    csv_path = os.path.join(recipe.output_dir, "log.csv")
    if os.path.exists(csv_path) and os.path.getsize(csv_path):
        plot_curves({recipe.model: csv_path}, os.path.join(recipe.output_dir, "curves.png"),
                    recipe.checkpoint_every, x_label="step")
    with open(os.path.join(recipe.output_dir, "classes.txt"), "w") as f:
        f.write("\n".join(class_names) + "\n")
    if stopper.bad_step is not None:
        kept = checkpoints(folder)
        raise NonFiniteLossError(
            f"Non-finite loss at step {stopper.bad_step}; training stopped. Last good checkpoint: "
            f"{kept[0][1] if kept else 'none'}")
    return {"model": model, "resumed_from": resumed_from, "start_step": start_step,
            "checkpoints": checkpoints(folder), "output_dir": recipe.output_dir}
