"""Classical fusion baselines: values, shapes (odd sizes too) and the pyramid's detail rule."""

import numpy as np
import pytest

from tf_irgan import baselines
from tf_irgan.errors import UserError
from tf_irgan.images import read_image, to_gray
from tf_irgan.metrics import spatial_frequency


def _random_pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random(shape).astype(np.float32), rng.random(shape).astype(np.float32)


def test_registry_names():
    assert baselines.METHODS == {
        "average": baselines.average,
        "max": baselines.maximum,
        "laplacian": baselines.laplacian_pyramid,
    }


def test_average_and_maximum_values():
    vis = np.array([[0.0, 0.2], [1.0, 0.6]], dtype=np.float32)
    ir = np.array([[1.0, 0.4], [0.0, 0.6]], dtype=np.float32)
    np.testing.assert_allclose(baselines.average(vis, ir), [[0.5, 0.3], [0.5, 0.6]], atol=1e-7)
    np.testing.assert_allclose(baselines.maximum(vis, ir), [[1.0, 0.4], [1.0, 0.6]])


@pytest.mark.parametrize("shape", [(3, 5), (8, 8), (9, 13), (37, 53), (270, 360), (101, 64)])
@pytest.mark.parametrize("method", sorted(baselines.METHODS))
def test_any_size_keeps_shape_and_range(method, shape):
    vis, ir = _random_pair(shape)
    fused = baselines.METHODS[method](vis, ir)
    assert fused.shape == shape
    assert fused.dtype == np.float32
    assert fused.min() >= 0.0 and fused.max() <= 1.0


@pytest.mark.parametrize("shape", [(3, 5), (9, 13), (37, 53), (101, 64)])
def test_pyramid_of_identical_inputs_reconstructs_the_input(shape):
    image, _ = _random_pair(shape, seed=1)
    np.testing.assert_allclose(baselines.laplacian_pyramid(image, image), image, atol=1e-5)


def test_pyramid_without_levels_is_the_average():
    vis, ir = _random_pair((20, 30), seed=2)
    np.testing.assert_allclose(baselines.laplacian_pyramid(vis, ir, levels=0),
                               baselines.average(vis, ir), atol=1e-6)


def test_pyramid_keeps_the_stronger_detail():
    rows, cols = np.indices((64, 64))
    textured = (0.3 + 0.4 * ((rows // 2 + cols // 2) % 2)).astype(np.float32)
    flat = np.full(textured.shape, 0.5, dtype=np.float32)
    detail = spatial_frequency(textured * 255)
    # Averaging halves the contrast; choose-max-abs keeps (nearly) all of it.
    assert spatial_frequency(baselines.average(flat, textured) * 255) == pytest.approx(detail / 2, rel=1e-3)
    assert spatial_frequency(baselines.laplacian_pyramid(flat, textured) * 255) > 0.9 * detail


def test_bad_inputs_are_user_errors():
    vis, ir = _random_pair((10, 12))
    with pytest.raises(UserError, match="differ in size"):
        baselines.average(vis, ir[:, :11])
    with pytest.raises(UserError, match="grayscale"):
        baselines.maximum(np.stack([vis] * 3, axis=-1), ir)
    with pytest.raises(UserError, match="levels"):
        baselines.laplacian_pyramid(vis, ir, levels=-1)


def test_on_a_real_tno_pair(shared_data):
    vis = to_gray(read_image(shared_data / "tno" / "vi" / "19.png"))
    ir = to_gray(read_image(shared_data / "tno" / "ir" / "19.png"))
    outputs = {name: method(vis, ir) for name, method in baselines.METHODS.items()}
    for fused in outputs.values():
        assert fused.shape == vis.shape
    sharpness = {name: spatial_frequency(fused * 255) for name, fused in outputs.items()}
    assert sharpness["laplacian"] > sharpness["average"]
