"""Image networks with the paper's non-local block (section 6).

keras.applications' ResNet-50 / ResNet-101 with one `NonLocal2D` right
before the last residual block of res4 (after `conv4_block5_out` /
`conv4_block22_out`), where the paper adds it to Mask R-CNN's backbone
(Table 5: +1.0 box AP and +0.9 mask AP on COCO with R50, +1.3 / +1.1 with
R101; the paper's numbers, not measured here). Inputs and outputs are
keras.applications': images `(batch, H, W, 3)` preprocessed with
`keras.applications.resnet.preprocess_input` (caffe BGR).
"""

import keras

from keras_nonlocal.models.insertion import block_name
from keras_nonlocal.models.insertion import insert_nonlocal
from keras_nonlocal.models.video_resnet import nonlocal_after
from keras_nonlocal.weights.imagenet import imagenet_weights_file
from keras_nonlocal.zoo.registry import register

APPLICATIONS = {50: "ResNet50", 101: "ResNet101"}


def _nl_resnet(depth, name, include_top, weights, input_shape, pooling, classes,
               classifier_activation, nonlocal_mode, nonlocal_kwargs):
    application = getattr(keras.applications, APPLICATIONS[depth])
    if weights == "imagenet":
        if include_top and classes != 1000:
            raise ValueError("The ImageNet classifier has 1000 classes; for another size use "
                             f"include_top=False. Received: classes={classes}")
        weights = imagenet_weights_file(APPLICATIONS[depth], include_top)
    base = application(include_top=include_top, weights=weights, input_shape=input_shape,
                       pooling=pooling, classes=classes,
                       classifier_activation=classifier_activation)
    model = insert_nonlocal(base, nonlocal_after(depth, 1),
                            **{"mode": nonlocal_mode, **(nonlocal_kwargs or {})})
    return keras.Model(model.input, model.output, name=name)


_DOC = """keras.applications' {app} with the paper's non-local block before the
    last residual block of res4 (after `{after}`, a `NonLocal2D` on 1024
    channels named `{block}`).

    Args:
        include_top, weights, input_shape, pooling, classes,
            classifier_activation: as keras.applications' `{app}`, except
            that `weights` defaults to None (random; `"imagenet"` downloads
            keras.applications' ImageNet weights, the block an identity
            until trained).
        nonlocal_mode: the block's pairwise function (`"embedded_gaussian"`).
        nonlocal_kwargs: further `NonLocal2D` arguments (`pool_size`, ...).
        name: the model's name.

    Returns:
        A functional `keras.Model` of images `(batch, H, W, 3)` preprocessed
        with `keras.applications.resnet.preprocess_input`.

    Example:

    ```python
    model = zoo.nl_resnet50(weights="imagenet", classes=1000)
    model.get_layer("{block}")
    ```
"""


@register(depth=50, inflate=None, num_nonlocal=1, kind="image")
def nl_resnet50(include_top=True, weights=None, input_shape=None, pooling=None, classes=1000,
                classifier_activation="softmax", nonlocal_mode="embedded_gaussian",
                nonlocal_kwargs=None, name="nl_resnet50"):
    return _nl_resnet(50, name, include_top, weights, input_shape, pooling, classes,
                      classifier_activation, nonlocal_mode, nonlocal_kwargs)


@register(depth=101, inflate=None, num_nonlocal=1, kind="image")
def nl_resnet101(include_top=True, weights=None, input_shape=None, pooling=None, classes=1000,
                 classifier_activation="softmax", nonlocal_mode="embedded_gaussian",
                 nonlocal_kwargs=None, name="nl_resnet101"):
    return _nl_resnet(101, name, include_top, weights, input_shape, pooling, classes,
                      classifier_activation, nonlocal_mode, nonlocal_kwargs)


for _builder, _depth in ((nl_resnet50, 50), (nl_resnet101, 101)):
    _after = nonlocal_after(_depth, 1)[0]
    _builder.__doc__ = _DOC.format(app=APPLICATIONS[_depth], after=_after,
                                   block=block_name(_after))
