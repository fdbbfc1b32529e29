"""The Kinetics-400 class names, shipped with the package."""

import functools
import importlib.resources


@functools.lru_cache(maxsize=1)
def kinetics400_classes():
    """The 400 Kinetics-400 class names, in the order of every published
    classifier (alphabetical: the original release's classids.json and
    mmaction2's label_map_k400.txt)."""
    text = importlib.resources.files("keras_nonlocal.weights").joinpath(
        "kinetics400_classes.txt").read_text()
    return tuple(line for line in text.splitlines() if line)
