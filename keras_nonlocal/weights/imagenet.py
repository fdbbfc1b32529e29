"""ImageNet sources: keras.applications ResNets, downloaded and cached by Keras."""

import keras

from keras_nonlocal.clip import Normalization

# keras.applications' ResNets: "caffe" style, BGR, the ImageNet mean
# subtracted, no scaling. A model inflated from them records it.
IMAGENET_NORMALIZATION = Normalization("BGR", (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
# depth -> keras.applications builder. Keras downloads the weights once into
# ~/.keras/models (or $KERAS_HOME) and checks their published hash.
IMAGENET_SOURCES = {
    50: keras.applications.ResNet50,
    101: keras.applications.ResNet101,
}


def imagenet_resnet(depth):
    """The keras.applications ResNet of `depth` with its ImageNet weights.

    Raises:
        ValueError: if no ImageNet source exists for `depth`.
    """
    if depth not in IMAGENET_SOURCES:
        raise ValueError(
            f"No ImageNet weights exist for a ResNet-{depth} video model "
            f"(sources: ResNet-{', ResNet-'.join(map(str, IMAGENET_SOURCES))}). "
            f"Received: depth={depth}, weights='imagenet'"
        )
    return IMAGENET_SOURCES[depth](weights="imagenet", include_top=True)
