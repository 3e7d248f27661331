"""The pyramid generator (config `pyramid`) and the training augmentation."""

import cv2
import keras
import numpy as np
import pytest

from tf_irgan import baselines
from tf_irgan.data.augment import augment_pair, flip_and_rotate, photometric
from tf_irgan.data.datasets import PatchBatches
from tf_irgan.data.patches import PatchSet
from tf_irgan.errors import UserError
from tf_irgan.images import read_image, to_gray
from tf_irgan.models.ddcgan import DDcGAN, ddcgan_config, make_generator
from tf_irgan.models.pyramid import (PyramidGenerator, blur, laplacian_bands, pyramid_down,
                                     pyramid_up)

RNG = np.random.default_rng(5)


def _image(h, w):
    return RNG.random((1, h, w, 1)).astype(np.float32)


@pytest.mark.parametrize("h,w", [(37, 53), (8, 9), (84, 84), (1, 1)])
def test_down_and_up_sizes(h, w):
    x = _image(h, w)
    small = np.asarray(pyramid_down(x))
    assert small.shape == (1, -(-h // 2), -(-w // 2), 1)  # as cv2.pyrDown
    assert np.asarray(pyramid_up(small, x)).shape == x.shape


def test_blur_and_up_equal_opencv_away_from_borders():
    x = _image(40, 46)
    small = np.asarray(pyramid_down(x))[0, :, :, 0]
    np.testing.assert_allclose(small[3:-3, 3:-3], cv2.pyrDown(x[0, :, :, 0])[3:-3, 3:-3], atol=1e-6)
    up = np.asarray(pyramid_up(small[None, :, :, None], x))[0, :, :, 0]
    np.testing.assert_allclose(up[6:-6, 6:-6], cv2.pyrUp(small)[6:-6, 6:-6], atol=1e-6)
    # A constant stays constant up to the borders: the taps outside are renormalised away.
    np.testing.assert_allclose(np.asarray(blur(np.full((1, 7, 5, 1), 0.3, np.float32))), 0.3, atol=1e-6)


@pytest.mark.parametrize("h,w", [(37, 53), (9, 4), (1, 6)])
def test_separable_filters_equal_the_2d_definition_at_the_borders_too(h, w):
    # The filters run as two 1-D passes with border weights from one row and one column; the
    # definition: the 5x5 binomial with zero padding, divided by what a ones-image gets.
    from scipy.ndimage import correlate
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0

    def renormalised(image, support):
        return (correlate(image, kernel, mode="constant")
                / correlate(support, kernel, mode="constant"))
    x = _image(h, w)
    plain = x[0, :, :, 0].astype(np.float64)
    expected = renormalised(plain, np.ones_like(plain))
    np.testing.assert_allclose(np.asarray(blur(x))[0, :, :, 0], expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pyramid_down(x))[0, :, :, 0], expected[::2, ::2],
                               atol=1e-6)
    # Up: input pixel i on output 2i, zeros between, the same renormalised filter.
    like = np.zeros((1, 2 * h - 1, 2 * w, 1), np.float32)
    spread, support = np.zeros((2 * h, 2 * w)), np.zeros((2 * h, 2 * w))
    spread[::2, ::2], support[::2, ::2] = plain, 1.0
    expected_up = renormalised(spread, support)[:2 * h - 1]
    np.testing.assert_allclose(np.asarray(pyramid_up(x, like))[0, :, :, 0], expected_up, atol=1e-6)


@pytest.mark.parametrize("h,w", [(37, 53), (8, 8)])
def test_bands_collapse_back_to_the_image(h, w):
    x = _image(h, w)
    bands, _, base = laplacian_bands(x, 4)
    image = base
    for band in reversed(bands):
        image = pyramid_up(image, band) + band
    np.testing.assert_allclose(np.asarray(image), x, atol=1e-5)


@pytest.mark.parametrize("scale,h,w", [(1, 37, 53), (1, 8, 11), (4, 44, 60), (4, 36, 28)])
def test_generator_shapes_and_range(scale, h, w):
    generator = make_generator(ddcgan_config("pyramid", scale))
    out = np.asarray(generator({"detail": _image(h, w), "intensity": _image(h // scale, w // scale)}))
    assert out.shape == (1, h, w, 1)
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_untrained_generator_is_the_selection_rule():
    """Every selector starts at zero: the base is the average, each detail band goes to the
    source with the stronger local energy (softly): with an infinitely sharp rule, and equal
    sources, the result is that source."""
    generator = PyramidGenerator(scale=1, sharpness=4.0)
    x = _image(40, 40)
    np.testing.assert_allclose(np.asarray(generator({"detail": x, "intensity": x})), x, atol=1e-5)
    # A textured visible image over a flat IR: the fused details are the visible's, the
    # brightness the average of the two.
    flat = np.full_like(x, 0.2)
    out = np.asarray(generator({"detail": x, "intensity": flat}))
    detail = out - np.asarray(blur(blur(out)))
    expected = x - np.asarray(blur(blur(x)))
    assert np.corrcoef(detail[0, 8:-8, 8:-8, 0].ravel(), expected[0, 8:-8, 8:-8, 0].ravel())[0, 1] > 0.95
    assert abs(out.mean() - (x.mean() + 0.2) / 2) < 0.02


def test_the_brighter_source_rule_approaches_the_pixelwise_maximum(tmp_path):
    """`brightness` (the CT-bone and tracer rule): a large gain blends the pyramids under the
    mask "visible brighter", so away from where the mask changes the result is the maximum;
    without it the two flat regions are averaged toward each other."""
    vis = np.full((1, 64, 64, 1), 0.3, np.float32)
    ir = np.full_like(vis, 0.1)
    ir[:, :, 32:] = 0.9                       # a bright right half in the IR only
    texture = 0.05 * _image(64, 64)
    vis = vis + texture
    maximum = np.maximum(vis, ir)
    steep = np.asarray(PyramidGenerator(brightness=200.0)({"detail": vis, "intensity": ir}))
    plain = np.asarray(PyramidGenerator()({"detail": vis, "intensity": ir}))
    inside = (slice(None), slice(4, -4), np.r_[4:22, 42:60], slice(None))
    assert np.abs(steep - maximum)[inside].mean() < 0.02
    assert np.abs(plain - maximum)[inside].mean() > 0.1
    # At 0 the generator has no such weight: presets saved before the option load unchanged.
    generator = PyramidGenerator()
    generator.build_for_inference()
    assert not any("brightness" in w.path for w in generator.weights)
    bright = make_generator(ddcgan_config("pyramid", 1, brightness=30.0))
    bright.build_for_inference()
    bright.brightness_gain.assign(12.0)          # trained: the saved value, not the setting
    bright.save(tmp_path / "b.keras")
    loaded = keras.saving.load_model(tmp_path / "b.keras")
    np.testing.assert_allclose(np.asarray(loaded({"detail": vis, "intensity": ir})),
                               np.asarray(bright({"detail": vis, "intensity": ir})), atol=1e-6)
    with pytest.raises(UserError, match="brightness=-1"):
        ddcgan_config("pyramid", 1, brightness=-1.0)


def test_the_fine_levels_can_be_kept_to_detail_and_to_the_rule(tmp_path):
    """`brightness_from` keeps the brighter-source term off the finest levels (the base only at
    `levels`): its fine bands are the plain rule's; `rule_levels` leaves the finest levels
    without a network, so a trained model cannot move them and saves fewer weights."""
    vis = np.full((1, 64, 64, 1), 0.3, np.float32) + 0.05 * _image(64, 64)
    ir = np.full_like(vis, 0.1)
    ir[:, :, 32:] = 0.9
    batch = {"detail": vis, "intensity": ir}

    def finest_band(generator):
        return np.asarray(laplacian_bands(generator(batch), 1)[0][0])
    plain, every, base_only = (PyramidGenerator(brightness=b, brightness_from=f)
                               for b, f in ((0.0, 0), (30.0, 0), (30.0, 4)))
    assert np.abs(finest_band(every) - finest_band(plain)).max() > 0.01
    inner = (slice(None), slice(20, -20), slice(8, 24), slice(None))   # far from the IR's edge
    np.testing.assert_allclose(finest_band(base_only)[inner], finest_band(plain)[inner], atol=2e-3)
    assert np.abs(np.asarray(base_only(batch)) - np.asarray(plain(batch))).max() > 0.05

    ruled = make_generator(ddcgan_config("pyramid", 1, rule_levels=2, brightness=30.0,
                                         brightness_from=4))
    ruled.build_for_inference()
    assert [selector.name for selector in ruled.detail] == ["detail2", "detail3"]
    np.testing.assert_allclose(np.asarray(ruled(batch)), np.asarray(base_only(batch)), atol=1e-6)
    full = make_generator(ddcgan_config("pyramid", 1))
    assert ruled.macs_per_pixel() < full.macs_per_pixel() / 3
    for selector in ruled.detail:   # trained: the coarser networks are not at zero any more
        selector.out.kernel.assign(0.5 * np.ones(selector.out.kernel.shape, np.float32))
    ruled.save(tmp_path / "r.keras")
    loaded = keras.saving.load_model(tmp_path / "r.keras")
    np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(ruled(batch)), atol=1e-6)
    for setting in ("rule_levels", "brightness_from"):
        with pytest.raises(UserError, match=f"{setting}=5"):
            ddcgan_config("pyramid", 1, **{setting: 5})


def test_the_noise_aware_rule_averages_noise_and_keeps_an_edge():
    """`noise_levels`: where both sources hold noise alone, the plain rule takes the noisier
    one's noise and the noise-aware rule averages the two (less noisy than either); an edge
    that only one source has is kept by both rules."""
    rng = np.random.default_rng(2)
    vis = 0.5 + 0.02 * rng.standard_normal((1, 96, 96, 1)).astype(np.float32)
    ir = 0.5 + 0.03 * rng.standard_normal((1, 96, 96, 1)).astype(np.float32)
    ir[:, :, 48:] += 0.3                                  # an IR-only edge
    batch = {"detail": vis, "intensity": ir}
    flat = (slice(None), slice(8, -8), slice(8, 36), slice(None))

    def noise(image):   # of the finest band, where the noise-aware level works
        return float(np.abs(np.asarray(laplacian_bands(image, 1)[0][0]))[flat].mean())
    plain = PyramidGenerator(rule_levels=1)(batch)
    aware = PyramidGenerator(rule_levels=1, noise_levels=1)(batch)
    assert noise(plain) > 0.9 * noise(ir)
    assert noise(aware) < 0.8 * noise(ir)
    for result in (plain, aware):
        step = np.asarray(result)[0, 20:-20, 52:60, 0].mean() - np.asarray(result)[0, 20:-20, 36:44, 0].mean()
        assert step > 0.1
    with pytest.raises(UserError, match="noise_levels=5"):
        ddcgan_config("pyramid", 1, noise_levels=5)


def test_macs_per_pixel_within_the_salient_budget():
    generator = make_generator(ddcgan_config("pyramid", 1))
    salient = make_generator(ddcgan_config("salient", 1))
    f = 16
    selector = 9 * 6 * f + 9 * f * f + f
    assert generator.macs_per_pixel() > selector  # the full-resolution selector at least
    assert generator.macs_per_pixel() < salient.macs_per_pixel() / 5  # 52 k: a tenth or less
    assert salient.macs_per_pixel() == 52200 or abs(salient.macs_per_pixel() - 52_200) < 1000


def test_pyramid_config_keeps_ddcgans_discriminators_and_schedule():
    config = ddcgan_config("pyramid", 4)
    salient = ddcgan_config("salient", 4)
    assert config.generator == "pyramid" and config.augment
    for field in ("disc_filters", "d_max", "d_min", "g_max", "max_repeats", "alternate", "content"):
        assert getattr(config, field) == getattr(salient, field)
    model = DDcGAN(config)
    assert set(model.networks()) == {"generator", "d_detail", "d_intensity"}


@pytest.mark.parametrize("intensity_upsample", ["bilinear", "bicubic"])
def test_pyramid_generator_saves_and_loads(tmp_path, intensity_upsample):
    generator = make_generator(ddcgan_config("pyramid", 4, intensity_upsample=intensity_upsample))
    generator.build_for_inference()
    generator.gain.assign(2.5)
    path = tmp_path / "g.keras"
    generator.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.intensity_upsample == intensity_upsample
    x = {"detail": _image(32, 40), "intensity": _image(8, 10)}
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(generator(x)), atol=1e-6)
    with pytest.raises(UserError, match="intensity_upsample"):
        ddcgan_config("pyramid", 4, intensity_upsample="lanczos")


# ---------------------------------------------------------------- augmentation

def test_geometry_is_shared_by_both_images():
    """A 1/4 IR made by block means of the visible patch stays its block mean after the turn."""
    vis = RNG.random((16, 8, 8)).astype(np.float32)
    ir = vis.reshape(16, 2, 4, 2, 4).mean(axis=(2, 4))
    vis_t, ir_t = flip_and_rotate([vis, ir], np.random.default_rng(0))
    np.testing.assert_allclose(vis_t.reshape(16, 2, 4, 2, 4).mean(axis=(2, 4)), ir_t, atol=1e-6)
    assert any(not np.array_equal(a, b) for a, b in zip(vis, vis_t))  # something turned


def test_augmentation_is_reproducible_and_in_range():
    vis, ir = RNG.random((8, 84, 84)).astype(np.float32), RNG.random((8, 21, 21)).astype(np.float32)
    a = augment_pair(vis, ir, np.random.default_rng([1, 2]))
    b = augment_pair(vis, ir, np.random.default_rng([1, 2]))
    c = augment_pair(vis, ir, np.random.default_rng([1, 3]))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    for x in a:
        assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1


def test_low_light_darkens_only_when_asked():
    images = np.full((400, 4, 4), 0.6, np.float32)
    dark = photometric(images, np.random.default_rng(0), low_light=1.0)
    plain = photometric(images, np.random.default_rng(0), low_light=0.0)
    assert dark.mean() < 0.6 * plain.mean()
    # The config's share reaches the batches: none darkened at 0, all at 1.
    patches = PatchSet(np.full((64, 84, 84), 0.6, np.float32), np.full((64, 21, 21), 0.6, np.float32),
                       4, "test", {})
    means = [next(PatchBatches(patches, 64, seed=1, augment=True, low_light=share).iterate(0))
             ["detail"].mean(axis=(1, 2, 3)) for share in (0.0, 1.0)]
    assert means[0].min() > 0.3 and means[1].max() < 0.4
    with pytest.raises(UserError, match="low_light"):
        ddcgan_config("pyramid", 4, low_light=1.5)


def test_patch_batches_augment_under_the_seed_and_resume_exactly():
    patches = PatchSet(RNG.random((40, 84, 84)).astype(np.float32),
                       RNG.random((40, 21, 21)).astype(np.float32), 4, "test", {})
    plain = next(PatchBatches(patches, 8, seed=1).iterate(3))
    first = PatchBatches(patches, 8, seed=1, augment=True).iterate(0)
    batches = [next(first) for _ in range(4)]
    resumed = next(PatchBatches(patches, 8, seed=1, augment=True).iterate(3))
    np.testing.assert_array_equal(batches[3]["detail"], resumed["detail"])
    np.testing.assert_array_equal(batches[3]["intensity"], resumed["intensity"])
    assert not np.array_equal(plain["detail"], resumed["detail"])
    other_seed = next(PatchBatches(patches, 8, seed=2, augment=True).iterate(3))
    assert not np.array_equal(other_seed["detail"], resumed["detail"])


# ---------------------------------------------------------------- on real pairs

def test_untrained_rule_beats_the_laplacian_pyramid_on_real_pairs(shared_data):
    """The starting point of training, on three RoadScene pairs: more VIF and Qabf than the
    classical pyramid (what the trained presets are then measured against on held-out pairs)."""
    from tf_irgan.metrics.fusion import fusion_vif, qabf
    generator = PyramidGenerator(scale=1)
    names = sorted(p.name for p in (shared_data / "roadscene" / "ir").iterdir())[1:4]
    gains = []
    for name in names:
        vis = to_gray(read_image(shared_data / "roadscene" / "vi" / name))
        ir = to_gray(read_image(shared_data / "roadscene" / "ir" / name))
        fused = np.asarray(generator({"detail": vis[None, :, :, None], "intensity": ir[None, :, :, None]}))[0, :, :, 0]
        lap = baselines.laplacian_pyramid(vis, ir)
        ours = [m(ir * 255, vis * 255, np.round(fused * 255)) for m in (fusion_vif, qabf)]
        theirs = [m(ir * 255, vis * 255, np.round(lap * 255)) for m in (fusion_vif, qabf)]
        gains.append(np.array(ours) / np.array(theirs))
    assert np.all(np.mean(gains, axis=0) > 1.0)


@pytest.mark.parametrize("scale,intensity_upsample", [(1, "bilinear"), (4, "bilinear"), (4, "bicubic")])
def test_tiles_equal_the_whole_image(scale, intensity_upsample, shared_data):
    """`fuse` splits images over 1024 pixels a side into tiles: tiles that start on the pyramid's
    coarsest grid, with the generator's `context`, give the whole image's result."""
    from tf_irgan.pipelines.fusion import run_generator
    name = sorted(p.name for p in (shared_data / "roadscene" / "ir").iterdir())[2]
    vis = to_gray(read_image(shared_data / "roadscene" / "vi" / name))[:272, :360]
    ir = to_gray(read_image(shared_data / "roadscene" / "ir" / name))[:272, :360]
    if scale > 1:
        ir = ir.reshape(272 // scale, scale, 360 // scale, scale).mean(axis=(1, 3))
    generator = make_generator(ddcgan_config("pyramid", scale, intensity_upsample=intensity_upsample))
    generator.build_for_inference()
    for layer in generator.detail + [generator.base]:  # a network that is not the plain rule
        layer.out.kernel.assign(np.full(layer.out.kernel.shape, 0.05, np.float32))
    whole = run_generator(generator, vis, ir, scale, tile=2048)
    tiled = run_generator(generator, vis, ir, scale, tile=100)
    assert np.abs(whole - tiled).max() < 1e-4


def test_shipped_preset_in_bf16_stays_within_a_level(shared_data):
    """`--precision bf16`: the selectors' convolutions compute in bfloat16, the pyramid in
    float32; on a real pair the output moves by well under one 8-bit level on average."""
    from tf_irgan.pipelines.fusion import fuse_images
    from tf_irgan.presets import load_preset

    tno = shared_data / "tno"
    vis, ir = read_image(tno / "vi" / "10.png")[:160, :200], read_image(tno / "ir" / "10.png")[:160, :200]
    ir_small = to_gray(ir).reshape(40, 4, 50, 4).mean(axis=(1, 3))
    for name, ir_input in (("ddcgan-ir-vis", ir), ("ddcgan-ir-vis-x4", ir_small)):
        model = load_preset(name, "bf16").model
        convs = [layer for layer in model._flatten_layers() if type(layer).__name__ == "Conv2D"]
        # Three convolutions per selector: one per level with a network, one for the base.
        assert len(convs) == 3 * (len(model.detail) + 1) >= 9
        assert {c.compute_dtype for c in convs} == {"bfloat16"}
        fp32 = fuse_images(vis, ir_input, preset=name, precision="fp32").image
        bf16 = fuse_images(vis, ir_input, preset=name, precision="bf16").image
        assert bf16.dtype == np.float32 and np.abs(bf16 - fp32).mean() < 1 / 255


@pytest.mark.parametrize("h,w", [(37, 53), (9, 4), (1, 1), (480, 640)])
def test_opencv_filters_equal_the_keras_ones(h, w):
    """`models.pyramid_opencv.separable` is `filters.separable` (renormalised borders included)
    for every filter the generator uses: the blur, the pyramid's down and up, the IR's
    enlargements at x2 and x4."""
    from tf_irgan import filters, losses
    from tf_irgan.models import pyramid, pyramid_opencv

    x = _image(h, w)
    cases = [(pyramid.BINOMIAL, 1, False), (pyramid.BINOMIAL, 2, False),
             (pyramid.BINOMIAL_UP, 2, True), (losses.cubic_taps(4), 4, True),
             (1 - np.abs(np.arange(4) - 1.5) / 2, 2, True)]
    for taps, stride, transpose in cases:
        keras_out = np.asarray(filters.separable(x, taps, stride=stride, transpose=transpose))[0, :, :, 0]
        ours = pyramid_opencv.separable(x[0, :, :, 0], taps, stride, transpose)
        assert ours.shape == keras_out.shape
        np.testing.assert_allclose(ours, keras_out, atol=2e-6)


@pytest.mark.parametrize("scale,settings", [
    (1, {}),
    (1, {"rule_levels": 1, "noise_levels": 1}),                         # the video preset's
    (1, {"levels": 3, "brightness": 10.0, "brightness_from": 1, "rule_levels": 2}),
    (4, {"intensity_upsample": "bicubic"}),
    (2, {"intensity_upsample": "bilinear", "noise_levels": 2}),
])
def test_opencv_engine_equals_the_keras_generator(scale, settings):
    """What `fuse` runs for a `pyramid` generator (fixed filters in OpenCV, selectors in one
    TensorFlow graph) gives the Keras model's output, on odd sizes and every setting."""
    from tf_irgan.models.pyramid_opencv import OpenCVPyramid
    from tf_irgan.pipelines.fusion import _compiled

    generator = PyramidGenerator(scale=scale, **settings)
    generator.build_for_inference()
    rng = np.random.default_rng(3)
    for layer in generator.detail + [generator.base]:   # a network that is not the plain rule
        layer.out.kernel.assign(rng.normal(0, 0.5, layer.out.kernel.shape).astype(np.float32))
    h, w = 61 * scale, 83 * scale
    vis = cv2.GaussianBlur(RNG.random((h, w)).astype(np.float32), (0, 0), 1.5)
    ir = cv2.GaussianBlur(RNG.random((h // scale, w // scale)).astype(np.float32), (0, 0), 1.0)
    expected = _compiled(generator)({"detail": vis[None, :, :, None],
                                     "intensity": ir[None, :, :, None]}).numpy()[0, :, :, 0]
    fused = OpenCVPyramid(generator)(vis, ir)
    assert fused.shape == (h, w)
    np.testing.assert_allclose(fused, expected, atol=2e-5)
