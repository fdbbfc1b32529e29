"""ImageNet sources: keras.applications ResNets, downloaded and cached by Keras."""

import keras

from keras_nonlocal.cache import keras_home
from keras_nonlocal.clip import Normalization

# keras.applications' ResNets: "caffe" style, BGR, the ImageNet mean
# subtracted, no scaling. A model inflated from them records it.
IMAGENET_NORMALIZATION = Normalization("BGR", (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
# depth -> keras.applications builder.
IMAGENET_SOURCES = {
    50: keras.applications.ResNet50,
    101: keras.applications.ResNet101,
}
# keras.applications' ResNet ImageNet files: where Keras publishes them and
# the MD5 Keras checks them by (keras/src/applications/resnet.py), with the
# classifier (include_top) and without.
IMAGENET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
IMAGENET_FILES = {
    ("ResNet50", True): ("resnet50_weights_tf_dim_ordering_tf_kernels.h5",
                         "2cb95161c43110f7111970584f804107"),
    ("ResNet50", False): ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                          "4d473c1dd8becc155b73f8504c6f6626"),
    ("ResNet101", True): ("resnet101_weights_tf_dim_ordering_tf_kernels.h5",
                          "f1aeb4b969a6efcfb50fad2f0c20cfc5"),
    ("ResNet101", False): ("resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
                           "88cf7a10940856eca736dc7b7e228a21"),
}


def imagenet_weights_file(application, include_top):
    """The ImageNet weights file of keras.applications' `application`
    (`"ResNet50"`, `"ResNet101"`), downloaded once and checked, in the Keras
    cache folder read at call time (`cache.models_dir()`, as the presets):
    Keras' own `weights="imagenet"` uses the folder it fixed at import."""
    name, digest = IMAGENET_FILES[(application, bool(include_top))]
    return keras.utils.get_file(name, IMAGENET_URL + name, cache_dir=keras_home(),
                                cache_subdir="models", file_hash=digest)


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
    application = IMAGENET_SOURCES[depth]
    return application(weights=imagenet_weights_file(application.__name__, True),
                       include_top=True)
