"""What each source of weights expects of its input: the normalisation of RGB
frames in [0, 255] that its networks were trained with.

A model built with a source's weights records it in its clip
(`keras_nonlocal.Clip`), so every later use of the model normalises alike.
"""

from keras_nonlocal.clip import Clip

NORMALIZATIONS = {
    # keras.applications ResNet ImageNet weights: "caffe" style, BGR, mean
    # subtraction, no scaling. Also the default of a model built without weights.
    "caffe": dict(channel_order="BGR", mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)),
    # The original video-nonlocal-net release (Caffe2): RGB, (x - 114.75) / 57.375.
    "nonlocal_release": dict(channel_order="RGB", mean=(114.75,) * 3, std=(57.375,) * 3),
    # PySlowFast and pytorchvideo: RGB in [0, 1] normalised with mean 0.45,
    # std 0.225, the same numbers on the [0, 255] scale.
    "pyslowfast": dict(channel_order="RGB", mean=(114.75,) * 3, std=(57.375,) * 3),
    # mmaction2: RGB with the ImageNet mean and std.
    "mmaction2": dict(channel_order="RGB", mean=(123.675, 116.28, 103.53),
                      std=(58.395, 57.12, 57.375)),
}
NORMALIZATIONS["pytorchvideo"] = NORMALIZATIONS["pyslowfast"]
NORMALIZATIONS["imagenet"] = NORMALIZATIONS["caffe"]


def normalization(source):
    """The normalisation of `source`: a name of `NORMALIZATIONS`, a `Clip`, or
    a dict with `channel_order`, `mean` and `std`."""
    if isinstance(source, Clip):
        return source.normalization
    if isinstance(source, str):
        if source not in NORMALIZATIONS:
            raise ValueError(f"Unknown weights source; known: {', '.join(sorted(NORMALIZATIONS))}. "
                             f"Received: {source!r}")
        return dict(NORMALIZATIONS[source])
    if isinstance(source, dict) and {"channel_order", "mean", "std"} <= set(source):
        return {k: source[k] for k in ("channel_order", "mean", "std")}
    raise ValueError("A normalisation is a source name, a Clip or a dict with channel_order, "
                     f"mean and std. Received: {source!r}")


def kinetics400_classes():
    """The 400 Kinetics-400 class names, in the order of every published
    classifier (alphabetical: the original release's classids.json and
    mmaction2's label_map_k400.txt), shipped with the package."""
    import importlib.resources

    text = importlib.resources.files("keras_nonlocal.weights").joinpath(
        "kinetics400_classes.txt").read_text()
    return tuple(line for line in text.splitlines() if line)
