"""A DDcGAN generator that fuses through a Laplacian pyramid: fixed filters split both inputs
into detail bands and a coarse base, small learned networks decide, per pixel and per band, how
much of each source to keep, and the pyramid is collapsed again (docs/ddcgan.md, `pyramid`).

Why: the classical pyramid with a good selection rule is hard to beat per multiply-add; a
network that produces pixels has to learn the decomposition too. Here the network only learns
the rule. Every band of the result is a convex combination of the sources' bands, so it cannot
invent structure that neither source has, and it costs a tenth of the `salient` generator.

Every operation is in `keras.ops` (the same on TensorFlow, JAX and PyTorch) and traces with
unknown image sizes (SavedModel signatures); any size works, odd ones included.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from tf_irgan import filters, losses
from tf_irgan.models.layers import renamed_arguments

# The 5-tap binomial filter of Burt and Adelson's pyramid (OpenCV's pyrDown/pyrUp).
BINOMIAL = np.array([1, 4, 6, 4, 1], np.float32) / 16
BINOMIAL_UP = np.append(BINOMIAL, 0).astype(np.float32)   # for pyramid_up, see there
ENERGY_EPS = 1e-6


def blur(images):
    """5x5 binomial low-pass of (B, H, W, 1) images. Near the borders the taps outside the image
    are dropped and the rest renormalised (OpenCV mirrors instead): this works on levels of one
    pixel, where mirroring by two cannot, so any image of 8 pixels or more gets all its levels."""
    return filters.separable(images, BINOMIAL)


def pyramid_down(images):
    """Blur, keeping every second row and column: ceil(H/2) x ceil(W/2), as cv2.pyrDown. Only
    the kept pixels are computed."""
    return filters.separable(images, BINOMIAL, stride=2)


def pyramid_up(images, like):
    """Enlarge 2x with the binomial filter and crop to `like`'s size. A transposed convolution
    whose weights are renormalised at the borders (so it traces with unknown sizes); equal to
    cv2.pyrUp away from the borders. The 6-tap kernel (a zero last tap) puts input pixel i on
    output pixel 2i, where `pyramid_down` took it from."""
    shape = ops.shape(like)
    return filters.separable(images, BINOMIAL_UP, stride=2, transpose=True)[:, :shape[1], :shape[2], :]


def laplacian_bands(images, levels):
    """(detail bands finest first, Gaussian levels finest first, base): image = collapse(...)."""
    bands, gaussians, current = [], [], images
    for _ in range(levels):
        smaller = pyramid_down(current)
        bands.append(current - pyramid_up(smaller, current))
        gaussians.append(current)
        current = smaller
    return bands, gaussians, current


def log_energy(power, noise=None, floor=None):
    """log of a band's local power (blur(band^2), the binomial-weighted mean of band^2 around
    each pixel): how much detail a source has there, on a log scale so that the rule depends on
    the ratio of the two sources. With `noise` (the band's noise variance, `noise_variance`),
    only what exceeds it counts, over a common `floor` (the larger of the two sources' noise
    variances): where both sources hold noise alone, both energies sit at the floor and the
    rule averages them; a scene's detail rises above it."""
    if noise is not None:
        return ops.log(ops.maximum(power - noise, 0.0) + floor + ENERGY_EPS)
    return ops.log(power + ENERGY_EPS)


# The median absolute value of a band of Gaussian noise is 0.6745 of its standard deviation.
MAD_TO_SIGMA = 0.6745


def noise_variance(band):
    """Each image's noise variance in a detail band, (B, 1, 1, 1): (median |band| / 0.6745)^2,
    the robust estimate of wavelet denoising (a scene's edges are few against its pixels, so
    the median sees the noise). The median of every 4th row and column: a 16th of the sort."""
    sample = ops.abs(band[:, ::4, ::4, :])
    median = ops.quantile(ops.reshape(sample, (ops.shape(sample)[0], -1)), 0.5, axis=1)
    return ops.reshape(ops.square(median / MAD_TO_SIGMA), (-1, 1, 1, 1))


@keras.saving.register_keras_serializable("tf_irgan")
class Selector(layers.Layer):
    """A small network at one pyramid level: features of both sources -> the logit of the
    visible source's weight. Its last layer starts at zero, so a new selector returns
    `prior` (the log-energy rule, or 0 = half of each for the base)."""

    def __init__(self, filters=16, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.hidden = [layers.Conv2D(filters, 3, padding="same", activation="relu",
                                     name=f"conv{i}") for i in range(2)]
        self.out = layers.Conv2D(1, 1, kernel_initializer="zeros", name="logit")

    def build(self, input_shape):
        shape = input_shape
        for layer in self.hidden:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.out.build(shape)

    def call(self, features):
        x = features
        for layer in self.hidden:
            x = layer(x)
        return self.out(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable("tf_irgan")
class PyramidGenerator(keras.Model):
    """Visible and IR -> Laplacian pyramids -> a learned soft selection per band -> collapse.

    At detail level k the visible band gets weight sigmoid(sharpness * (E_v - E_i) + net_k),
    E the log local energy of each source's band: the classical "stronger detail wins" rule
    made soft, plus what the level's network learns to add (it starts at zero). The base gets
    sigmoid(net_base), which starts at the average. For scale > 1 the IR is first enlarged
    (bilinear, or bicubic: `intensity_upsample`); its missing fine bands are near zero and the rule
    gives them to the visible.

    `brightness` > 0 adds "the brighter source wins" to every level's starting rule: the logit
    gains brightness * (G_v - G_i), G each source's Gaussian level there (its base at the base).
    A large brightness makes the collapse a pyramid blend of the two sources under the mask
    "visible brighter": the pixelwise maximum without its seams. Where one source's signal is
    brightness itself (a CT's bone, a tracer's uptake), the stronger-detail rule alone blends
    it toward the other's dark background. At 0 (the default) there is no such weight, so
    presets trained before the option load unchanged. `brightness_from` k > 0 keeps the term
    off the k finest detail levels: there the stronger detail alone decides (the edges that
    Qabf measures), while the coarser levels and the base still carry the brighter source's
    intensity. `rule_levels` k > 0 gives the k finest detail levels no network: the starting
    rule alone weighs them, so training cannot trade their edges away (and the finest level's
    network, most of the multiply-adds, is not run).
    """

    def __init__(self, scale=1, levels=4, filters=16, sharpness=4.0, intensity_upsample="bilinear",
                 brightness=0.0, brightness_from=0, rule_levels=0, noise_levels=0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.levels, self.filters = scale, levels, filters
        self.intensity_upsample = intensity_upsample
        self.sharpness = float(sharpness)
        self.brightness = float(brightness)
        self.brightness_from = int(brightness_from)
        self.rule_levels = int(rule_levels)
        self.noise_levels = int(noise_levels)
        # The `rule_levels` finest levels have no network: the rule alone weighs their bands.
        self.detail = [Selector(filters, name=f"detail{k}") for k in range(rule_levels, levels)]
        self.base = Selector(filters, name="base")
        self.gain = self.add_weight(shape=(), initializer=keras.initializers.Constant(sharpness),
                                    name="sharpness")
        self.brightness_gain = (self.add_weight(
            shape=(), initializer=keras.initializers.Constant(brightness), name="brightness")
            if brightness else None)

    @property
    def grid(self) -> int:
        """Tiles must start on multiples of this, where the coarsest level samples the image."""
        return 2 ** self.levels

    @property
    def context(self) -> int:
        """Pixels of context a tile needs for a result equal to the whole image's: the base
        pixel's reach (binomial radius 2 and two 3x3 convs, at 2^levels) plus the way up."""
        return 2 ** self.levels * 8

    def call(self, inputs, training=False):
        # The detail input (visible, MRI) and the intensity input (IR, PET); `self.detail` are
        # the selectors of the detail bands (their name is what saved presets hold).
        detail = ops.cast(inputs["detail"], "float32")
        intensity = ops.cast(inputs["intensity"], "float32")
        if self.scale > 1:
            enlarge = (losses.upsample_bicubic if self.intensity_upsample == "bicubic"
                       else losses.upsample_bilinear)
            intensity = enlarge(intensity, self.scale)
        d_bands, d_levels, d_base = laplacian_bands(detail, self.levels)
        i_bands, i_levels, i_base = laplacian_bands(intensity, self.levels)
        # The pyramid stays float32 under mixed precision; only the selectors' convolutions may
        # compute in bfloat16, and their logits come back to float32.
        gain = ops.cast(self.gain, "float32")
        logit = ops.cast(self.base(ops.concatenate([d_base, i_base], axis=-1)), "float32")
        brighter = ops.cast(self.brightness_gain, "float32") if self.brightness else None
        if brighter is not None:
            logit = logit + brighter * (d_base - i_base)
        weight = ops.sigmoid(logit)
        fused = weight * d_base + (1 - weight) * i_base
        for k in reversed(range(self.levels)):
            d, i = d_bands[k], i_bands[k]
            power_d, power_i = blur(ops.square(d)), blur(ops.square(i))
            energy_d, energy_i = log_energy(power_d), log_energy(power_i)
            if k < self.noise_levels:   # the rule weighs the signal above each source's noise
                noise_d, noise_i = noise_variance(d), noise_variance(i)
                floor = ops.maximum(noise_d, noise_i)
                rule = (log_energy(power_d, noise_d, floor) - log_energy(power_i, noise_i, floor))
            else:
                rule = energy_d - energy_i
            logit = gain * rule
            if k >= self.rule_levels:   # a level with a network: its features, only there
                features = ops.concatenate([d, i, energy_d / 8, energy_i / 8,
                                            d_levels[k], i_levels[k]], axis=-1)
                logit = logit + ops.cast(self.detail[k - self.rule_levels](features), "float32")
            if brighter is not None and k >= self.brightness_from:
                logit = logit + brighter * (d_levels[k] - i_levels[k])
            weight = ops.sigmoid(logit)
            fused = pyramid_up(fused, d) + weight * d + (1 - weight) * i
        return ops.clip(fused, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "levels": self.levels,
                "filters": self.filters, "sharpness": self.sharpness,
                "intensity_upsample": self.intensity_upsample, "brightness": self.brightness,
                "brightness_from": self.brightness_from, "rule_levels": self.rule_levels,
                "noise_levels": self.noise_levels}

    @classmethod
    def from_config(cls, config):
        return super().from_config(renamed_arguments(config))

    def build_for_inference(self):
        """Create the weights (the network is fully convolutional: any size builds it)."""
        q = 8
        self({"detail": ops.zeros((1, q * self.scale, q * self.scale, 1)),
              "intensity": ops.zeros((1, q, q, 1))})

    def macs_per_pixel(self) -> int:
        """Multiply-adds per output pixel: the selectors (level k runs on 1/4^k of the pixels)
        and the fixed filters (two pyramids, energies, the collapse)."""
        f = self.filters
        detail = 9 * 6 * f + 9 * f * f + f
        base = 9 * 2 * f + 9 * f * f + f
        per_level = 2 * 25 + 2 * 9 + 2 * 25 + 9 + 2 * 25  # down, up, energies, collapse up
        total = sum(((detail if k >= self.rule_levels else 0) + per_level) / 4 ** k
                    for k in range(self.levels))
        return int(round(total + base / 4 ** self.levels))
