"""pix2pix (Isola et al., CVPR 2017) for visible <-> infrared translation, as in the paper that
translates visible images into infrared ones and back: a U-Net generator and a conditional
discriminator judging (input, output) pairs, trained with the cGAN loss + lambda * L1.

Images enter and leave in [0, 1]; inside, the networks work on [-1, 1] (tanh output), as the
reference implementations do. Configs: `canonical` (Isola et al.: U-Net-256, 70x70 PatchGAN,
batch 1), `paper` (more downsampling, the paper's whole-image four-conv discriminator) and
`compact` (the project's CPU-sized network that the shipped presets use); docs/pix2pix.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers, ops

from tf_irgan.errors import UserError
from tf_irgan.models.base import GAN, Config, Step, make_config, per_example_mean, with_named_options

DIRECTIONS = {"vis2ir": ("vis", "ir", 3, 1), "ir2vis": ("ir", "vis", 1, 3)}
NORMS = ("batch", "instance", "sync-batch")  # sync-batch: statistics of the global batch
DISCRIMINATORS = ("patchgan", "paper")
# How the decoder doubles the resolution. "transpose": 4x4 stride-2 transposed convs (pix2pix;
# their uneven overlap prints a checkerboard, Odena et al. 2016). "resize": nearest-neighbour
# enlargement then a 3x3 conv. "subpixel": a 3x3 conv to 4x the channels, rearranged into 2x2
# pixels, initialised by ICNR (Aitken et al. 2017): it starts as one conv at the input size
# followed by a nearest-neighbour enlargement. The last two start with no grid: a constant
# input gives a constant output.
UPSAMPLINGS = ("transpose", "resize", "subpixel")


@dataclass
class Pix2PixConfig(Config):
    name: str = "canonical"
    batch_size: int = 1
    learning_rate: float = 2e-4
    g_optimizer: str = "adam"          # Adam, beta1 0.5
    d_optimizer: str = "adam"
    direction: str = "vis2ir"
    in_channels: int = 3
    out_channels: int = 1
    # U-Net: `depth` stride-2 levels (the input must be a multiple of 2**depth), widths
    # base_width * 2**level capped at max_width; dropout on the `dropout_layers` innermost
    # decoder blocks (also at inference, as in pix2pix's test mode: off here, see docs).
    depth: int = 8
    base_width: int = 64
    max_width: int = 512
    norm: str = "batch"
    dropout: float = 0.5
    dropout_layers: int = 3
    upsample: str = "transpose"        # UPSAMPLINGS
    discriminator: str = "patchgan"
    disc_width: int = 64
    disc_layers: int = 3               # stride-2 convs (PatchGAN: 3 gives the 70x70 field)
    l1_weight: float = 100.0
    # Learning rate: constant for the first `decay_start` of the run, then linear to zero.
    decay_start: float = 0.5
    crop: int = 256
    load: int = 286
    # Training inputs' brightness, contrast and saturation scaled by a random factor in
    # [1 - color_jitter, 1 + color_jitter] (0: off, as in pix2pix); targets are left as they are.
    color_jitter: float = 0.0

    def __post_init__(self):
        # Every path that makes a config comes here: a new run, --resume (run.json), --set.
        if self.direction not in DIRECTIONS:
            raise UserError(f"direction {self.direction}: use {' or '.join(DIRECTIONS)}")
        if self.norm not in NORMS:
            raise UserError(f"norm {self.norm}: use {', '.join(NORMS)}")
        if self.upsample not in UPSAMPLINGS:
            raise UserError(f"upsample {self.upsample}: use {', '.join(UPSAMPLINGS)}, e.g. "
                            "--set upsample=resize")
        if self.discriminator not in DISCRIMINATORS:
            raise UserError(f"discriminator {self.discriminator}: use {' or '.join(DISCRIMINATORS)}")
        if not 0 <= self.color_jitter < 1:
            raise UserError(f"color_jitter {self.color_jitter}: use a fraction in [0, 1), e.g. "
                            "--set color_jitter=0.3 (0 turns it off)")
        if self.depth < 1 or self.crop % (2 ** self.depth):
            raise UserError(f"--patch {self.crop} is not a multiple of 2**depth = {2 ** self.depth}; "
                            "the U-Net halves it that many times")
        if self.crop > self.load:
            raise UserError(f"crop {self.crop} is larger than load {self.load}: the jitter crops "
                            "from the enlarged image; set load >= crop")


# The named configs: the fields each sets apart from Pix2PixConfig's defaults (which are
# `canonical`, the reference implementation's), one flat table, no config defined through another.
CONFIGS = {
    "canonical": {},
    # "Borrows U-Net with more downsampling layers", batch norm and dropout; the discriminator
    # judges the whole (input, output) pair: four convs, one probability.
    "paper": dict(depth=9, crop=512, load=572, discriminator="paper", disc_layers=4),
    # The project's own, sized for CPU training (docs/pix2pix.md): a 6-level U-Net of base
    # width 32 on 128-pixel crops (a 2x2 bottleneck), batch 4, instance norm (batch statistics
    # of 4 crops were unstable), less dropout; ~23 k multiply-adds per pixel.
    "compact": dict(depth=6, base_width=32, max_width=256, crop=128, load=143, batch_size=4,
                    norm="instance", dropout=0.2, dropout_layers=2, disc_width=32),
}
CONFIG_NAMES = tuple(CONFIGS)


def pix2pix_config(name: str = "canonical", direction: str = "vis2ir", **overrides) -> Pix2PixConfig:
    if direction not in DIRECTIONS:
        raise UserError(f"--direction {direction}: use {' or '.join(DIRECTIONS)}")
    if name not in CONFIGS:
        raise UserError(f"--config {name}: unknown pix2pix config; use {', '.join(CONFIG_NAMES)}")
    _, _, c_in, c_out = DIRECTIONS[direction]
    values = dict(CONFIGS[name], name=name, direction=direction, in_channels=c_in, out_channels=c_out)
    if "crop" in overrides and "load" not in overrides:  # keep the jitter's enlargement
        crop, load = (values.get(k, Pix2PixConfig.__dataclass_fields__[k].default) for k in ("crop", "load"))
        overrides = {**overrides, "load": round(overrides["crop"] * load / crop)}
    return make_config(Pix2PixConfig, values, overrides)


def _norm(kind, name):
    if kind == "instance":
        return layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=kind == "sync-batch",
                                     name=name)


def _init():
    """N(0, 0.02) as in pix2pix; a new initializer per layer: one shared unseeded instance would
    draw its seed once at import (so `--seed` would not fix the weights) and repeat it in every
    layer."""
    return keras.initializers.RandomNormal(0.0, 0.02)


@keras.saving.register_keras_serializable("tf_irgan")
class ICNR(keras.initializers.Initializer):
    """A sub-pixel conv kernel (k, k, in, 4 * out) whose four sub-pixel groups are one draw of
    `base` (k, k, in, out) repeated: the layer then starts as one conv at the input size
    followed by a nearest-neighbour enlargement, with no checkerboard."""

    def __init__(self, base=None):
        self.base = base or keras.initializers.RandomNormal(0.0, 0.02)

    def __call__(self, shape, dtype=None):
        *window, channels_in, channels_out = shape
        kernel = self.base((*window, channels_in, channels_out // 4), dtype=dtype)
        return ops.tile(kernel, (1, 1, 1, 4))   # channel (dy * 2 + dx) * out + c = base c

    def get_config(self):
        return {"base": keras.initializers.serialize(self.base)}

    @classmethod
    def from_config(cls, config):
        return cls(keras.initializers.deserialize(config["base"]))


def upsampler(filters, method, name, use_bias=False, dtype=None):
    """A layer that doubles height and width by `method` (UPSAMPLINGS). "transpose" is the plain
    Keras layer, as it always was, so presets saved before the option load unchanged."""
    if method == "transpose":
        return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                                      kernel_initializer=_init(), dtype=dtype, name=name)
    return Upsample(filters, method, use_bias=use_bias, dtype=dtype, name=name)


def upsampling_macs(method, channels_in, channels_out) -> float:
    """Multiply-adds per pixel of the doubled output."""
    if method == "transpose":   # each input pixel scatters a 4x4 window onto 2x2 outputs
        return 16 * channels_in * channels_out / 4
    if method == "resize":
        return 9 * channels_in * channels_out
    return 9 * channels_in * 4 * channels_out / 4   # subpixel: one conv at the input size


@keras.saving.register_keras_serializable("tf_irgan")
class Upsample(keras.layers.Layer):
    """Doubles height and width by "resize" or "subpixel" (UPSAMPLINGS, see there)."""

    def __init__(self, filters, method="resize", use_bias=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.method, self.use_bias = filters, method, use_bias
        if method == "resize":
            self.conv = layers.Conv2D(filters, 3, padding="same", use_bias=use_bias,
                                      kernel_initializer=_init(), dtype=self.dtype_policy,
                                      name="conv")
        elif method == "subpixel":
            self.conv = layers.Conv2D(4 * filters, 3, padding="same", use_bias=use_bias,
                                      kernel_initializer=ICNR(_init()), dtype=self.dtype_policy,
                                      name="conv")
        else:
            raise UserError(f"upsample {method}: use {', '.join(UPSAMPLINGS)}")

    def build(self, input_shape):
        shape = list(input_shape)
        if self.method == "resize":
            shape[1:3] = [None if n is None else 2 * n for n in shape[1:3]]
        self.conv.build(tuple(shape))

    def call(self, x):
        if self.method == "resize":
            return self.conv(ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2))
        x = self.conv(x)
        shape = ops.shape(x)   # (B, H, W, 4C) -> (B, 2H, 2W, C): channel (dy*2+dx)*C + c
        x = ops.reshape(x, (shape[0], shape[1], shape[2], 2, 2, self.filters))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (shape[0], 2 * shape[1], 2 * shape[2], self.filters))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, None if height is None else 2 * height,
                None if width is None else 2 * width, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "method": self.method,
                "use_bias": self.use_bias}


@keras.saving.register_keras_serializable("tf_irgan")
class UNetGenerator(keras.Model):
    """U-Net: `depth` 4x4 stride-2 convs down (LeakyReLU 0.2, no norm on the first and the
    innermost), `upsample` layers up (transposed convs by default; ReLU, dropout on the innermost `dropout_layers`), skips by
    concatenation, tanh. Takes (B, H, W, in_channels) in [0, 1], H and W multiples of
    2**depth; returns (B, H, W, out_channels) in [0, 1]."""

    # `train --init` may change these: the encoder and the norms are copied from the preset,
    # the new upsampling layers and the head start fresh (docs/pix2pix.md, "Upsampling").
    partial_init_fields = ("upsample",)

    def __init__(self, in_channels=3, out_channels=1, depth=8, base_width=64, max_width=512,
                 norm="batch", dropout=0.5, dropout_layers=3, upsample="transpose", **kwargs):
        super().__init__(**kwargs)
        self.upsample = upsample
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.base_width, self.max_width, self.norm = base_width, max_width, norm
        self.dropout, self.dropout_layers = dropout, dropout_layers
        widths = [min(base_width * 2 ** i, max_width) for i in range(depth)]
        self.down = []
        for i, width in enumerate(widths):
            block = [layers.Conv2D(width, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer=_init(), name=f"down{i}_conv")]
            if 0 < i < depth - 1:
                block.append(_norm(norm, f"down{i}_norm"))
            self.down.append(block)
        self.up = []
        for i in reversed(range(depth - 1)):  # from the innermost skip outwards
            block = [upsampler(widths[i], upsample, f"up{i}_conv"), _norm(norm, f"up{i}_norm")]
            if depth - 2 - i < dropout_layers and dropout > 0:
                block.append(layers.Dropout(dropout, name=f"up{i}_dropout"))
            self.up.append(block)
        self.head = upsampler(out_channels, upsample, "head", use_bias=True, dtype="float32")

    @property
    def multiple(self) -> int:
        return 2 ** self.depth

    def call(self, images, training=False):
        x = images * 2.0 - 1.0
        skips = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = ops.leaky_relu(x, 0.2)
            for layer in block:
                x = layer(x, training=training)
            skips.append(x)
        for block, skip in zip(self.up, reversed(skips[:-1])):
            x = ops.relu(x)
            for layer in block:
                x = layer(x, training=training)
            x = ops.concatenate([x, ops.cast(skip, x.dtype)], axis=-1)
        out = self.head(ops.relu(x))
        return (ops.tanh(ops.cast(out, "float32")) + 1.0) / 2.0

    def build_for_inference(self):
        self(ops.zeros((1, self.multiple, self.multiple, self.in_channels)))

    def get_config(self):
        return {**super().get_config(), "in_channels": self.in_channels,
                "out_channels": self.out_channels, "depth": self.depth,
                "base_width": self.base_width, "max_width": self.max_width, "norm": self.norm,
                "dropout": self.dropout, "dropout_layers": self.dropout_layers,
                "upsample": self.upsample}

    def macs_per_pixel(self) -> float:
        """Multiply-adds per output pixel (4x4 down kernels; each level has 1/4 the pixels)."""
        widths = [min(self.base_width * 2 ** i, self.max_width) for i in range(self.depth)]
        total, channels = 0.0, self.in_channels
        for i, width in enumerate(widths):
            total += 16 * channels * width / 4 ** (i + 1)
            channels = width
        up_in = widths[-1]
        for i in reversed(range(self.depth - 1)):
            total += upsampling_macs(self.upsample, up_in, widths[i]) / 4 ** (i + 1)
            up_in = 2 * widths[i]
        return total + upsampling_macs(self.upsample, up_in, self.out_channels)


@keras.saving.register_keras_serializable("tf_irgan")
class PairDiscriminator(keras.Model):
    """Judges (input, output) pairs. `patchgan`: 4x4 convs C64 (no norm) ... stride 2, one
    stride-1 C and a 1-channel stride-1 conv: a logit per 70x70 patch. `paper`: the same
    stride-2 convs with LeakyReLU, then one logit for the whole image (global average)."""

    def __init__(self, kind="patchgan", width=64, layers_down=3, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.kind, self.width, self.layers_down, self.norm = kind, width, layers_down, norm
        self.convs = []
        for i in range(layers_down):
            block = [layers.Conv2D(min(width * 2 ** i, 512), 4, strides=2, padding="same",
                                   kernel_initializer=_init(), name=f"conv{i}")]
            if i > 0:
                block.append(_norm(norm, f"norm{i}"))
            self.convs.append(block)
        if kind == "patchgan":
            self.convs.append([layers.ZeroPadding2D(1), layers.Conv2D(
                min(width * 2 ** layers_down, 512), 4, kernel_initializer=_init(), name="conv_s1"),
                _norm(norm, "norm_s1")])
            self.score = [layers.ZeroPadding2D(1),
                          layers.Conv2D(1, 4, kernel_initializer=_init(), dtype="float32", name="score")]
        else:
            self.score = [layers.GlobalAveragePooling2D(),
                          layers.Dense(1, kernel_initializer=_init(), dtype="float32", name="score")]

    def call(self, pair, training=False):
        x = ops.concatenate([pair[0], pair[1]], axis=-1) * 2.0 - 1.0
        for block in self.convs:
            for layer in block:
                x = layer(x, training=training)
            x = ops.leaky_relu(x, 0.2)
        for layer in self.score:
            x = layer(x)
        return ops.cast(x, "float32")

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "width": self.width,
                "layers_down": self.layers_down, "norm": self.norm}


class Pix2Pix(GAN):
    """keras-io style conditional GAN: its `steps()` (D, then G) run once per batch, each per
    replica."""

    task = "translation"
    input_roles = ("image",)
    output_role = "translated"
    config_class = Pix2PixConfig
    preset_storage = "float16"   # a compact generator is 29 MB in float32 (docs/pix2pix.md)

    def __init__(self, config: Pix2PixConfig):
        super().__init__(config)
        self.generator = UNetGenerator(config.in_channels, config.out_channels, config.depth,
                                       config.base_width, config.max_width, config.norm,
                                       config.dropout, config.dropout_layers,
                                       upsample=config.upsample, name="generator")
        self.discriminator = PairDiscriminator(config.discriminator, config.disc_width,
                                               config.disc_layers, config.norm, name="discriminator")
        c = config.crop
        self.generator(ops.zeros((1, c, c, config.in_channels)))
        self.discriminator((ops.zeros((1, c, c, config.in_channels)),
                            ops.zeros((1, c, c, config.out_channels))))

    @classmethod
    def config_names(cls):
        return list(CONFIG_NAMES)

    @classmethod
    def config(cls, name="canonical", direction="vis2ir", **overrides):
        return pix2pix_config(name, direction, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def options(cls):
        import click
        return [click.Option(["--direction"], type=click.Choice(list(DIRECTIONS)),
                             help="pix2pix: visible -> infrared (default) or infrared -> visible.")]

    @classmethod
    def config_from_options(cls, options):
        return cls.config(options.config or "canonical", options.model_options.get("direction") or "vis2ir",
                          **with_named_options(options.overrides, {
                              "--batch-size": ("batch_size", options.batch_size),
                              "--lr": ("learning_rate", options.learning_rate),
                              "--patch": ("crop", options.patch)}))

    def training_data(self, options):
        from tf_irgan.data.pairs import JitteredPairBatches, load_pairs
        source, target, _, _ = DIRECTIONS[self.config.direction]
        pairs = load_pairs(options.data, source, target, self.config.in_channels,
                           self.config.out_channels, options.holdout_every)
        return JitteredPairBatches(pairs, self.config.batch_size, self.config.crop,
                                   self.config.load, options.seed,
                                   color_jitter=self.config.color_jitter)

    def preset_metadata(self) -> dict:
        cfg = self.config
        source, target, _, _ = DIRECTIONS[cfg.direction]
        return {"description": f"pix2pix U-Net generator, {cfg.name} config, {source} -> {target}",
                "direction": cfg.direction, "source": source, "target": target}

    def learning_rate_at(self, batches) -> float:
        """Constant, then linear decay to zero over the last (1 - decay_start) of the run."""
        total = max(self.total_batches, 1)
        start = self.config.decay_start * total
        if batches <= start:
            return float(self.config.learning_rate)
        return float(self.config.learning_rate * max(0.0, (total - batches) / max(total - start, 1)))

    def steps(self):
        return {"d": Step(self._discriminator_step, "discriminator", "d_optimizer", ("d_loss",)),
                "g": Step(self._generator_step, "generator", "g_optimizer", ("g_gan", "g_l1", "g_loss"))}

    def _discriminator_step(self, batch):
        image, target = batch["image"], batch["target"]
        fake = ops.stop_gradient(self.generator(image, training=True))
        real_logits = self.discriminator((image, target), training=True)
        fake_logits = self.discriminator((image, fake), training=True)
        # Halved, as in the reference implementation: D learns at half the rate of G.
        d_loss = 0.5 * ops.mean(_bce(real_logits, 1.0) + _bce(fake_logits, 0.0))
        return d_loss, {"d_loss": d_loss}, {}

    def _generator_step(self, batch):
        image, target = batch["image"], batch["target"]
        fake = self.generator(image, training=True)
        g_gan = ops.mean(_bce(self.discriminator((image, fake), training=True), 1.0))
        g_l1 = ops.mean(per_example_mean(ops.abs(target - fake)))
        g_loss = g_gan + self.config.l1_weight * g_l1
        return g_loss, {"g_gan": g_gan, "g_l1": g_l1, "g_loss": g_loss}, {}


def _bce(logits, label: float):
    """Per-example binary cross-entropy of logits against a constant label, averaged over the
    example's logits (one for `paper`, one per patch for `patchgan`)."""
    return per_example_mean(ops.binary_crossentropy(ops.full_like(logits, label), logits, from_logits=True))
