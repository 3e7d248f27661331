"""Building blocks shared by the networks."""

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable("tf_irgan")
class ClipWeights(keras.constraints.Constraint):
    """Clip every weight into [-limit, limit] after each update (DDcGAN's official code does)."""

    def __init__(self, limit=8.0):
        self.limit = float(limit)

    def __call__(self, w):
        return ops.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


def constraint_kwargs(limit, names=("kernel", "bias")):
    """`kernel_constraint=...` style keyword arguments, or nothing when clipping is off."""
    if not limit:
        return {}
    return {f"{name}_constraint": ClipWeights(limit) for name in names}


NORM_STATISTICS = ("moving", "image")

# A fusion generator's arguments under their former names (presets saved before the two inputs
# were named detail and intensity, after the IR/visible case) -> their names now.
RENAMED_ARGUMENTS = {"ir_upsample": "intensity_upsample",
                     "ir_upsample_kernel": "intensity_upsample_kernel"}


def renamed_arguments(config: dict) -> dict:
    """A saved generator config with its arguments under their current names."""
    return {RENAMED_ARGUMENTS.get(k, k): v for k, v in config.items()}


def truncated_normal(stddev):
    """The released code's initializer, as a config dict (it travels in a preset's config.json)."""
    return {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": stddev, "seed": None}}


@keras.saving.register_keras_serializable("tf_irgan")
class ReflectConv(layers.Layer):
    """Reflect-pad by kernel//2, then a VALID conv, optional batch norm and activation.

    Reflection instead of zero padding keeps image borders free of the dark frame that zero
    padding teaches a fusion network to draw.

    `statistics`: what batch norm normalises with outside training: "moving" (the statistics
    collected in training, Keras's way) or "image" (each image's own, over its height and
    width: the released DDcGAN code fuses one image at a time in training mode, its moving
    statistics never updated; per image, images batched together do not change each other).
    """

    def __init__(self, filters, kernel_size=3, strides=1, batch_norm=True, activation="relu",
                 weight_clip=None, kernel_initializer="he_normal", synchronized=False,
                 epsilon=1e-5, momentum=0.9, statistics="moving", **kwargs):
        super().__init__(**kwargs)
        if statistics not in NORM_STATISTICS:
            raise ValueError(f"statistics={statistics!r}: use {' or '.join(NORM_STATISTICS)}")
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.batch_norm, self.activation_name, self.weight_clip = batch_norm, activation, weight_clip
        self.kernel_initializer, self.synchronized = kernel_initializer, synchronized
        self.epsilon, self.momentum, self.statistics = epsilon, momentum, statistics
        self.conv = layers.Conv2D(filters, kernel_size, strides=strides, padding="valid",
                                  kernel_initializer=kernel_initializer,
                                  dtype=self.dtype_policy,
                                  **constraint_kwargs(weight_clip))
        # synchronized: batch statistics over all replicas (the global batch), not each one's.
        self.norm = (layers.BatchNormalization(momentum=momentum, epsilon=epsilon, dtype=self.dtype_policy,
                                               synchronized=synchronized,
                                               **constraint_kwargs(weight_clip, ("beta", "gamma")))
                     if batch_norm else None)
        self.activation = keras.activations.get(activation) if activation else None

    def build(self, input_shape):
        pad = self.kernel_size // 2
        padded = (input_shape[0], None if input_shape[1] is None else input_shape[1] + 2 * pad,
                  None if input_shape[2] is None else input_shape[2] + 2 * pad, input_shape[3])
        self.conv.build(padded)
        if self.norm is not None:
            self.norm.build(self.conv.compute_output_shape(padded))

    def call(self, x, training=False, normalize=True):
        """`normalize=False` skips the batch norm: the released DDcGAN decoder applies its first
        kernel once without it and once with it."""
        pad = self.kernel_size // 2
        if pad:
            x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect")
        x = self.conv(x)
        if self.norm is not None and normalize:
            if training or self.statistics == "moving":
                x = self.norm(x, training=training)
            else:  # each image's own statistics (float32), the moving ones untouched
                dtype = x.dtype
                x = ops.cast(x, "float32")
                mean, variance = ops.moments(x, axes=[1, 2], keepdims=True)
                x = (x - mean) * ops.rsqrt(variance + self.epsilon) * self.norm.gamma + self.norm.beta
                x = ops.cast(x, dtype)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        pad = self.kernel_size // 2

        def out(n):
            return None if n is None else (n + 2 * pad - self.kernel_size) // self.strides + 1
        return (input_shape[0], out(input_shape[1]), out(input_shape[2]), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "batch_norm": self.batch_norm,
                "activation": self.activation_name, "weight_clip": self.weight_clip,
                "kernel_initializer": self.kernel_initializer, "synchronized": self.synchronized,
                "epsilon": self.epsilon, "momentum": self.momentum, "statistics": self.statistics}


@keras.saving.register_keras_serializable("tf_irgan")
class BilinearUpsampling(keras.initializers.Initializer):
    """A transposed-conv kernel that starts as bilinear interpolation by `scale` (kernel 2*scale),
    so the IR path begins as a smooth upsampler instead of random noise."""

    def __init__(self, scale):
        self.scale = int(scale)

    def __call__(self, shape, dtype=None):
        size = shape[0]
        factor = (size + 1) // 2
        centre = factor - 1 if size % 2 == 1 else factor - 0.5
        taps = 1 - abs(np.arange(size) - centre) / factor
        kernel = np.outer(taps, taps).reshape(size, size, 1, 1) * np.ones((1, 1) + tuple(shape[2:]))
        return ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self):
        return {"scale": self.scale}


@keras.saving.register_keras_serializable("tf_irgan")
class Identity3x3(keras.initializers.Initializer):
    """A 3x3 single-channel kernel that starts as the identity (a centred delta)."""

    def __call__(self, shape, dtype=None):
        kernel = np.zeros(shape)
        kernel[shape[0] // 2, shape[1] // 2] = 1.0
        return ops.convert_to_tensor(kernel, dtype=dtype or "float32")
