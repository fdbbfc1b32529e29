"""Output parity with a real external implementation: pytorchvideo 0.1.5's
`NonLocal` (both of its instantiations), its weights copied into ours."""

import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import NonLocal3D

torch = pytest.importorskip("torch")
nonlocal_net = pytest.importorskip("pytorchvideo.layers.nonlocal_net")

# pytorchvideo "softmax" = embedded Gaussian with the 1/sqrt(d) scale,
# "dot_product" = dot product with C = number of (pooled) key positions.
INSTANTIATIONS = {"softmax": "embedded_gaussian", "dot_product": "dot_product"}


def copy_weights(reference, layer):
    def kernel(conv):
        return conv.weight.detach().numpy()[:, :, 0, 0, 0].T

    for ours, theirs in [("theta", reference.conv_theta), ("phi", reference.conv_phi),
                         ("g", reference.conv_g), ("out", reference.conv_out)]:
        getattr(layer, ours).set_weights([kernel(theirs), theirs.bias.detach().numpy()])
    norm = reference.norm
    layer.bn.set_weights([t.detach().numpy() for t in (
        norm.weight, norm.bias, norm.running_mean, norm.running_var)])


@pytest.mark.parametrize("instantiation", sorted(INSTANTIATIONS))
@pytest.mark.parametrize("pool_size", [(1, 2, 2), (1, 1, 1), (2, 2, 2)])
def test_matches_pytorchvideo(rng, instantiation, pool_size):
    torch.manual_seed(int(rng.integers(2**31)))
    channels, inner = 16, 8
    reference = nonlocal_net.create_nonlocal(
        dim_in=channels, dim_inner=inner, pool_size=pool_size,
        instantiation=instantiation,
    )
    with torch.no_grad():  # non-trivial weights everywhere, BN included
        for p in reference.parameters():
            p.normal_(0.0, 0.3)
        reference.norm.running_mean.normal_(0.0, 0.3)
        reference.norm.running_var.uniform_(0.5, 2.0)
    reference.eval()
    x = rng.normal(size=(2, channels, 4, 7, 6)).astype("float32")  # N, C, T, H, W
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()

    layer = NonLocal3D(
        mode=INSTANTIATIONS[instantiation], inner_channels=inner,
        pool_size=pool_size, pool_position="before", scale=True,
    )
    x_keras = np.transpose(x, (0, 2, 3, 4, 1))
    layer.build(x_keras.shape)
    copy_weights(reference, layer)
    actual = np.transpose(to_numpy(layer(x_keras, training=False)), (0, 4, 1, 2, 3))
    np.testing.assert_allclose(actual, expected, atol=2e-5, rtol=2e-4)
