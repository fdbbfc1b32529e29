"""The one definition of the Keras cache folder this package writes to.

Keras fixes its own folder (`keras.utils.get_file`'s default) when it is
imported; the package reads `$KERAS_HOME` each time instead, so a folder set
after `import keras` is honoured, and passes the folder to `get_file`
explicitly: a download lands, and a failed one is cleaned up, in the folder
the package then reads.
"""

import os


def keras_home():
    """`$KERAS_HOME`, else `~/.keras` (read at call time)."""
    return os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")


def models_dir():
    """Where weights files are cached: `keras_home()/models`."""
    return os.path.join(keras_home(), "models")
