"""DDcGAN's losses (tf_irgan.losses) against hand computations in numpy on tiny arrays."""

import math

import numpy as np
import pytest
import tensorflow as tf

from tf_irgan import losses

RNG = np.random.default_rng(7)


def _batch(*images):
    """(H, W) numpy arrays -> (B, H, W, 1) float32 tensor."""
    return tf.constant(np.stack(images)[..., None].astype(np.float32))


def _numpy_gradient(image):
    """Each pixel minus the mean of its 8 neighbours, zeros outside the image."""
    padded = np.pad(image.astype(np.float64), 1)
    h, w = image.shape
    out = np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            window = padded[y:y + 3, x:x + 3]
            out[y, x] = (window.sum() - window[1, 1]) / 8.0 - window[1, 1]
    return out


def _numpy_avg_pool_same(image):
    """3x3 stride-2 average pool with TF's 'SAME' padding; padded cells are not counted."""
    h, w = image.shape
    out_h, out_w = math.ceil(h / 2), math.ceil(w / 2)
    top = max((out_h - 1) * 2 + 3 - h, 0) // 2
    left = max((out_w - 1) * 2 + 3 - w, 0) // 2
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            y0, x0 = i * 2 - top, j * 2 - left
            window = image[max(y0, 0):y0 + 3, max(x0, 0):x0 + 3]
            out[i, j] = window.mean()
    return out


def test_gradient_kernel_is_the_official_one():
    expected = np.full((3, 3), 1 / 8)
    expected[1, 1] = -1
    np.testing.assert_array_equal(losses.GRADIENT_KERNEL, expected.astype(np.float32))


def test_gradient_of_a_single_bright_pixel_by_hand():
    image = np.zeros((4, 4))
    image[1, 2] = 8.0
    out = losses.gradient(_batch(image)).numpy()[0, :, :, 0]
    expected = np.zeros((4, 4))
    expected[0:3, 1:4] = 1.0        # each neighbour sees 8/8
    expected[1, 2] = -8.0           # the pixel itself: -1 * 8
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_gradient_matches_numpy_with_zero_padding():
    images = [RNG.random((5, 5)), RNG.random((5, 5))]
    out = losses.gradient(_batch(*images)).numpy()[..., 0]
    for got, image in zip(out, images):
        np.testing.assert_allclose(got, _numpy_gradient(image), atol=1e-6)
    # Zero padding: a constant image has gradient 0 inside but not on the border.
    flat = losses.gradient(_batch(np.ones((5, 5)))).numpy()[0, :, :, 0]
    assert abs(flat[2, 2]) < 1e-7
    np.testing.assert_allclose(flat[0, 0], 3 / 8 - 1, atol=1e-6)   # corner: 3 neighbours
    np.testing.assert_allclose(flat[0, 2], 5 / 8 - 1, atol=1e-6)   # edge: 5 neighbours


def test_downsample_scale_1_is_identity():
    batch = _batch(RNG.random((5, 6)))
    assert losses.downsample(batch, 1) is batch


def test_downsample_scale_2_by_hand_on_4x4():
    image = np.arange(16, dtype=np.float64).reshape(4, 4)
    out = losses.downsample(_batch(image), 2).numpy()[0, :, :, 0]
    # SAME on 4 -> 2 pads one row/column at the bottom/right only; padding is not averaged in.
    expected = np.array([[45 / 9, 39 / 6],     # rows 0-2 x cols 0-2 | rows 0-2 x cols 2-3
                         [66 / 6, 50 / 4]])    # rows 2-3 x cols 0-2 | rows 2-3 x cols 2-3
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_downsample_scale_2_on_5x5_pads_both_sides():
    image = np.arange(25, dtype=np.float64).reshape(5, 5)
    out = losses.downsample(_batch(image), 2).numpy()[0, :, :, 0]
    assert out.shape == (3, 3)
    # 5 -> 3 pads one row/column on each side: the corner window is rows 0-1 x cols 0-1.
    np.testing.assert_allclose(out[0, 0], np.mean([0, 1, 5, 6]), atol=1e-5)
    np.testing.assert_allclose(out[1, 1], image[1:4, 1:4].mean(), atol=1e-5)
    np.testing.assert_allclose(out, _numpy_avg_pool_same(image), atol=1e-5)


@pytest.mark.parametrize("size", [(8, 8), (12, 20), (7, 9)])
def test_downsample_scale_4_is_two_pools(size):
    image = RNG.random(size)
    out = losses.downsample(_batch(image), 4).numpy()[0, :, :, 0]
    expected = _numpy_avg_pool_same(_numpy_avg_pool_same(image))
    assert out.shape == expected.shape == (math.ceil(size[0] / 4), math.ceil(size[1] / 4))
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_downsample_refuses_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        losses.downsample(_batch(np.zeros((6, 6))), 3)


def test_ir_content_is_per_image_sum_of_squares():
    a, b = RNG.random((2, 4, 4)), RNG.random((2, 4, 4))
    out = losses.intensity_content(_batch(*a), _batch(*b)).numpy()
    assert out.shape == (2,)
    np.testing.assert_allclose(out, ((a - b) ** 2).sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(losses.intensity_content(_batch(np.full((3, 3), 0.5)),
                                                 _batch(np.zeros((3, 3)))).numpy(), [9 * 0.25])


def test_vis_content_is_l1_of_gradient_difference():
    fused, vis = RNG.random((2, 5, 5)), RNG.random((2, 5, 5))
    out = losses.detail_content(_batch(*fused), _batch(*vis)).numpy()
    expected = [np.abs(_numpy_gradient(f) - _numpy_gradient(v)).sum() for f, v in zip(fused, vis)]
    assert out.shape == (2,)
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    # Brightness offsets only show at the zero-padded border; identical images cost nothing.
    assert losses.detail_content(_batch(vis[0]), _batch(vis[0])).numpy()[0] == 0.0


def test_salient_intensity_pulls_to_the_brighter_source():
    fused, vis, ir = RNG.random((3, 2, 3, 3))
    out = losses.salient_intensity(_batch(*fused), _batch(*vis), _batch(*ir)).numpy()
    np.testing.assert_allclose(out, ((fused - np.maximum(vis, ir)) ** 2).sum(axis=(1, 2)), rtol=1e-5)
    # By hand: a fused 0.5 everywhere, visible 0.2 and IR 0.6 -> 9 pixels of (0.5 - 0.6)^2.
    flat = [_batch(np.full((3, 3), v)) for v in (0.5, 0.2, 0.6)]
    np.testing.assert_allclose(losses.salient_intensity(*flat).numpy(), [0.09], rtol=1e-5)


def test_salient_gradient_follows_the_stronger_source_per_pixel():
    base = RNG.random((6, 6))
    vis, ir = 2 * base, base       # the visible gradient is twice the IR's at every pixel
    def loss(fused):
        return losses.salient_gradient(_batch(fused), _batch(vis), _batch(ir)).numpy()[0]
    assert loss(vis) == pytest.approx(0.0, abs=1e-6)
    assert loss(ir) == pytest.approx(np.abs(_numpy_gradient(base)).sum(), rel=1e-5)
    # Mixed: left half stronger in the visible image, right half in the IR image.
    vis, ir = base.copy(), base.copy()
    vis[:, :3] *= 3
    ir[:, 3:] *= 3
    gv, gi = _numpy_gradient(vis), _numpy_gradient(ir)
    target = np.where(np.abs(gv) >= np.abs(gi), gv, gi)
    fused = RNG.random((6, 6))
    expected = np.abs(_numpy_gradient(fused) - target).sum()
    assert losses.salient_gradient(_batch(fused), _batch(vis), _batch(ir)).numpy()[0] == \
        pytest.approx(expected, rel=1e-5)


def test_generator_adversarial():
    d_detail = tf.constant([0.5, 1.0, 0.25])
    d_intensity = tf.constant([0.5, 1.0, 1.0])
    out = losses.generator_adversarial(d_detail, d_intensity).numpy()
    np.testing.assert_allclose(out, [2 * math.log(2), 0.0, math.log(4)], atol=1e-6)
    # eps keeps a zero probability finite: -log(1e-8) = 18.42
    zero = losses.generator_adversarial(tf.constant([0.0]), tf.constant([1.0])).numpy()
    np.testing.assert_allclose(zero, [-math.log(1e-8)], rtol=1e-5)


def test_discriminator_loss_with_known_probabilities():
    real = tf.constant([0.5, 1.0, 0.8, 1.0])
    fake = tf.constant([0.5, 0.0, 0.4, 1.0])
    out = losses.discriminator(real, fake).numpy()
    expected = [2 * math.log(2), 0.0, -math.log(0.8) - math.log(0.6), -math.log(1e-8)]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_salient_intensity_is_chosen_on_a_coarse_grid_at_every_scale():
    """The brighter source is picked on a 4x coarser grid at scale 1 too: the same value as at
    scale 4 given the IR reduced by psi, and a fine pattern is not turned into its per-pixel max."""
    from tf_irgan.models.ddcgan import content_losses, ddcgan_config

    rng = np.random.default_rng(3)
    vis, ir, fused = (tf.constant(rng.random((2, 32, 32, 1)), tf.float32) for _ in range(3))
    small_ir = losses.downsample(ir, 4)
    same_size = content_losses(ddcgan_config("salient", 1, patch=32), {"detail": vis, "intensity": ir}, fused, fused)
    x4 = content_losses(ddcgan_config("salient", 4, patch=32), {"detail": vis, "intensity": small_ir},
                        fused, losses.downsample(fused, 4))
    # The intensity term also holds the overshoot above the brighter source, at full resolution,
    # where each scale sees its own IR; the coarse-grid part is what must agree.
    ir_up = tf.image.resize(small_ir, (32, 32), method="bilinear")
    np.testing.assert_allclose((same_size[0] - losses.overshoot(fused, vis, ir)).numpy(),
                               (x4[0] - losses.overshoot(fused, vis, ir_up)).numpy(), rtol=1e-4)
    # A one-pixel checkerboard over a mid-gray IR: per pixel, max asks for white on half of the
    # 32x32 pixels (0.25 each: 128); on the coarse grid mid-gray is (nearly) what is asked.
    board = tf.constant((np.indices((32, 32)).sum(0) % 2).astype(np.float32)[None, :, :, None])
    gray = tf.fill((1, 32, 32, 1), 0.5)
    assert float(losses.salient_intensity(gray, board, gray)[0]) == pytest.approx(128)
    l_intensity, _ = content_losses(ddcgan_config("salient", 1, patch=32), {"detail": board, "intensity": gray}, gray, gray)
    assert float(l_intensity[0]) < 0.01 * 128


def test_overshoot_counts_only_what_rises_above_the_brighter_source():
    vis = _batch([[0.2, 0.9], [0.5, 0.1]])
    ir = _batch([[0.6, 0.3], [0.5, 0.1]])
    fused = _batch([[0.7, 0.8], [0.5, 0.4]])  # above max by 0.1, below, equal, above by 0.3
    np.testing.assert_allclose(losses.overshoot(fused, vis, ir).numpy(), [0.4], rtol=1e-5)


def test_ir_fidelity_adds_ddcgans_pull_toward_the_ir():
    """`intensity_fidelity_weight` w adds w * sum((psi(G) - i)^2) to the salient intensity term: on a
    4x4 fused image whose block mean is 0.5 against an IR pixel of 0.2, w = 2 adds 2 * 0.09."""
    from tf_irgan.models.ddcgan import content_losses, ddcgan_config

    vis, ir = tf.fill((1, 4, 4, 1), 0.1), tf.fill((1, 1, 1, 1), 0.2)
    fused = tf.fill((1, 4, 4, 1), 0.5)
    batch, small = {"detail": vis, "intensity": ir}, losses.downsample(fused, 4)
    config = ddcgan_config("salient", 4, patch=32)
    plain = content_losses(config, batch, fused, small)[0]
    pulled = content_losses(ddcgan_config("salient", 4, patch=32, intensity_fidelity_weight=2.0),
                            batch, fused, small)[0]
    np.testing.assert_allclose((pulled - plain).numpy(), [2 * 0.3 ** 2], rtol=1e-5)


def test_bicubic_enlargement_matches_opencv_inside_and_keeps_constants():
    import cv2

    image = np.random.default_rng(4).random((1, 11, 14, 1)).astype(np.float32)
    enlarged = np.asarray(losses.upsample_bicubic(tf.constant(image), 4))[0, :, :, 0]
    expected = cv2.resize(image[0, :, :, 0], (56, 44), interpolation=cv2.INTER_CUBIC)
    assert enlarged.shape == (44, 56)
    np.testing.assert_allclose(enlarged[8:-8, 8:-8], expected[8:-8, 8:-8], atol=1e-5)
    constant = np.asarray(losses.upsample_bicubic(tf.fill((1, 5, 3, 1), 0.4), 4))
    np.testing.assert_allclose(constant, 0.4, atol=1e-6)   # renormalised at the borders too


def test_bilinear_enlargement_equals_tensorflows_resize_at_odd_sizes():
    """The separable transposed passes (tf_irgan.filters) give tf.image.resize's numbers,
    borders included, where the taps outside the image are renormalised."""
    image = np.random.default_rng(5).random((2, 7, 11, 1)).astype(np.float32)
    for scale in (2, 4):
        enlarged = np.asarray(losses.upsample_bilinear(tf.constant(image), scale))
        expected = tf.image.resize(image, (7 * scale, 11 * scale), method="bilinear").numpy()
        np.testing.assert_allclose(enlarged, expected, atol=1e-6)


def test_salient_grid_sets_where_the_brighter_source_is_chosen():
    """`salient_grid` 1: the brighter source pixel by pixel, so the pixelwise maximum has no
    intensity loss; the default 4 compares 4x4 block means, where it has."""
    import numpy as np

    from tf_irgan.models.ddcgan import content_losses, ddcgan_config

    rng = np.random.default_rng(0)
    vis, ir = (rng.random((1, 16, 16, 1)).astype(np.float32) for _ in range(2))
    fused = np.maximum(vis, ir)
    batch = {"detail": vis, "intensity": ir}
    fine = content_losses(ddcgan_config("pyramid", 1, salient_grid=1), batch, fused, fused)[0]
    coarse = content_losses(ddcgan_config("pyramid", 1), batch, fused, fused)[0]
    assert float(np.asarray(fine)[0]) < 1e-9 < float(np.asarray(coarse)[0])
