"""Fusion and translation metrics on images whose values can be worked out by hand."""

import math
import time

import cv2
import numpy as np
import pytest

from tf_irgan.metrics import (
    CONVENTIONS,
    METRIC_NAMES,
    TRANSLATION_METRIC_NAMES,
    average_gradient,
    correlation,
    correlation_coefficient,
    entropy,
    fusion_metrics,
    fusion_mse,
    fusion_psnr,
    fusion_ssim,
    fusion_vif,
    mutual_information,
    mutual_information_pair,
    qabf,
    scd,
    spatial_frequency,
    ssim,
    standard_deviation,
    translation_metrics,
    vif,
)


def _constant(value=100.0, shape=(16, 16)):
    return np.full(shape, value)


def _ramp(step=3.0, shape=(16, 20)):
    return np.tile(np.arange(shape[1]) * step, (shape[0], 1)).astype(np.float64)


def _checkerboard(shape=(16, 16), low=0.0, high=255.0):
    rows, cols = np.indices(shape)
    return np.where((rows + cols) % 2 == 0, low, high).astype(np.float64)


def _smooth_texture(shape=(64, 64), seed=0):
    # Blurred noise has structure at several scales (VIF, Qabf and SSIM need local variance).
    blurred = cv2.GaussianBlur(np.random.default_rng(seed).random(shape), (0, 0), 2.0)
    return 20.0 + 215.0 * (blurred - blurred.min()) / (blurred.max() - blurred.min())


# ---------------------------------------------------------------- EN, SD, SF, AG

def test_constant_image_has_no_information_spread_or_detail():
    flat = _constant()
    assert entropy(flat) == 0.0
    assert standard_deviation(flat) == 0.0
    assert spatial_frequency(flat) == 0.0
    assert average_gradient(flat) == 0.0


def test_ramp_spatial_frequency_and_average_gradient():
    ramp = _ramp(step=3.0)
    # Every horizontal step is 3 and there is no vertical change.
    assert spatial_frequency(ramp) == pytest.approx(3.0)
    assert average_gradient(ramp) == pytest.approx(3.0 / math.sqrt(2.0))
    # 20 equally frequent levels 0, 3, ..., 57.
    assert standard_deviation(ramp) == pytest.approx(3.0 * math.sqrt((20 ** 2 - 1) / 12.0))
    assert entropy(ramp) == pytest.approx(math.log2(20))


def test_checkerboard_entropy_is_one_bit_and_sf_is_full_swing():
    board = _checkerboard()
    assert entropy(board) == pytest.approx(1.0)
    assert standard_deviation(board) == pytest.approx(127.5)
    assert spatial_frequency(board) == pytest.approx(255.0 * math.sqrt(2.0))


def test_entropy_rounds_half_up_without_parity_artifacts():
    # Half-to-even rounding would send 0.5 -> 0, 1.5 -> 2 and 2.5 -> 2: two levels, not three.
    image = np.repeat(np.array([0.5, 1.5, 2.5]), 64).reshape(12, 16)
    assert entropy(image) == pytest.approx(math.log2(3))


# ---------------------------------------------------------------- MI

def test_mutual_information_of_an_image_with_itself_is_its_entropy_in_nats():
    board = _checkerboard()
    assert mutual_information_pair(board, board) == pytest.approx(math.log(2.0))
    texture = _smooth_texture()
    assert mutual_information_pair(texture, texture) == pytest.approx(entropy(texture) * math.log(2.0))


def test_mutual_information_of_independent_patterns_is_zero():
    rows, cols = np.indices((16, 16))
    stripes_a = 255.0 * (rows % 2)
    stripes_b = 255.0 * (cols % 2)
    assert mutual_information_pair(stripes_a, stripes_b) == pytest.approx(0.0, abs=1e-12)


def test_fusion_mutual_information_is_symmetric_in_the_sources():
    a, b = _smooth_texture(seed=1), _smooth_texture(seed=2)
    f = (a + b) / 2
    assert mutual_information(a, b, f) == pytest.approx(mutual_information(b, a, f))


# ---------------------------------------------------------------- SCD, CC

def test_scd_of_the_sum_of_the_sources_is_two_and_symmetric():
    a, b = _smooth_texture(seed=3), _smooth_texture(seed=4)
    assert scd(a, b, a + b) == pytest.approx(2.0)
    f = 0.3 * a + 0.7 * b
    assert scd(a, b, f) == pytest.approx(scd(b, a, f))


def test_cc_symmetric_and_bounded():
    a, b = _smooth_texture(seed=5), _smooth_texture(seed=6)
    f = (a + b) / 2
    assert correlation_coefficient(a, b, f) == pytest.approx(correlation_coefficient(b, a, f))
    assert correlation_coefficient(a, a, a) == pytest.approx(1.0)
    assert correlation(a, -a) == pytest.approx(-1.0)
    assert correlation(a, _constant(7.0, a.shape)) == 0.0  # flat: no signal to correlate


# ---------------------------------------------------------------- VIF

def test_vif_of_an_image_with_itself_is_one_per_side():
    a = _smooth_texture(shape=(96, 80))
    assert vif(a, a) == pytest.approx(1.0, abs=1e-6)
    assert fusion_vif(a, a, a) == pytest.approx(2.0, abs=1e-6)


def test_vif_drops_with_noise_and_is_undefined_for_a_flat_reference():
    a = _smooth_texture(shape=(96, 80))
    noisy = a + np.random.default_rng(7).normal(0.0, 20.0, a.shape)
    assert 0.0 < vif(a, noisy) < 0.9
    assert math.isnan(vif(_constant(50.0, a.shape), a))


# ---------------------------------------------------------------- Qabf

def test_qabf_of_perfect_preservation_is_the_sigmoid_ceiling():
    a = _smooth_texture()
    # The sigmoids top out below 1: Tg/(1+e^{kg(1-Dg)}) * Ta/(1+e^{ka(1-Da)}).
    ceiling = 0.9994 / (1 + math.exp(-15 * 0.5)) * 0.9879 / (1 + math.exp(-22 * 0.2))
    assert qabf(a, a, a) == pytest.approx(ceiling, rel=1e-9)
    assert ceiling > 0.97


def test_qabf_of_a_flat_result_is_near_zero():
    a, b = _smooth_texture(seed=8), _smooth_texture(seed=9)
    # Only the zero-padded image border still carries an edge in a flat F.
    assert qabf(a, b, _constant(100.0, a.shape)) < 0.2
    assert qabf(a, b, np.zeros(a.shape)) < 0.01


# ---------------------------------------------------------------- SSIM, MSE, PSNR

def test_ssim_identity_and_symmetry():
    a, b = _smooth_texture(seed=10), _smooth_texture(seed=11)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    assert ssim(a, b) < 0.9
    assert fusion_ssim(a, a, a) == pytest.approx(2.0)
    assert ssim(_constant(), _constant()) == pytest.approx(1.0)


def test_mse_and_psnr_of_a_constant_offset():
    zeros = np.zeros((16, 16))
    assert fusion_mse(zeros, zeros, zeros + 10.0) == pytest.approx(100.0)
    assert fusion_psnr(zeros, zeros, zeros + 10.0) == pytest.approx(10 * math.log10(255 ** 2 / 100.0))
    assert fusion_psnr(zeros, zeros, zeros) == 100.0  # capped, stays JSON-safe


# ---------------------------------------------------------------- all at once

def test_fusion_metrics_keys_and_scale():
    a, b = _smooth_texture(seed=12) / 255, _smooth_texture(seed=13) / 255
    a, b = np.clip(a, 0, 1), np.clip(b, 0, 1)
    f = (a + b) / 2
    scores = fusion_metrics(a, b, f)
    assert tuple(scores) == METRIC_NAMES == ("EN", "SD", "SF", "AG", "MI", "SCD", "VIF", "Qabf",
                                              "SSIM", "CC", "PSNR", "MSE", "Clip", "Noise")
    assert all(isinstance(value, float) for value in scores.values())
    same = fusion_metrics(a * 255, b * 255, f * 255, data_range=255)
    for name in METRIC_NAMES:
        assert scores[name] == pytest.approx(same[name], rel=1e-9, abs=1e-12, nan_ok=True)


def test_identical_inputs_and_output():
    x = np.clip(_smooth_texture(seed=14) / 255, 0, 1)
    scores = fusion_metrics(x, x, x)
    assert scores["MSE"] == 0.0
    assert scores["PSNR"] == 100.0
    assert scores["CC"] == pytest.approx(1.0)
    assert scores["SSIM"] == pytest.approx(2.0)
    assert scores["VIF"] == pytest.approx(2.0, abs=1e-6)
    assert scores["SCD"] == 0.0  # F - B is flat: nothing of A is added
    assert scores["MI"] == pytest.approx(2 * scores["EN"] * math.log(2.0))
    assert scores["Qabf"] == pytest.approx(0.975, abs=0.001)


def test_conventions_state_units_and_choices():
    assert "nats" in CONVENTIONS["MI"]
    assert "BT.601" in CONVENTIONS["color_to_gray"]
    assert "11x11" in CONVENTIONS["SSIM"] and "255" in CONVENTIONS["SSIM"]
    assert set(METRIC_NAMES) <= set(CONVENTIONS)


def test_a_large_triple_is_fast():
    rng = np.random.default_rng(15)
    a, b = rng.random((576, 768)), rng.random((576, 768))
    start = time.perf_counter()
    fusion_metrics(a, b, (a + b) / 2)
    # About 0.2 s here; a per-pixel Python loop would take minutes.
    assert time.perf_counter() - start < 5.0


def test_tno_averaging_reproduces_the_reference_numbers(shared_data):
    """Plain averaging of the 25 TNO pairs, quantised to 8 bits as numpy rounds (half to even)."""
    reference = {"EN": 6.23, "SD": 26.1, "SF": 6.96, "MI": 1.60, "SCD": 1.54, "VIF": 0.57, "Qabf": 0.36}
    tolerance = {"EN": 0.01, "SD": 0.05, "SF": 0.01, "MI": 0.01, "SCD": 0.01, "VIF": 0.01, "Qabf": 0.01}
    rows = []
    for ir_path in sorted((shared_data / "tno" / "ir").glob("*.png")):
        a = cv2.imread(str(ir_path), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        b = cv2.imread(str(shared_data / "tno" / "vi" / ir_path.name), cv2.IMREAD_GRAYSCALE).astype(np.float64)
        rows.append(fusion_metrics(a, b, np.round((a + b) / 2), data_range=255))
    assert len(rows) == 25
    for name, expected in reference.items():
        measured = float(np.mean([row[name] for row in rows]))
        assert measured == pytest.approx(expected, abs=tolerance[name]), name


# ---------------------------------------------------------------- translation

def test_translation_metrics_identical_and_offset():
    target = np.clip(_smooth_texture(seed=16) / 255, 0, 1)
    same = translation_metrics(target, target)
    assert tuple(same) == TRANSLATION_METRIC_NAMES == ("MAE", "MSE", "PSNR", "SSIM")
    assert same["MAE"] == 0.0 and same["MSE"] == 0.0
    assert same["PSNR"] == 100.0 and same["SSIM"] == pytest.approx(1.0)

    target = np.full((32, 32), 0.4)
    shifted = translation_metrics(target + 0.1, target)
    assert shifted["MAE"] == pytest.approx(0.1)
    assert shifted["MSE"] == pytest.approx(0.01)
    assert shifted["PSNR"] == pytest.approx(20.0)


def test_translation_metrics_on_color():
    rgb = np.clip(np.stack([_smooth_texture(seed=s) / 255 for s in (17, 18, 19)], axis=-1), 0, 1)
    scores = translation_metrics(rgb, rgb)
    assert scores["SSIM"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        translation_metrics(rgb, rgb[..., 0])


def test_grid_strength_finds_a_checkerboard_and_lines_but_not_a_scene():
    """A +-a checkerboard or a line every 8 pixels added to a smooth scene reads as about its
    amplitude; the scene alone, shifted by a pixel, and its colored version read near zero."""
    from tf_irgan.metrics.translation import grid_strength

    # Noise blurred at sigma 4 over the full range: content at every period >= 8 px, but its
    # phase means average out (~1.5e-4 here; sigma 2 at this size reads ~0.003).
    blurred = cv2.GaussianBlur(np.random.default_rng(20).random((240, 320)), (0, 0), 4.0)
    scene = (blurred - blurred.min()) / (blurred.max() - blurred.min())
    board = (np.indices(scene.shape).sum(0) % 2 * 2 - 1) * 0.01
    assert grid_strength(scene) < 0.001
    assert grid_strength(np.roll(scene, 1, axis=1)) < 0.001
    assert grid_strength(scene + board) == pytest.approx(0.01, rel=0.1)
    lines = np.zeros_like(scene)
    lines[:, ::8] = 0.04   # one bright column in 8: RMS over phases sqrt(7) * 0.04 / 8
    assert grid_strength(scene + lines) == pytest.approx(np.sqrt(7) * 0.04 / 8, rel=0.1)
    color = np.stack([scene, scene, scene + board], axis=-1)   # a grid in one channel counts
    assert grid_strength(color) == pytest.approx(0.01 / np.sqrt(3), rel=0.1)
    assert grid_strength(np.round((scene + board) * 255).astype(np.uint8)) == pytest.approx(0.01, rel=0.1)
    with pytest.raises(ValueError, match="too small"):
        grid_strength(scene[:40, :200])   # 3 periods of rows inside the border: too few


def test_clip_counts_the_share_of_saturated_pixels():
    """Issue 12's highlight check: the percentage of fused pixels whose 8-bit value is 255
    (254.5 rounds up to it, 254.4 does not)."""
    from tf_irgan.metrics.fusion import clipped_share

    f = np.full((10, 10), 100.0)
    assert clipped_share(f) == 0.0
    f[0, :5], f[1, :3], f[2, :4] = 255.0, 254.5, 254.4
    assert clipped_share(f) == pytest.approx(8.0)
    a = b = np.full((16, 16), 0.5)
    fused = np.full((16, 16), 0.5)
    fused[:4] = 1.0
    assert fusion_metrics(a, b, fused)["Clip"] == pytest.approx(25.0)


def test_flat_region_noise_tells_a_noisier_fusion_from_a_quieter_one():
    """Noise: F's flat-region noise over the noisier source's. A fusion that adds noise scores
    above 1, averaging two independently noisy images below 1, and a scene without flat blocks
    has no value."""
    from tf_irgan.metrics.fusion import flat_noise

    rng = np.random.default_rng(4)
    y, x = np.mgrid[0:128, 0:160]
    scene = 120.0 + 0.05 * x                       # a sky: flat up to a gentle gradient
    a = scene + rng.normal(0, 3.0, scene.shape)    # IR, the noisier source
    b = scene + rng.normal(0, 1.5, scene.shape)
    assert flat_noise(a, b, a) == pytest.approx(1.0)
    assert flat_noise(a, b, (a + b) / 2) < 0.8
    assert flat_noise(a, b, a + rng.normal(0, 4.0, scene.shape)) > 1.5
    busy = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    assert math.isnan(flat_noise(busy, busy, busy))
