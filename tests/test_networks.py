"""DDcGAN's networks: shapes, output ranges, cost and size, weight clipping."""

import keras
import tensorflow as tf
import numpy as np
import pytest

from tf_irgan.models.ddcgan import Discriminator, Generator, count_parameters
from tf_irgan.models.layers import ClipWeights, ReflectConv
from tf_irgan.models.ddcgan import ddcgan_config

RNG = np.random.default_rng(3)


def _inputs(batch, h, w, scale):
    return {"detail": RNG.random((batch, h, w, 1)).astype(np.float32),
            "intensity": RNG.random((batch, h // scale, w // scale, 1)).astype(np.float32)}


@pytest.fixture(scope="module")
def generators():
    keras.utils.set_random_seed(0)
    built = {scale: Generator.from_ddcgan_config(ddcgan_config("official", scale, patch=32))
             for scale in (1, 4)}
    built["paper4"] = Generator.from_ddcgan_config(ddcgan_config("paper", 4, patch=32))
    return built


@pytest.mark.parametrize("key,h,w", [(4, 24, 40), (4, 36, 20), (1, 13, 22), ("paper4", 20, 28)])
def test_generator_shape_and_range(generators, key, h, w):
    scale = 1 if key == 1 else 4
    out = np.asarray(generators[key](_inputs(2, h, w, scale), training=False))
    assert out.shape == (2, h, w, 1)
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > 0  # not a constant map


def test_generator_output_range_holds_for_extreme_inputs(generators):
    # tanh(x)/2 + 0.5: even saturated inputs stay within [0, 1].
    inputs = {"detail": np.full((1, 16, 16, 1), 50.0, np.float32),
              "intensity": np.full((1, 4, 4, 1), -50.0, np.float32)}
    out = np.asarray(generators[4](inputs))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_generator_inference_is_deterministic(generators):
    inputs = _inputs(2, 16, 16, 4)
    a = np.asarray(generators[4](inputs, training=False))
    b = np.asarray(generators[4](inputs, training=False))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", [32, 8, 84])
def test_discriminator_shape_and_range(size):
    disc = Discriminator()
    out = np.asarray(disc(RNG.random((3, size, size, 1)).astype(np.float32)))
    assert out.shape == (3,)
    assert (out > 0).all() and (out < 1).all()


def test_official_generator_costs_about_1_6_million_macs_per_pixel():
    generator = Generator.from_ddcgan_config(ddcgan_config("official", 4))
    macs = generator.macs_per_pixel()
    # Reference §4: ~1.6 M multiply-adds per output pixel; exactly, with the 240->240 layer twice:
    # stem 2*9*48, dense 9*48*(48+96+144+192), decoder 9*(240*240*2 + 240*128 + 128*64 + 64*32), head 9*32.
    assert macs == 2 * 9 * 48 + 9 * 48 * 480 + 9 * (240 * 240 * 2 + 240 * 128 + 128 * 64 + 64 * 32) + 9 * 32
    assert 1.55e6 < macs < 1.65e6
    # ... and equal to what the built full-resolution convolutions do: the tied first decoder
    # kernel (the released code's) runs twice.
    generator.build_for_inference()
    convs = [generator.stem, *generator.dense, generator.decoder[0], *generator.decoder, generator.head]
    assert macs == sum(int(np.prod(c.conv.kernel.shape)) for c in convs)


@pytest.mark.parametrize("size", [(84, 84), (37, 53)])
def test_fast_generator_is_cheap_and_starts_at_the_average(size):
    """Issue 12: at most 0.25 M multiply-adds per pixel; `residual`'s head starts at zero."""
    config = ddcgan_config("fast", 4)
    assert (config.growth, config.decoder_filters, config.max_repeats) == (16, (64, 32, 16), 5)
    generator = Generator.from_ddcgan_config(config)
    # stem 2*9*16, dense 9*16*(16+32+48+64), decoder 9*(80*64 + 64*32 + 32*16), head 9*16
    assert generator.macs_per_pixel() == 2 * 9 * 16 + 9 * 16 * 160 + 9 * (80 * 64 + 64 * 32 + 32 * 16) + 9 * 16
    assert generator.macs_per_pixel() <= 250_000
    height, width = size
    vis = RNG.random((2, height - height % 4, width - width % 4, 1)).astype(np.float32)
    ir = RNG.random((2, vis.shape[1] // 4, vis.shape[2] // 4, 1)).astype(np.float32)
    fused = np.asarray(generator({"detail": vis, "intensity": ir}))
    assert fused.shape == vis.shape
    up = tf.image.resize(ir, vis.shape[1:3], method="bilinear").numpy()
    assert np.allclose(fused, np.clip((vis + up) / 2, 0, 1), atol=1e-6)


@pytest.mark.parametrize("scale,intensity_weight", [(1, 1.0), (2, 1.0), (4, 1.0), (8, 4.0)])
def test_salient_generator_is_narrower_and_weighs_its_coarse_grid(scale, intensity_weight):
    """Issue 12: `salient` fuses 640x480 under 1 s here at 52 k multiply-adds per pixel; its
    intensity term sums over a grid 4x (or the IR's, if coarser) below the visible one."""
    config = ddcgan_config("salient", scale, patch=96)
    assert (config.content, config.growth, config.decoder_filters) == ("salient", 12, (48, 24, 12))
    assert config.intensity_weight == intensity_weight
    generator = Generator.from_ddcgan_config(config)
    # stem 2*9*12, dense 9*12*(12+24+36+48), decoder 9*(60*48 + 48*24 + 24*12), head 9*12
    assert generator.macs_per_pixel() == 2 * 9 * 12 + 9 * 12 * 120 + 9 * (60 * 48 + 48 * 24 + 24 * 12) + 9 * 12
    assert generator.macs_per_pixel() == 52_164


def _conv_params(cin, cout, batch_norm=True):
    return 9 * cin * cout + cout + (2 * cout if batch_norm else 0)


def test_parameter_counts():
    config = ddcgan_config("official", 4)
    generator = Generator.from_ddcgan_config(config)
    generator.build_for_inference()
    expected = _conv_params(2, 48) + sum(_conv_params(48 * (i + 1), 48) for i in range(4))
    channels = 240
    for f in config.decoder_filters:   # the tied 240->240 kernel once: it is one variable
        expected += _conv_params(channels, f)
        channels = f
    expected += _conv_params(32, 1, batch_norm=False) + 9 + 9  # head; vis_in and ir_up (no bias)
    assert count_parameters(generator) == expected
    assert 1.0e6 < expected < 1.2e6

    same = Generator.from_ddcgan_config(ddcgan_config("official", 1))
    same.build_for_inference()
    assert count_parameters(same) == expected - 18  # no transposed convs at scale 1

    disc = Discriminator()
    disc(np.zeros((1, 32, 32, 1), np.float32))
    # conv0 without BN, conv1-2 with BN, dense over a 4x4x64 map.
    assert count_parameters(disc) == (_conv_params(1, 16, False) + _conv_params(16, 32)
                                      + _conv_params(32, 64) + 4 * 4 * 64 + 1)


def test_generator_config_round_trip():
    generator = Generator.from_ddcgan_config(ddcgan_config("official", 4, growth=8,
                                                           decoder_filters=(40, 8)))
    clone = Generator.from_config(generator.get_config())
    assert (clone.scale, clone.growth, clone.decoder_filters) == (4, 8, (40, 8))
    assert (clone.tied_decoder, clone.dense_order, clone.initializer) == (True, "new_first", "released")
    assert clone.batch_norm_epsilon == 1e-3


@pytest.mark.parametrize("limit", [0.05, 8.0])
def test_clip_weights_after_a_huge_optimizer_step(limit):
    disc = Discriminator(weight_clip=limit)
    images = RNG.random((4, 16, 16, 1)).astype(np.float32)
    disc(images)
    optimizer = keras.optimizers.SGD(learning_rate=1e6)
    _huge_step(disc, optimizer, images)
    trainable = [v.numpy() for v in disc.trainable_variables]
    assert max(np.abs(v).max() for v in trainable) <= limit * (1 + 1e-6)
    # The step really pushed weights to the limit (so the clip did something).
    assert any(np.isclose(np.abs(v), limit).any() for v in trainable)


def test_without_clipping_the_same_step_leaves_the_limit():
    disc = Discriminator(weight_clip=None)
    images = RNG.random((4, 16, 16, 1)).astype(np.float32)
    disc(images)
    _huge_step(disc, keras.optimizers.SGD(learning_rate=1e6), images)
    assert max(np.abs(v.numpy()).max() for v in disc.trainable_variables) > 8.0


def _huge_step(model, optimizer, images):
    import tensorflow as tf
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(images, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))


def test_clip_weights_constraint_and_serialisation():
    clip = ClipWeights(2.0)
    np.testing.assert_array_equal(np.asarray(clip(np.array([-5.0, 1.0, 3.0]))), [-2.0, 1.0, 2.0])
    layer = ReflectConv(4, weight_clip=2.0)
    restored = ReflectConv.from_config(layer.get_config())
    assert restored.conv.kernel_constraint.limit == 2.0
    assert restored.norm.gamma_constraint.limit == 2.0
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(clip)).limit == 2.0
