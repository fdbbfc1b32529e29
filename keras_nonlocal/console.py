"""What a terminal shows: the program's own words, a warning when something
is wrong, and the rest only on request.

TensorFlow prints C++ log lines (oneDNN notices at import, optimizer
"remapper failed" errors while tracing) that say nothing to a user. When
the `keras-nonlocal` command runs (and `--verbose` is not given, and the
user has not set `TF_CPP_MIN_LOG_LEVEL`), `quiet_tensorflow()` raises
TensorFlow's C++ log threshold and marks the process (and the worker
processes it starts) so that `import_keras()` hides the lines TensorFlow
writes before its logging starts ("All log messages before
absl::InitializeLog()", "I0000 ..."). This has to happen before Keras is
imported, which `import keras_nonlocal` does (to register its layers), so
the package's `__init__` calls `configure()` first. A Python program that
imports the package is left as TensorFlow makes it.
"""

import os
import re
import sys
import tempfile

QUIET = "KERAS_NONLOCAL_QUIET"
# A C++ log line of TensorFlow / absl: "I0000 00:00:1796003973.359 2523 port.cc:153] ..."
CPP_LOG_LINE = re.compile(rb"^[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called"


def running_cli(argv=None):
    """Whether this process is the `keras-nonlocal` command (the console
    script, or `python -m keras_nonlocal.cli`) run without `--verbose`.

    Args:
        argv: the interpreter's command line (default `sys.orig_argv`).
    """
    argv = list(sys.orig_argv if argv is None else argv)
    script = "keras-nonlocal" in [os.path.basename(a) for a in argv[:2]]
    module = "-m" in argv[:-1] and argv[argv.index("-m") + 1] in ("keras_nonlocal.cli",
                                                                  "keras_nonlocal")
    return (script or module) and "--verbose" not in argv


def configure():
    """Called on `import keras_nonlocal`: quiet TensorFlow for the command line."""
    if running_cli():
        quiet_tensorflow()


def quiet_tensorflow():
    """Quiet TensorFlow's C++ logs in this process and the ones it starts,
    unless the user set `TF_CPP_MIN_LOG_LEVEL` themselves."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ[QUIET] = "1"


def is_noise(line):
    """Whether a line of stderr (bytes) is one of TensorFlow's C++ log lines."""
    return bool(CPP_LOG_LINE.match(line)) or line.startswith(ABSL_PREAMBLE)


def import_keras():
    """`import keras`; in a quiet process, with TensorFlow's start-up lines
    filtered out of stderr (everything else it writes is passed on).

    TensorFlow is imported there too when it is installed: on the JAX and
    PyTorch backends it is the data pipelines' engine, imported later.
    """
    if os.environ.get(QUIET) != "1" or "keras" in sys.modules:
        import keras

        return keras
    import importlib.util

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras

            if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow"):
                import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().splitlines(keepends=True)
                    if not is_noise(line)]
            if kept:
                os.write(2, b"".join(kept))
    return keras
