"""DDcGAN (Ma, Xu et al., IEEE TIP 2020): a generator that fuses a visible image with an
infrared image at 1/scale resolution, judged by two discriminators, one per modality.

Inputs are dicts {"detail": (B, H, W, 1), "intensity": (B, H/scale, W/scale, 1)} in [0, 1]:
the visible image and the IR, or the MRI and the PET (SPECT, CT) (`tf_irgan.modalities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
import numpy as np
from keras import layers, ops

from tf_irgan import losses
from tf_irgan.models.layers import (RENAMED_ARGUMENTS, BilinearUpsampling, Identity3x3,
                                    ReflectConv, constraint_kwargs, renamed_arguments,
                                    truncated_normal)
from tf_irgan.data.patches import check_scale
from tf_irgan.errors import UserError
from tf_irgan.modalities import detect_modality, get_modality
from tf_irgan.models.base import GAN, Config, Step, make_config, make_optimizer, with_named_options
from tf_irgan.models.pyramid import PyramidGenerator

@dataclass
class DDcGANConfig(Config):
    name: str = "official"
    batch_size: int = 24
    learning_rate: float = 2e-4
    g_optimizer: str = "rmsprop"
    d_optimizer: str = "sgd"
    scale: int = 4
    modality: str = "ir-vis"   # the two inputs: "ir-vis" or "mri-pet" (tf_irgan.modalities)
    # Generator: dense encoder then a plain decoder, all at full resolution.
    growth: int = 48
    dense_layers: int = 4
    decoder_filters: tuple = (240, 240, 128, 64, 32)
    intensity_upsample_kernel: int = 3
    # The released code's layout and constants (the `official` config, docs/ddcgan.md):
    # the dense block puts each layer's new features before its input ("new_first"); the first
    # decoder kernel is applied twice, batch norm only on its second use (`tied_decoder`);
    # batch norm's epsilon and momentum; truncated-normal initial weights ("released").
    dense_order: str = "input_first"
    tied_decoder: bool = False
    batch_norm_epsilon: float = 1e-5
    batch_norm_momentum: float = 0.9
    initializer: str = "keras"
    residual: bool = False     # output = average of the inputs + learned correction
    # "dense": the paper's generator (the fields above); "pyramid": a learned selection rule
    # over Laplacian pyramids of both inputs (tf_irgan.models.pyramid, the fields below).
    generator: str = "dense"
    levels: int = 4            # pyramid: detail bands; the base is at 1/2^levels
    selector_filters: int = 16  # pyramid: width of each level's selection network
    sharpness: float = 4.0     # pyramid: how hard the starting rule picks the stronger detail
    intensity_upsample: str = "bilinear"  # pyramid, scale > 1: how the IR is enlarged ("bicubic" keeps
                                   # more of its edges in the bands; docs/ddcgan.md)
    brightness: float = 0.0    # pyramid: how hard the starting rule also picks the brighter
                               # source (0: not at all; for CT bone and tracers, docs/ddcgan.md)
    brightness_from: int = 0   # pyramid: the finest detail level that term applies to (0: all;
                               # `levels`: the base only, the fine bands by detail alone)
    rule_levels: int = 0       # pyramid: the finest detail levels weighed by the rule alone (no
                               # network: training cannot trade their edges away)
    noise_levels: int = 0      # pyramid: the finest levels whose rule weighs the detail above
                               # each source's noise (flat regions averaged, not the noisier kept)
    disc_filters: tuple = (16, 32, 64)
    weight_clip: float = 8.0
    sync_batch_norm: bool = False  # batch statistics over all replicas (multi-GPU/worker runs)
    # G loss = adv + content_weight * (intensity_weight * L_intensity + detail_weight * L_detail)
    # (the paper's L_ir and L_vis). content "ddcgan": L_intensity pulls psi(G) to the intensity
    # input (IR, PET), L_detail grad(G) to the detail input's (visible, MRI) gradients;
    # "salient": L_intensity pulls psi(G) to the brighter source, L_detail grad(G) to the
    # stronger gradient (docs/ddcgan.md).
    content: str = "ddcgan"
    content_weight: float = 0.8
    overshoot_weight: float = 1.0  # "salient": L1 of G above the brighter source, in L_intensity
    # "salient": DDcGAN's own pull of psi(G) toward the IR, added to L_intensity with this weight, so
    # that where the visible image is brighter the IR is not simply replaced by it.
    intensity_fidelity_weight: float = 0.0
    # "salient": the grid (in visible pixels) on which the brighter source is chosen: coarse,
    # so no seams are asked for where it changes (fringes on edges, docs/ddcgan.md); finer where
    # one source's signal is thin bright structure (a CT's skull).
    salient_grid: int = 4
    intensity_weight: float = 1.0
    detail_weight: float = 1.2
    # Optimisation: the learning rate decays by lr_decay once per epoch, continuously.
    lr_decay: float = 0.9
    patch: int = 84
    # Adaptive schedule. alternate: even batches train D, odd batches train G (official code);
    # otherwise every batch trains both (paper's algorithm).
    alternate: bool = True
    d_max: float = 1.9         # repeat a D step while its loss is above this
    d_min: float = 1.0         # extra adversarial G steps while a D loss is below this
    g_max: float = 200.0       # extra G steps while L_G is above this ...
    g_max_relative: bool = False  # ... or above g_max * (L_G of the first G step)
    max_repeats: int = 20
    # The released code counts the G steps of both generator loops together (at most
    # max_repeats G steps a batch) and keeps separate RMSProp state for the L_G steps and the
    # adversarial-only steps.
    shared_g_repeats: bool = False
    separate_adversarial_optimizer: bool = False
    # Training data: random flips/rotations shared by both inputs and photometric changes of
    # each (gamma, contrast, low light, noise: tf_irgan.data.augment); `low_light` is the share
    # of visible patches darkened to a night frame's range there.
    augment: bool = False
    low_light: float = 0.25
    renamed: ClassVar[dict] = {"ir_weight": "intensity_weight", "vis_weight": "detail_weight",
                               "ir_fidelity_weight": "intensity_fidelity_weight",
                               **RENAMED_ARGUMENTS}

    def __post_init__(self):
        # Also for configs read back from run.json on --resume, not only for named ones.
        get_modality(self.modality)
        if self.generator not in GENERATORS:
            raise UserError(f"generator={self.generator}: unknown generator; use "
                            f"{' or '.join(GENERATORS)}")
        if self.intensity_upsample not in INTENSITY_UPSAMPLINGS:
            raise UserError(f"intensity_upsample={self.intensity_upsample}: use {' or '.join(INTENSITY_UPSAMPLINGS)}")
        if self.content not in CONTENT_LOSSES:
            raise UserError(f"content={self.content}: unknown content loss; use "
                            f"{' or '.join(CONTENT_LOSSES)}")
        if self.dense_order not in DENSE_ORDERS:
            raise UserError(f"dense_order={self.dense_order}: use {' or '.join(DENSE_ORDERS)}")
        if self.initializer not in INITIALIZERS:
            raise UserError(f"initializer={self.initializer}: use {' or '.join(INITIALIZERS)}")
        if self.salient_grid < 1 or max(self.salient_grid, self.scale) % self.scale:
            raise UserError(f"salient_grid={self.salient_grid}: use 1 or more, a multiple of "
                            f"--scale {self.scale} where it is larger")
        if self.brightness and self.generator != "pyramid":
            raise UserError(f"brightness={self.brightness}: a setting of the pyramid generator "
                            f"(generator={self.generator} has no such rule); leave it at 0")
        if not 0 <= self.brightness_from <= self.levels:
            raise UserError(f"brightness_from={self.brightness_from}: use 0 (every level) to "
                            f"levels={self.levels} (the base only)")
        if not 0 <= self.rule_levels <= self.levels:
            raise UserError(f"rule_levels={self.rule_levels}: use 0 (a network on every level) "
                            f"to levels={self.levels} (the rule alone on every detail level)")
        if not 0 <= self.noise_levels <= self.levels:
            raise UserError(f"noise_levels={self.noise_levels}: use 0 (the plain rule) to "
                            f"levels={self.levels}")
        if not 0 <= self.low_light <= 1:
            raise UserError(f"low_light={self.low_light}: the share of visible patches darkened "
                            "under augment, from 0 (none) to 1 (all)")
        if self.brightness < 0:
            raise UserError(f"brightness={self.brightness}: use 0 (no brighter-source rule) or "
                            "more (how hard the starting rule picks the brighter source)")
        check_scale(self.scale)
        if self.patch % self.scale:
            raise UserError(f"patch size {self.patch} is not a multiple of --scale {self.scale}")
        if self.patch // self.scale < 8:
            raise UserError(f"IR patches of {self.patch // self.scale} px are too small for the IR "
                            f"discriminator; use a patch of at least {8 * self.scale} px")
        if self.tied_decoder and (not self.decoder_filters or self.decoder_filters[0]
                                  != self.growth * (self.dense_layers + 1)):
            raise UserError("tied_decoder=true applies the first decoder kernel twice, so its "
                            f"filters must equal the dense block's {self.growth * (self.dense_layers + 1)} "
                            f"channels (decoder_filters={list(self.decoder_filters)})")

    @property
    def intensity_patch(self) -> int:
        return self.patch // self.scale


CONTENT_LOSSES = ("ddcgan", "salient")
DENSE_ORDERS = ("input_first", "new_first")
INITIALIZERS = ("keras", "released")
GENERATORS = ("dense", "pyramid")
INTENSITY_UPSAMPLINGS = ("bilinear", "bicubic")


def _intensity_weight(scale):
    # L_intensity sums over the IR patch's (84/scale)^2 pixels: (scale/4)^2 keeps its weight what it
    # is at 4x (the official same-resolution release divides by 16 for the same reason).
    return (scale / 4) ** 2


def _salient_intensity_weight(scale):
    # The salient intensity term is compared on a grid at least 4x coarser than the visible
    # one (content_losses), so the weight that keeps L_intensity's size is that grid's, not the IR's.
    return max(1.0, (scale / 4) ** 2)


_PAPER = dict(decoder_filters=(240, 128, 64, 32), intensity_upsample_kernel=lambda scale: 2 * scale,
              content_weight=0.5, learning_rate=2e-3, lr_decay=0.75, alternate=False, d_max=1.8,
              d_min=1.2, g_max=0.8, g_max_relative=True, intensity_weight=_intensity_weight)

# The named configs: the fields each sets apart from DDcGANConfig's defaults, one flat table
# (KerasHub's presets style). A value that depends on the scale is a function of it.
CONFIGS = {
    # The released TF1 code's training computation, step for step (tests/test_fidelity.py
    # checks it against numbers produced by that code; docs/ddcgan.md).
    "official": dict(decoder_filters=(240, 128, 64, 32), tied_decoder=True,
                     dense_order="new_first", batch_norm_epsilon=1e-3, batch_norm_momentum=0.99,
                     initializer="released", g_optimizer="rmsprop-tf1", shared_g_repeats=True,
                     separate_adversarial_optimizer=True, intensity_weight=_intensity_weight,
                     content_weight=lambda scale: 0.6 if scale == 1 else 0.8,
                     d_max=lambda scale: 1.7 if scale == 1 else 1.9,
                     d_min=lambda scale: 1.4 if scale == 1 else 1.0),
    # The IEEE TIP article's settings.
    "paper": _PAPER,
    # The project's own: the paper's settings, but the generator learns a correction to the
    # average of its inputs. It starts where plain averaging is and only has to learn what to
    # sharpen, which it does in a fraction of the steps (docs/ddcgan.md).
    "residual": dict(_PAPER, residual=True),
    # `residual` at a third of its width: 93 k multiply-adds per pixel instead of 1.10 M, so a
    # CPU trains ~10x more steps per hour. At most 5 steps per network per batch (I_max 20 in
    # the paper): near the thresholds a batch could cost 20 G steps (docs/ddcgan.md).
    "fast": dict(_PAPER, residual=True, growth=16, decoder_filters=(64, 32, 16), max_repeats=5),
    # The project's own losses (what the field's metrics reward) on a still narrower
    # generator, 52 k multiply-adds per pixel (docs/benchmarks.md).
    "salient": dict(_PAPER, residual=True, max_repeats=5, content="salient", growth=12,
                    decoder_filters=(48, 24, 12), intensity_weight=_salient_intensity_weight),
    # `salient`'s losses, discriminators and schedule with the pyramid generator: a learned
    # per-band selection over fixed Laplacian pyramids, ~5 k multiply-adds per pixel, which
    # starts as the "stronger local detail wins" rule. It starts as a rule that already fuses
    # well, so training refines it: a twentieth of the paper's learning rate (a first run at
    # 2e-3 lost 14 % of its VIF on training pairs in 60 batches).
    "pyramid": dict(_PAPER, residual=True, max_repeats=5, content="salient", growth=12,
                    decoder_filters=(48, 24, 12), intensity_weight=_salient_intensity_weight,
                    generator="pyramid", augment=True, learning_rate=1e-4),
}
CONFIG_NAMES = tuple(CONFIGS)


def ddcgan_config(name: str = "official", scale: int = 4, **overrides) -> DDcGANConfig:
    if name not in CONFIGS:
        raise UserError(f"--config {name}: unknown DDcGAN config; use {', '.join(CONFIG_NAMES)}")
    check_scale(scale)
    fields = {key: value(scale) if callable(value) else value for key, value in CONFIGS[name].items()}
    return make_config(DDcGANConfig, dict(fields, name=name, scale=scale), overrides)


@keras.saving.register_keras_serializable("tf_irgan")
class Generator(keras.Model):
    """Dense-block encoder and plain decoder at full resolution; output in [0, 1].

    For scale > 1 the IR image is brought to the visible size by one learned 3x3 transposed
    convolution of stride `scale` (the visible image passes through one of stride 1), as in the
    official code.
    """

    # Pixels of context a tile needs for a result equal to the whole image's: more than the
    # receptive radius (~12 px and one IR pixel); any tile offset gives the same result.
    context, grid = 32, 1

    def __init__(self, scale=4, growth=48, dense_layers=4, decoder_filters=(240, 240, 128, 64, 32),
                 intensity_upsample_kernel=3, weight_clip=8.0, residual=False, sync_batch_norm=False,
                 dense_order="input_first", tied_decoder=False, batch_norm_epsilon=1e-5,
                 batch_norm_momentum=0.9, initializer="keras", statistics="moving", **kwargs):
        super().__init__(**kwargs)
        self.residual, self.sync_batch_norm = residual, sync_batch_norm
        self.scale, self.growth, self.dense_layers = scale, growth, dense_layers
        self.decoder_filters, self.intensity_upsample_kernel = tuple(decoder_filters), intensity_upsample_kernel
        self.weight_clip = weight_clip
        self.dense_order, self.tied_decoder = dense_order, tied_decoder
        self.batch_norm_epsilon, self.batch_norm_momentum = batch_norm_epsilon, batch_norm_momentum
        self.initializer, self.statistics = initializer, statistics
        released = initializer == "released"
        conv = {"weight_clip": weight_clip, "epsilon": batch_norm_epsilon,
                "momentum": batch_norm_momentum, "statistics": statistics,
                **({"synchronized": True} if sync_batch_norm else {}),
                **({"kernel_initializer": truncated_normal(0.05)} if released else {})}
        clip = constraint_kwargs(weight_clip, ("kernel",))
        # vis_in and ir_up take the detail and the intensity input: named as every saved
        # preset's weights file holds them.
        if scale > 1:
            self.vis_in = layers.Conv2DTranspose(
                1, 3, strides=1, padding="same", use_bias=False, name="vis_in",
                kernel_initializer=truncated_normal(0.1) if released else Identity3x3(), **clip)
            # The official 3x3 kernel at stride 4 leaves every 4th row and column at zero;
            # a 2*scale kernel covers every pixel and can start as bilinear interpolation.
            covers = intensity_upsample_kernel >= 2 * scale
            self.ir_up = layers.Conv2DTranspose(
                1, intensity_upsample_kernel, strides=scale, padding="same", use_bias=False,
                kernel_initializer=(truncated_normal(0.1) if released else
                                    BilinearUpsampling(scale) if covers else "glorot_uniform"),
                name="ir_up", **clip)
        self.stem = ReflectConv(growth, name="stem", **conv)
        self.dense = [ReflectConv(growth, name=f"dense{i}", **conv) for i in range(dense_layers)]
        self.decoder = [ReflectConv(f, name=f"decoder{i}", **conv)
                        for i, f in enumerate(decoder_filters)]
        # float32 head: under mixed precision the output and the losses stay full precision.
        # A residual head starts at zero, so the untrained network outputs the inputs' average.
        head_init = "zeros" if residual else truncated_normal(0.05) if released else "he_normal"
        self.head = ReflectConv(1, batch_norm=False, activation=None, weight_clip=weight_clip,
                                kernel_initializer=head_init, dtype="float32", name="head")

    def call(self, inputs, training=False):
        detail, intensity = inputs["detail"], inputs["intensity"]
        if self.scale > 1:
            detail, intensity = self.vis_in(detail), self.ir_up(intensity)
        x = self.stem(ops.concatenate([detail, intensity], axis=-1), training=training)
        for layer in self.dense:
            new = layer(x, training=training)
            x = ops.concatenate([new, x] if self.dense_order == "new_first" else [x, new], axis=-1)
        for i, layer in enumerate(self.decoder):
            if i == 0 and self.tied_decoder:
                x = layer(x, training=training, normalize=False)
            x = layer(x, training=training)
        head = ops.tanh(ops.cast(self.head(x), "float32")) / 2
        if not self.residual:
            return head + 0.5
        return ops.clip(self._average(inputs) + head, 0.0, 1.0)

    def _average(self, inputs):
        """Mean of the detail image and the bilinearly upsampled intensity image."""
        detail, intensity = inputs["detail"], inputs["intensity"]
        if self.scale > 1:
            intensity = losses.upsample_bilinear(intensity, self.scale)
        return (ops.cast(detail, "float32") + ops.cast(intensity, "float32")) / 2

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "growth": self.growth,
                "dense_layers": self.dense_layers, "decoder_filters": list(self.decoder_filters),
                "intensity_upsample_kernel": self.intensity_upsample_kernel, "weight_clip": self.weight_clip,
                "residual": self.residual, "sync_batch_norm": self.sync_batch_norm,
                "dense_order": self.dense_order, "tied_decoder": self.tied_decoder,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "batch_norm_momentum": self.batch_norm_momentum, "initializer": self.initializer,
                "statistics": self.statistics}

    def build_for_inference(self):
        """Create the weights (the network is fully convolutional: any size builds it)."""
        q = 8
        self({"detail": ops.zeros((1, q * self.scale, q * self.scale, 1)),
              "intensity": ops.zeros((1, q, q, 1))})

    @classmethod
    def from_ddcgan_config(cls, config: DDcGANConfig, **kwargs):
        return cls(scale=config.scale, growth=config.growth, dense_layers=config.dense_layers,
                   decoder_filters=config.decoder_filters,
                   intensity_upsample_kernel=config.intensity_upsample_kernel, weight_clip=config.weight_clip,
                   residual=config.residual, sync_batch_norm=config.sync_batch_norm,
                   dense_order=config.dense_order, tied_decoder=config.tied_decoder,
                   batch_norm_epsilon=config.batch_norm_epsilon,
                   batch_norm_momentum=config.batch_norm_momentum,
                   initializer=config.initializer, **kwargs)

    @classmethod
    def from_config(cls, config):
        return super().from_config(renamed_arguments(config))

    def macs_per_pixel(self) -> int:
        """Multiply-adds per output pixel (the full-resolution convolutions dominate)."""
        total, channels = 2 * 9 * self.growth, self.growth
        for _ in range(self.dense_layers):
            total += channels * self.growth * 9
            channels += self.growth
        if self.tied_decoder:  # the first decoder kernel runs twice
            total += channels * self.decoder_filters[0] * 9
        for f in self.decoder_filters:
            total += channels * f * 9
            channels = f
        return total + channels * 9


def make_generator(config: DDcGANConfig, name="generator"):
    """The config's generator: the paper's dense network or the pyramid selector."""
    if config.generator == "pyramid":
        return PyramidGenerator(scale=config.scale, levels=config.levels,
                                filters=config.selector_filters, sharpness=config.sharpness,
                                intensity_upsample=config.intensity_upsample, brightness=config.brightness,
                                brightness_from=config.brightness_from,
                                rule_levels=config.rule_levels, noise_levels=config.noise_levels,
                                name=name)
    return Generator.from_ddcgan_config(config, name=name)


@keras.saving.register_keras_serializable("tf_irgan")
class Discriminator(keras.Model):
    """Three stride-2 convs and a dense layer: the probability that a patch is real."""

    def __init__(self, filters=(16, 32, 64), weight_clip=8.0, sync_batch_norm=False,
                 batch_norm_epsilon=1e-5, batch_norm_momentum=0.9, initializer="keras", **kwargs):
        super().__init__(**kwargs)
        self.filters, self.weight_clip, self.sync_batch_norm = tuple(filters), weight_clip, sync_batch_norm
        self.batch_norm_epsilon, self.batch_norm_momentum = batch_norm_epsilon, batch_norm_momentum
        self.initializer = initializer
        init = {"kernel_initializer": truncated_normal(0.1)} if initializer == "released" else {}
        self.convs = [ReflectConv(f, strides=2, batch_norm=i > 0, weight_clip=weight_clip,
                                  synchronized=sync_batch_norm, epsilon=batch_norm_epsilon,
                                  momentum=batch_norm_momentum, name=f"conv{i}", **init)
                      for i, f in enumerate(filters)]
        self.flatten = layers.Flatten()
        self.score = layers.Dense(1, dtype="float32", name="score",
                                  **constraint_kwargs(weight_clip))

    def call(self, images, training=False):
        x = images
        for conv in self.convs:
            x = conv(x, training=training)
        logit = self.score(self.flatten(x))[:, 0]
        return ops.tanh(ops.cast(logit, "float32")) / 2 + 0.5

    def get_config(self):
        return {**super().get_config(), "filters": list(self.filters),
                "weight_clip": self.weight_clip, "sync_batch_norm": self.sync_batch_norm,
                "batch_norm_epsilon": self.batch_norm_epsilon,
                "batch_norm_momentum": self.batch_norm_momentum, "initializer": self.initializer}

    @classmethod
    def from_ddcgan_config(cls, config: DDcGANConfig, name: str):
        return cls(config.disc_filters, config.weight_clip, config.sync_batch_norm,
                   batch_norm_epsilon=config.batch_norm_epsilon,
                   batch_norm_momentum=config.batch_norm_momentum,
                   initializer=config.initializer, name=name)


class DDcGAN(GAN):
    """The generator and its two discriminators, trained with DDcGAN's adaptive schedule.

    The schedule repeats a sub-step while a loss is on the wrong side of a threshold: plain
    Python around compiled single steps (`schedule`), which runs the same on every backend, one
    device or many (a `tf.while_loop` around optimizer updates fails under MirroredStrategy).
    """

    task = "fusion"
    output_role = "fused"
    config_class = DDcGANConfig
    renamed = {"d_vis": "d_detail", "d_ir": "d_intensity", "d_vis_optimizer": "d_detail_optimizer",
               "d_ir_optimizer": "d_intensity_optimizer", "d_vis_loss": "d_detail_loss",
               "d_ir_loss": "d_intensity_loss", "l_vis": "l_detail", "l_ir": "l_intensity"}

    def __init__(self, config: DDcGANConfig):
        super().__init__(config)
        self.generator = make_generator(config)
        self.d_detail = Discriminator.from_ddcgan_config(config, name="d_detail")
        self.d_intensity = Discriminator.from_ddcgan_config(config, name="d_intensity")
        p, q = config.patch, config.intensity_patch
        self.generator({"detail": ops.zeros((1, p, p, 1)), "intensity": ops.zeros((1, q, q, 1))})
        self.d_detail(ops.zeros((1, p, p, 1)))
        self.d_intensity(ops.zeros((1, q, q, 1)))
        # L_G of the first generator step: the reference of the relative g_max (`paper`).
        self.g_loss_start = 0.0

    @classmethod
    def config_names(cls):
        return list(CONFIG_NAMES)

    @classmethod
    def config(cls, name="official", scale=4, **overrides):
        return ddcgan_config(name, scale, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def options(cls):
        import click

        from tf_irgan.data.patches import SCALES
        return [click.Option(["--scale"], type=click.Choice([str(s) for s in SCALES]), default="4",
                             show_default=True, help="ddcgan: visible/IR size ratio per side.")]

    @classmethod
    def config_from_options(cls, options):
        overrides = with_named_options(options.overrides, {
            "--batch-size": ("batch_size", options.batch_size),
            "--lr": ("learning_rate", options.learning_rate), "--patch": ("patch", options.patch)})
        # A data folder with MRI/ and PET/ trains the medical setting without being told.
        if "modality" not in overrides and detect_modality(options.data):
            overrides["modality"] = detect_modality(options.data)
        return cls.config(options.config or "official", int(options.model_options.get("scale", 4)),
                          **overrides)

    @property
    def modality(self):
        return get_modality(self.config.modality)

    @property
    def input_roles(self):
        return self.modality.roles

    def training_data(self, options):
        from tf_irgan.data.datasets import PatchBatches, load_training_patches
        patches = load_training_patches(options.data, self.config.scale, self.config.patch,
                                        options.stride, options.holdout_every, self.config.modality)
        return PatchBatches(patches, self.config.batch_size, options.seed, self.config.augment,
                            self.config.low_light)

    def summary(self) -> str:
        return f"{self.config.name}, x{self.config.scale}"

    def preset_metadata(self) -> dict:
        return preset_metadata(self.config)

    def networks(self):
        return {"generator": self.generator, "d_detail": self.d_detail, "d_intensity": self.d_intensity}

    def make_optimizers(self, mixed_precision: str = "off") -> dict:
        """The config's D optimizer serves D_v, and a second one of its kind D_i."""
        cfg = self.config
        self.optimizers = {
            "g_optimizer": make_optimizer(cfg.g_optimizer, cfg.learning_rate, mixed_precision),
            "d_detail_optimizer": make_optimizer(cfg.d_optimizer, cfg.learning_rate, mixed_precision),
            "d_intensity_optimizer": make_optimizer(cfg.d_optimizer, cfg.learning_rate, mixed_precision)}
        if cfg.separate_adversarial_optimizer:  # the released code's G_GAN_solver
            self.optimizers["g_adv_optimizer"] = make_optimizer(cfg.g_optimizer, cfg.learning_rate,
                                                                mixed_precision)
        return self.optimizers

    def counters(self):
        return {"g_loss_start": float(self.g_loss_start)}

    def restore_counters(self, values):
        self.g_loss_start = float(values.get("g_loss_start", 0.0))

    def learning_rate_at(self, batches) -> float:
        """One clock for all three optimizers: decay by lr_decay per epoch, continuously."""
        return self.config.learning_rate * self.config.lr_decay ** (batches / self.steps_per_epoch)

    # -- the compiled sub-steps (per replica) -----------------------------------------------

    def steps(self):
        return {
            "fuse": Step(self._fuse_step),
            "d_detail": Step(lambda b, f: self._discriminator_step(b, f, "detail"), "d_detail",
                          "d_detail_optimizer", ("d_detail_loss",)),
            "d_intensity": Step(lambda b, f: self._discriminator_step(b, f, "intensity"), "d_intensity",
                         "d_intensity_optimizer", ("d_intensity_loss",)),
            "g": Step(lambda b: self._generator_step(b, adversarial_only=False), "generator",
                      "g_optimizer", GENERATOR_LOGS),
            "g_adv": Step(lambda b: self._generator_step(b, adversarial_only=True), "generator",
                          "g_adv_optimizer" if self.config.separate_adversarial_optimizer
                          else "g_optimizer", GENERATOR_LOGS),
        }

    def _fuse_step(self, batch):
        return 0.0, {}, {"fused": self.generator(batch, training=True)}

    def _discriminator_step(self, batch, fused, which):
        if which == "detail":
            disc, real, fake = self.d_detail, batch["detail"], fused
        else:
            disc, real, fake = self.d_intensity, batch["intensity"], losses.downsample(fused, self.config.scale)
        loss = ops.mean(losses.discriminator(disc(real, training=True), disc(fake, training=True)))
        return loss, {f"d_{which}_loss": loss}, {}

    def _generator_step(self, batch, adversarial_only):
        cfg = self.config
        fused = self.generator(batch, training=True)
        fused_small = losses.downsample(fused, cfg.scale)
        d_detail_fake = self.d_detail(fused, training=True)
        d_intensity_fake = self.d_intensity(fused_small, training=True)
        adv = ops.mean(losses.generator_adversarial(d_detail_fake, d_intensity_fake))
        l_intensity, l_detail = (ops.mean(loss) for loss in content_losses(cfg, batch, fused, fused_small))
        g_loss = adv + cfg.content_weight * (cfg.intensity_weight * l_intensity + cfg.detail_weight * l_detail)
        # The D losses on this batch decide whether G needs extra adversarial steps.
        d_detail_loss = ops.mean(losses.discriminator(self.d_detail(batch["detail"], training=True),
                                                   ops.stop_gradient(d_detail_fake)))
        d_intensity_loss = ops.mean(losses.discriminator(self.d_intensity(batch["intensity"], training=True),
                                                  ops.stop_gradient(d_intensity_fake)))
        logs = {"g_loss": g_loss, "g_adv": adv, "l_intensity": l_intensity, "l_detail": l_detail,
                "d_detail_loss": d_detail_loss, "d_intensity_loss": d_intensity_loss}
        return (adv if adversarial_only else g_loss), logs, {}

    # -- the adaptive schedule (plain Python, the same on every backend) ---------------------

    def schedule(self, batch, run):
        cfg = self.config
        if not cfg.alternate or batch % 2 == 0:
            self._train_discriminators(run)
        if not cfg.alternate or batch % 2 == 1:
            self._train_generator(run)

    def _train_discriminators(self, run):
        cfg = self.config
        # G is not updated while the discriminators train: fuse once, reuse for every repeat.
        fused = run("fuse").outputs["fused"]
        for kind in ("d_detail", "d_intensity"):
            loss = run(kind, fused)[f"{kind}_loss"]
            repeats = 1
            while loss > cfg.d_max and repeats < cfg.max_repeats:
                loss = run(kind, fused)[f"{kind}_loss"]
                repeats += 1

    def _train_generator(self, run):
        cfg = self.config
        out = run("g")
        if cfg.g_max_relative and self.g_loss_start == 0.0:
            self.g_loss_start = out["g_loss"]
        repeats = 1
        while min(out["d_detail_loss"], out["d_intensity_loss"]) < cfg.d_min and repeats < cfg.max_repeats:
            out = run("g_adv")
            repeats += 1
        limit = cfg.g_max * self.g_loss_start if cfg.g_max_relative else cfg.g_max
        if not cfg.shared_g_repeats:
            repeats = 1
        while out["g_loss"] > limit and repeats < cfg.max_repeats:
            out = run("g")
            repeats += 1


GENERATOR_LOGS = ("g_loss", "g_adv", "l_intensity", "l_detail", "d_detail_loss", "d_intensity_loss")


def content_losses(config, batch, fused, fused_small):
    """(intensity term, gradient term) per example: DDcGAN's L_ir and L_vis (here L_intensity and
    L_detail: PET and MRI fill the same two inputs), or the salient ones."""
    detail, intensity = batch["detail"], batch["intensity"]
    if config.content == "salient":
        enlarged = losses.upsample_bilinear(intensity, config.scale)
        # The brighter source is chosen on a grid at least 4x coarser than the detail image, at
        # every scale: a per-pixel max at full resolution asks for sharp seams where the
        # brighter source changes, which print as fringes on edges.
        grid = max(config.salient_grid, config.scale)
        fused_coarse = fused_small if grid == config.scale else losses.downsample(fused, grid)
        term = losses.salient_intensity(fused_coarse, losses.downsample(detail, grid),
                                        losses.downsample(intensity, grid // config.scale))
        gradient = losses.salient_gradient(fused, detail, enlarged)
        term = term + config.overshoot_weight * losses.overshoot(fused, detail, enlarged)
        if config.intensity_fidelity_weight:
            term = term + config.intensity_fidelity_weight * losses.intensity_content(fused_small, intensity)
        return term, gradient
    return losses.intensity_content(fused_small, intensity), losses.detail_content(fused, detail)


def preset_metadata(config: DDcGANConfig) -> dict:
    """What a preset's metadata.json says about a DDcGAN generator of this config."""
    kind = get_modality(config.modality)
    detail, intensity = kind.labels
    what = (f"{intensity} at 1/{config.scale} of the {detail} size" if config.scale > 1
            else f"same-resolution {intensity} and {detail}")
    return {"description": f"DDcGAN generator, {config.name} config, {what}", "scale": config.scale,
            "modality": kind.name, "color_space": kind.color_space, "color_role": kind.color_role}


def count_parameters(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
