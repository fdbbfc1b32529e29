"""Where a training run runs: the recipe's `strategy` on the active backend.

TensorFlow: a `tf.distribute` strategy (`training/strategy.py`). JAX: Keras'
own distribution API (`keras.distribution`): data parallel over the local
devices, model + data sharding with a layout map, several processes through
`jax.distributed` (`keras.distribution.initialize`). A choice that does not
exist on the active backend stops the run at start-up, naming both.

Every run says in its first line which backend, strategy or distribution,
devices and processes it trains on (`Placement.describe()`).
"""

import contextlib
import os

import keras

from keras_nonlocal.cache import keras_home

CHOICES = {
    "tensorflow": ("auto", "default", "mirrored", "multiworker", "tpu"),
    "jax": ("auto", "default", "data_parallel", "model_parallel", "multihost"),
    "torch": ("auto", "default"),
}
# JAX multi-host: the environment keras.distribution.initialize() reads.
JAX_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
           "KERAS_DISTRIBUTION_PROCESS_ID")


def check_strategy(name, backend=None):
    """A ValueError at start-up for a strategy the active backend lacks."""
    backend = backend or keras.backend.backend()
    if name in CHOICES.get(backend, ()):
        return name
    others = [b for b, names in CHOICES.items() if name in names]
    where = f" (a {', '.join(others)} choice)" if others else ""
    raise ValueError(f"`strategy={name!r}`{where} does not exist on the {backend} backend, whose "
                     f"choices are {', '.join(CHOICES.get(backend, ()))}. Received: "
                     f"strategy={name!r}, KERAS_BACKEND={backend!r}")


class Placement:
    """What a run trains on: the backend, the strategy or distribution, the
    devices and processes, and how a batch splits over them."""

    def __init__(self, backend, kind, devices, processes=1, process_id=0, strategy=None,
                 distribution=None):
        self.backend, self.kind, self.devices = backend, kind, devices
        self.processes, self.process_id = processes, process_id
        self.strategy, self.distribution = strategy, distribution

    @property
    def replicas(self):
        """How many parts a global batch splits into (data-parallel replicas)."""
        if self.strategy is not None:
            return self.strategy.num_replicas_in_sync
        if self.distribution is not None:
            mesh = self.distribution.device_mesh
            return mesh.shape[mesh.axis_names.index("batch")] if "batch" in mesh.axis_names \
                else len(self.devices)
        return 1

    def worker_name(self):
        """'' for the process that writes the run folder, else `worker-N`."""
        if self.strategy is not None:
            from keras_nonlocal.training.strategy import worker_name

            return worker_name(self.strategy)
        return f"worker-{self.process_id}" if self.process_id else ""

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self):
        devices = {}
        for device in self.devices:
            devices[device] = devices.get(device, 0) + 1
        shown = ", ".join(f"{n} {d}" for d, n in devices.items())
        process = f", process {self.process_id} of {self.processes}" if self.processes > 1 else ""
        return (f"backend {self.backend}, {self.kind}, {len(self.devices)} device(s) ({shown})"
                f"{process}, global batch split {self.replicas} way(s)")


def place(name="auto", model_shards=2):
    """The `Placement` of a strategy name on the active backend.

    TensorFlow: see `training.make_strategy`. JAX: `"auto"` is data parallel
    when more than one device is visible, else one device (`"default"`);
    `"data_parallel"`: `keras.distribution.DataParallel` over every local
    device; `"model_parallel"`: `ModelParallel` on a (batch, model) mesh with
    `model_shards` devices per model, convolution and dense kernels split on
    their output channels; `"multihost"`: `keras.distribution.initialize()`
    from `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator first),
    `..._NUM_PROCESSES` and `..._PROCESS_ID`, then data parallel over every
    device of every process. torch: one device.
    """
    backend = keras.backend.backend()
    check_strategy(name, backend)
    if backend == "tensorflow":
        from keras_nonlocal.training.strategy import describe_devices
        from keras_nonlocal.training.strategy import make_strategy

        strategy = make_strategy(name)
        kind, devices, processes, process_id = describe_devices(strategy)
        return Placement(backend, kind, devices, processes, process_id, strategy=strategy)
    if backend == "jax":
        return _place_jax(name, model_shards)
    import torch

    return Placement(backend, "one device", ["cuda" if torch.cuda.is_available() else "cpu"])


def _place_jax(name, model_shards):
    import jax

    enable_compilation_cache()
    distribution = keras.distribution
    if name == "multihost":
        missing = [k for k in JAX_ENV if not os.environ.get(k)]
        if missing:
            raise ValueError(f"strategy='multihost' needs {', '.join(missing)} (the coordinator "
                             f"address first, the number of processes, this one's id). "
                             f"Received: strategy='multihost'")
        # CPU collectives across processes (GPUs and TPUs bring their own);
        # asking which backend runs would start it before jax.distributed.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        distribution.initialize()
    devices = jax.devices()
    kinds = [d.platform for d in devices]
    processes, process_id = jax.process_count(), jax.process_index()
    if name == "auto":
        name = "data_parallel" if len(devices) > 1 else "default"
    if name == "default":
        distribution.set_distribution(None)
        return Placement("jax", "one device", kinds[:1])
    if name in ("data_parallel", "multihost"):
        dist = distribution.DataParallel(devices=devices)
        distribution.set_distribution(dist)
        kind = "keras.distribution.DataParallel" + (" over processes" if processes > 1 else "")
        return Placement("jax", kind, kinds, processes, process_id, distribution=dist)
    if len(devices) % model_shards:
        raise ValueError(f"{len(devices)} devices do not split into models of {model_shards}. "
                         f"Received: model_shards={model_shards}")
    mesh = distribution.DeviceMesh((len(devices) // model_shards, model_shards),
                                   ["batch", "model"], devices)
    layout = distribution.LayoutMap(mesh)
    layout[r".*_conv/kernel"] = (None, None, None, None, "model")  # Conv3D (T, H, W, in, out)
    layout[r".*_nonlocal/(theta|phi|g|out)/kernel"] = (None, "model")  # Dense (in, out)
    layout[r"predictions/kernel"] = (None, "model")
    dist = distribution.ModelParallel(layout_map=layout, batch_dim_name="batch")
    distribution.set_distribution(dist)
    return Placement("jax", f"keras.distribution.ModelParallel ({model_shards} devices per model)",
                     kinds, processes, process_id, distribution=dist)


def enable_compilation_cache():
    """On JAX, compiled programs kept on disk (`$KERAS_HOME/jax_cache`, unless
    `JAX_COMPILATION_CACHE_DIR` says otherwise): a resumed or repeated run, or
    a later `evaluate`, skips compiling its steps (8 s for the tests' tiny
    NL-C2D train step on this CPU; minutes for an R50 on a GPU) and the
    per-shape initializer programs of a model build. Training and the
    command line turn it on; elsewhere it is yours to call."""
    if keras.backend.backend() != "jax" or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", os.path.join(keras_home(), "jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
