"""The model zoo: C2D, I3D and non-local video ResNets, and NL image ResNets, by name.

Example:

```python
from keras_nonlocal import zoo

zoo.list_models()                                 # every name; list_models("image"): NL-ResNets
model = zoo.nl_i3d_r50(weights="kinetics400")     # the paper's NL I3D, 74.9 top-1
zoo.list_weights("nl_i3d_r50")                    # every preset: source, clip, accuracy, licence
model = zoo.nl_i3d_r50(weights="imagenet", classes=400)
model = zoo.i3d_r50(sampling="8x8", publisher="pytorchvideo")  # pytorchvideo's network
zoo.preprocessing_spec(model)          # the Clip it records
zoo.PUBLISHERS["pytorchvideo"]         # whose network: strides, pools, blocks, normalisation
zoo.summary("c2d_r101", input_frames=32, input_size=224)
features = zoo.feature_model(model)    # (batch, 2048): the pooled res5 features
```
"""

from keras_nonlocal.zoo.builders import build
from keras_nonlocal.zoo.builders import c2d_r14
from keras_nonlocal.zoo.builders import c2d_r50
from keras_nonlocal.zoo.builders import c2d_r101
from keras_nonlocal.zoo.builders import i3d_r50
from keras_nonlocal.zoo.builders import i3d_r101
from keras_nonlocal.zoo.builders import inflate_from
from keras_nonlocal.zoo.builders import nl_c2d_r14
from keras_nonlocal.zoo.builders import nl_c2d_r50
from keras_nonlocal.zoo.builders import nl_c2d_r101
from keras_nonlocal.zoo.builders import nl_i3d_r50
from keras_nonlocal.zoo.builders import nl_i3d_r101
from keras_nonlocal.zoo.builders import nonlocal_layers
from keras_nonlocal.zoo.describe import preprocess_input
from keras_nonlocal.zoo.describe import preprocessing_spec
from keras_nonlocal.zoo.describe import resolve_clip
from keras_nonlocal.zoo.describe import summary
from keras_nonlocal.zoo.feature_model import feature_model
from keras_nonlocal.zoo.images import nl_resnet50
from keras_nonlocal.zoo.images import nl_resnet101
from keras_nonlocal.zoo.presets import PRESETS
from keras_nonlocal.zoo.presets import WeightsPreset
from keras_nonlocal.zoo.presets import list_weights
from keras_nonlocal.zoo.presets import register_preset
from keras_nonlocal.zoo.publishers import PUBLISHERS
from keras_nonlocal.zoo.publishers import SAMPLINGS
from keras_nonlocal.zoo.publishers import Publisher
from keras_nonlocal.zoo.publishers import TimeAxis
from keras_nonlocal.zoo.publishers import register_publisher
from keras_nonlocal.zoo.registry import list_models
from keras_nonlocal.zoo.registry import model_info

__all__ = ["PRESETS", "PUBLISHERS", "Publisher", "SAMPLINGS", "TimeAxis", "WeightsPreset", "build",
           "c2d_r101", "c2d_r14", "c2d_r50", "feature_model", "i3d_r101", "i3d_r50", "inflate_from",
           "list_models", "list_weights", "model_info", "nl_c2d_r101", "nl_c2d_r14", "nl_c2d_r50",
           "nl_i3d_r101", "nl_i3d_r50", "nl_resnet101", "nl_resnet50", "nonlocal_layers",
           "preprocess_input", "preprocessing_spec", "register_preset", "register_publisher",
           "resolve_clip", "summary"]
