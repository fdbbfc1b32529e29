"""Initialisation: every projection of a block draws its own values.

Keras 3 initializers hold their seed, so one instance handed to theta, phi
and g filled them with the same matrix (a defect of wave 1: every block of
`nl_c2d_r50` started with theta == phi == g). The paper and the release draw
them independently, N(0, 0.01).
"""

import itertools

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import NonLocal1D, NonLocal2D, NonLocal3D, zoo
from keras_nonlocal.layers import NonLocalBase

MODES = ["gaussian", "embedded_gaussian", "dot_product", "concatenation"]
PROJECTIONS = ("theta", "phi", "g")


def _kernels(layer):
    names = [n for n in PROJECTIONS if getattr(layer, n, None) is not None]
    return {n: to_numpy(getattr(layer, n).kernel) for n in names}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("initializer", [None, "glorot_uniform", "he_normal"])
def test_projections_differ_pairwise(mode, initializer):
    kwargs = {} if initializer is None else {"kernel_initializer": initializer}
    for cls, shape in [(NonLocal1D, (1, 8, 16)), (NonLocal2D, (1, 4, 4, 16)),
                       (NonLocal3D, (1, 2, 4, 4, 16))]:
        layer = cls(mode=mode, **kwargs)
        layer.build(shape)
        kernels = _kernels(layer)
        if mode == "concatenation":  # w_f, the same length as [theta, phi]
            kernels["w_f"] = to_numpy(layer.concat_project.kernel)
        for (a, ka), (b, kb) in itertools.combinations(kernels.items(), 2):
            if ka.shape == kb.shape:
                assert not np.allclose(ka, kb), f"{cls.__name__} {mode}: {a} == {b}"


def test_default_is_the_release_normal_within_sampling_error():
    """N(0, 0.01): each kernel's mean and std, over 512 x 256 draws, within
    5 standard errors of the initializer's (se(mean) = 0.01 / sqrt(n),
    se(std) ~ 0.01 / sqrt(2n))."""
    layer = NonLocal3D()
    layer.build((1, 2, 4, 4, 512))
    for name, kernel in _kernels(layer).items():
        n = kernel.size
        assert abs(kernel.mean()) < 5 * 0.01 / np.sqrt(n), name
        assert abs(kernel.std() - 0.01) < 5 * 0.01 / np.sqrt(2 * n), name
    assert np.all(to_numpy(layer.out.kernel) != 0)  # W_z is drawn too; BN's gamma is 0


def test_two_blocks_built_in_a_row_differ():
    first, second = NonLocal3D(), NonLocal3D()
    first.build((1, 2, 4, 4, 16))
    second.build((1, 2, 4, 4, 16))
    for name in PROJECTIONS:
        assert not np.allclose(_kernels(first)[name], _kernels(second)[name]), name


def test_set_random_seed_makes_a_build_reproducible():
    def build():
        keras.utils.set_random_seed(7)
        layer = NonLocal3D()
        layer.build((1, 2, 4, 4, 16))
        return _kernels(layer)

    a, b = build(), build()
    for name in PROJECTIONS:
        np.testing.assert_array_equal(a[name], b[name])


def test_a_seeded_initializer_stays_reproducible_and_still_independent():
    def build():
        layer = NonLocal3D(kernel_initializer=keras.initializers.RandomNormal(0.0, 0.01, seed=3))
        layer.build((1, 2, 4, 4, 16))
        return _kernels(layer)

    a, b = build(), build()
    for name in PROJECTIONS:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.allclose(a["theta"], a["phi"]) and not np.allclose(a["phi"], a["g"])


def test_every_block_of_a_zoo_model_starts_independent():
    model = zoo.nl_c2d_r50(base_width=8, classes=2, input_shape=(4, 32, 32, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, NonLocalBase)]
    assert len(blocks) == 5
    seen = []
    for block in blocks:
        kernels = _kernels(block)
        for a, b in itertools.combinations(PROJECTIONS, 2):
            assert not np.allclose(kernels[a], kernels[b]), (block.name, a, b)
        for other in seen:
            if other.shape == kernels["theta"].shape:
                assert not np.allclose(other, kernels["theta"]), block.name
        seen.append(kernels["theta"])
