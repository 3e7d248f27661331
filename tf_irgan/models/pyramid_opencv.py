"""The `pyramid` generator's inference with its fixed filters in OpenCV (issue 31: video).

`PyramidGenerator.call` computes its Laplacian pyramids, local energies and collapse with Keras
ops: on a CPU those single-channel convolutions and the dozens of small ops around them take
most of a frame's time (docs/benchmarks.md, "Engines"), while OpenCV's vectorised filters do
the same arithmetic in a fraction of it. Here everything fixed runs in OpenCV and numpy, and the
learned selectors (a few 3x3 convolutions per level) run in one TensorFlow graph per call, in
the model's own precision. The numbers are the model's: the same renormalised borders, the same
rule, float32 throughout (`tests/test_pyramid.py` compares them).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from tf_irgan import losses
from tf_irgan.models import pyramid


@functools.lru_cache(maxsize=128)
def _edges(length: int, taps: tuple, stride: int, transpose: bool) -> tuple:
    """How a line of `length` pixels through the filter is renormalised, as (scale, edges):
    `scale` the interior's (taps summing to a constant away from the borders: a low-pass or an
    interpolation kernel), `edges` the (index, factor) pairs of the few border pixels whose taps
    fall partly outside and that need one more factor."""
    ones = _filtered(np.ones((length, 1), np.float32), np.array(taps, np.float32), stride,
                     transpose, 1.0, line=True)[:, 0].astype(np.float64)
    interior = ones[len(ones) // 2]
    factors = interior / ones
    edges = tuple((int(j), float(factors[j])) for j in np.flatnonzero(np.abs(factors - 1) > 1e-7))
    return float(1.0 / interior), edges


def _filtered(image, taps, stride, transpose, scale, line=False):
    """Zero-padded `taps` along both axes of (H, W) `image` (along the first only for a
    `line`), times `scale`: plain (centred), every `stride`-th output, or transposed (the image
    spread onto a grid `stride` times finer and filtered: an enlargement, aligned as Keras's
    `conv_transpose` with "same" padding puts input pixel i on output pixel stride * i)."""
    kernel = (taps[::-1] if transpose else taps) * np.float32(scale)
    # The kernel's centre: its middle tap, or for a transposed one where "same" padding puts it.
    anchor = len(taps) - 1 - (len(taps) - stride) // 2 if transpose else len(taps) // 2
    if transpose:
        height, width = image.shape
        spread = np.zeros((height * stride, width if line else width * stride), np.float32)
        spread[::stride, ::1 if line else stride] = image
        image = spread
    if line:
        out = cv2.sepFilter2D(image, cv2.CV_32F, np.ones(1, np.float32), kernel, anchor=(0, anchor),
                              borderType=cv2.BORDER_CONSTANT)
    else:
        out = cv2.sepFilter2D(image, cv2.CV_32F, kernel, kernel, anchor=(anchor, anchor),
                              borderType=cv2.BORDER_CONSTANT)
    if stride > 1 and not transpose:
        out = out[::stride] if line else out[::stride, ::stride]
    return np.ascontiguousarray(out)


def separable(image: np.ndarray, taps: np.ndarray, stride: int = 1,
              transpose: bool = False) -> np.ndarray:
    """`filters.separable` on one (H, W) float32 image: plain, every `stride`-th output, or
    transposed (an enlargement), with the taps outside the image dropped and the rest
    renormalised. Zero padding and one pass of OpenCV's filter, then a factor on the few border
    rows and columns whose taps fell partly outside (the interior's is in the taps)."""
    taps = np.asarray(taps, np.float32)
    key = tuple(taps.tolist())
    row_scale, row_edges = _edges(image.shape[0], key, stride, transpose)
    column_scale, column_edges = _edges(image.shape[1], key, stride, transpose)
    out = _filtered(image, taps, stride, transpose, np.sqrt(row_scale * column_scale))
    for j, factor in row_edges:
        out[j] *= factor
    for j, factor in column_edges:
        out[:, j] *= factor
    return out


def blur(image):
    """`pyramid.blur` of one image."""
    return separable(image, pyramid.BINOMIAL)


def pyramid_down(image):
    """`pyramid.pyramid_down` of one image."""
    return separable(image, pyramid.BINOMIAL, stride=2)


def pyramid_up(image, like_shape):
    """`pyramid.pyramid_up` of one image, cropped to `like_shape`."""
    return separable(image, pyramid.BINOMIAL_UP, stride=2, transpose=True)[:like_shape[0], :like_shape[1]]


def laplacian_bands(image, levels):
    """`pyramid.laplacian_bands` of one image."""
    bands, gaussians, current = [], [], image
    for _ in range(levels):
        smaller = pyramid_down(current)
        bands.append(current - pyramid_up(smaller, current.shape))
        gaussians.append(current)
        current = smaller
    return bands, gaussians, current


def _log_energy(power, noise=None, floor=None):
    """`pyramid.log_energy` (a new array; `power` is kept)."""
    if noise is None:
        out = power + np.float32(pyramid.ENERGY_EPS)
    else:
        out = power - np.float32(noise)
        np.maximum(out, 0.0, out=out)
        out += np.float32(floor + pyramid.ENERGY_EPS)
    return cv2.log(out, dst=out)


def _noise_variance(band) -> float:
    """`pyramid.noise_variance` of one image."""
    median = np.median(np.abs(band[::4, ::4]))
    return float(np.float32(median / pyramid.MAD_TO_SIGMA) ** 2)


def _sigmoid_of(logit):
    """sigmoid(logit), computed in `logit`'s own array (which it returns)."""
    np.negative(logit, out=logit)
    cv2.exp(logit, dst=logit)
    logit += np.float32(1.0)
    return np.reciprocal(logit, out=logit)


def _blend(weight, d, i):
    """weight * d + (1 - weight) * i, in `weight`'s array."""
    weight *= d - i
    weight += i
    return weight


class OpenCVPyramid:
    """`model` (a `PyramidGenerator`) as a function of (detail (H, W), intensity (h, w)) float32
    arrays -> the fused (H, W): its output, computed as above."""

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        # Known channel counts (6 features per detail level, 2 at the base): with unknown ones
        # the graph's convolutions run 2-3x slower.
        networks = list(model.detail) + [model.base]
        specs = [tf.TensorSpec([1, None, None, 6], tf.float32)] * len(model.detail) + \
            [tf.TensorSpec([1, None, None, 2], tf.float32)]

        def selectors(features):
            return [tf.cast(network(feature), tf.float32)
                    for network, feature in zip(networks, features)]
        self._selectors = tf.function(selectors, input_signature=[specs])

    def __call__(self, detail: np.ndarray, intensity: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        m = self.model
        detail = np.ascontiguousarray(detail, np.float32)
        intensity = np.ascontiguousarray(intensity, np.float32)
        if m.scale > 1:
            taps = (losses.cubic_taps(m.scale) if m.intensity_upsample == "bicubic"
                    else losses.linear_taps(m.scale))
            intensity = separable(intensity, taps, stride=m.scale, transpose=True)
        d_bands, d_levels, d_base = laplacian_bands(detail, m.levels)
        i_bands, i_levels, i_base = laplacian_bands(intensity, m.levels)
        energies, rules = {}, {}
        for k in range(m.levels):
            d, i = d_bands[k], i_bands[k]
            power_d, power_i = blur(d * d), blur(i * i)
            # The plain energies: the rule's, unless the noise-aware one replaces it, and a
            # network's features (a rule-only level with the noise-aware rule needs neither).
            if k >= m.rule_levels or k >= m.noise_levels:
                energies[k] = (_log_energy(power_d), _log_energy(power_i))
            if k < m.noise_levels:
                noise_d, noise_i = _noise_variance(d), _noise_variance(i)
                floor = max(noise_d, noise_i)
                rules[k] = _log_energy(power_d, noise_d, floor)
                rules[k] -= _log_energy(power_i, noise_i, floor)
            else:
                rules[k] = energies[k][0] - energies[k][1]
        features = []
        for k in range(m.rule_levels, m.levels):
            planes = [d_bands[k], i_bands[k], energies[k][0] / 8, energies[k][1] / 8,
                      d_levels[k], i_levels[k]]
            features.append(tf.constant(cv2.merge(planes)[None]))
        features.append(tf.constant(cv2.merge([d_base, i_base])[None]))
        logits = [logit.numpy()[0, :, :, 0] for logit in self._selectors(features)]
        gain = np.float32(m.gain.numpy())
        brighter = np.float32(m.brightness_gain.numpy()) if m.brightness else None
        logit = np.array(logits[-1], np.float32)
        if brighter is not None:
            logit += brighter * (d_base - i_base)
        fused = _blend(_sigmoid_of(logit), d_base, i_base)
        for k in reversed(range(m.levels)):
            d, i = d_bands[k], i_bands[k]
            logit = rules[k]
            logit *= gain
            if k >= m.rule_levels:
                logit += logits[k - m.rule_levels]
            if brighter is not None and k >= m.brightness_from:
                logit += brighter * (d_levels[k] - i_levels[k])
            band = _blend(_sigmoid_of(logit), d, i)
            band += pyramid_up(fused, d.shape)
            fused = band
        return np.clip(fused, 0.0, 1.0, out=fused)
