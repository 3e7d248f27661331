"""DDcGAN (Ma, Xu et al., IEEE TIP 2020): a generator that fuses a visible image with an
infrared image at 1/scale resolution, judged by two discriminators, one per modality.

Inputs are dicts {"vis": (B, H, W, 1), "ir": (B, H/scale, W/scale, 1)} in [0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from tf_irgan import losses
from tf_irgan.models.layers import (BilinearUpsampling, Identity3x3, ReflectConv,
                                    constraint_kwargs)
from tf_irgan.data.patches import check_scale
from tf_irgan.errors import UserError
from tf_irgan.modalities import detect_modality, get_modality
from tf_irgan.models.base import GAN, Config, Step, make_optimizer, replace_config
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
    ir_upsample_kernel: int = 3
    residual: bool = False     # output = average of the inputs + learned correction
    # "dense": the paper's generator (the fields above); "pyramid": a learned selection rule
    # over Laplacian pyramids of both inputs (tf_irgan.models.pyramid, the fields below).
    generator: str = "dense"
    levels: int = 4            # pyramid: detail bands; the base is at 1/2^levels
    selector_filters: int = 16  # pyramid: width of each level's selection network
    sharpness: float = 4.0     # pyramid: how hard the starting rule picks the stronger detail
    ir_upsample: str = "bilinear"  # pyramid, scale > 1: how the IR is enlarged ("bicubic" keeps
                                   # more of its edges in the bands; docs/ddcgan.md)
    disc_filters: tuple = (16, 32, 64)
    weight_clip: float = 8.0
    sync_batch_norm: bool = False  # batch statistics over all replicas (multi-GPU/worker runs)
    # G loss = adv + content_weight * (ir_weight * L_ir + vis_weight * L_vis). content "ddcgan":
    # L_ir pulls psi(G) to the IR, L_vis grad(G) to the visible gradients; "salient": L_ir pulls
    # psi(G) to the brighter source, L_vis grad(G) to the stronger gradient (docs/ddcgan.md).
    content: str = "ddcgan"
    content_weight: float = 0.8
    overshoot_weight: float = 1.0  # "salient": L1 of G above the brighter source, in L_ir
    # "salient": DDcGAN's own pull of psi(G) toward the IR, added to L_ir with this weight, so
    # that where the visible image is brighter the IR is not simply replaced by it.
    ir_fidelity_weight: float = 0.0
    ir_weight: float = 1.0
    vis_weight: float = 1.2
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
    # Training data: random flips/rotations shared by both inputs and photometric changes of
    # each (gamma, contrast, low light, noise: tf_irgan.data.augment).
    augment: bool = False

    def __post_init__(self):
        # Also for configs read back from run.json on --resume, not only for named ones.
        get_modality(self.modality)
        if self.generator not in GENERATORS:
            raise UserError(f"generator={self.generator}: unknown generator; use "
                            f"{' or '.join(GENERATORS)}")
        if self.ir_upsample not in IR_UPSAMPLINGS:
            raise UserError(f"ir_upsample={self.ir_upsample}: use {' or '.join(IR_UPSAMPLINGS)}")
        if self.content not in CONTENT_LOSSES:
            raise UserError(f"content={self.content}: unknown content loss; use "
                            f"{' or '.join(CONTENT_LOSSES)}")

    @property
    def ir_patch(self) -> int:
        return self.patch // self.scale


CONFIG_NAMES = ("official", "paper", "residual", "fast", "salient", "pyramid")
CONTENT_LOSSES = ("ddcgan", "salient")
GENERATORS = ("dense", "pyramid")
IR_UPSAMPLINGS = ("bilinear", "bicubic")
SALIENT_GRID = 4


def ddcgan_config(name: str = "official", scale: int = 4, **overrides) -> DDcGANConfig:
    check_scale(scale)
    config = replace_config(_named_config(name, scale), overrides)
    if config.patch % scale:
        raise UserError(f"patch size {config.patch} is not a multiple of --scale {scale}")
    if config.patch // scale < 8:
        raise UserError(f"IR patches of {config.patch // scale} px are too small for the IR "
                        f"discriminator; use a patch of at least {8 * scale} px")
    return config


def _named_config(name: str, scale: int) -> DDcGANConfig:
    # L_ir sums over the IR patch's pixels: (scale/4)^2 keeps its weight what it is at 4x
    # (the official same-resolution release divides by 16 for the same reason).
    ir_weight = (scale / 4) ** 2
    if name == "official":
        config = DDcGANConfig(name=name, scale=scale, ir_weight=ir_weight)
        if scale == 1:
            config = dataclasses.replace(config, content_weight=0.6, d_max=1.7, d_min=1.4)
    elif name == "paper":
        config = DDcGANConfig(name=name, scale=scale, decoder_filters=(240, 128, 64, 32),
                              ir_upsample_kernel=2 * scale,
                              content_weight=0.5, learning_rate=2e-3, lr_decay=0.75,
                              alternate=False, d_max=1.8, d_min=1.2, g_max=0.8,
                              g_max_relative=True, ir_weight=ir_weight)
    elif name == "residual":
        # The project's own: the paper's settings, but the generator learns a correction to the
        # average of its inputs. It starts where plain averaging is and only has to learn
        # what to sharpen, which it does in a fraction of the steps (docs/ddcgan.md).
        config = dataclasses.replace(_named_config("paper", scale), name=name, residual=True)
    elif name == "fast":
        # `residual` at a third of its width: 93 k multiply-adds per pixel instead of 1.10 M, so
        # a CPU trains ~10x more steps per hour and fuses 640x480 in a fraction of a second.
        # At most 5 steps per network per batch (I_max 20 in the paper): near the thresholds a
        # batch could cost 20 G steps, as much as 20 new batches (docs/ddcgan.md).
        config = dataclasses.replace(_named_config("residual", scale), name=name, growth=16,
                                     decoder_filters=(64, 32, 16), max_repeats=5)
    elif name == "salient":
        # The project's own losses (what the field's metrics reward) on a still narrower fast
        # generator, 52 k multiply-adds per pixel: `fast` fuses 640x480 in just over 1 s here,
        # this one under (docs/benchmarks.md). Its intensity term is compared on a grid at
        # least 4x coarser than the visible one (content_losses), so the weight that keeps
        # L_ir's size is that grid's, not the IR's.
        config = dataclasses.replace(_named_config("fast", scale), name=name, content="salient",
                                     growth=12, decoder_filters=(48, 24, 12),
                                     ir_weight=max(1.0, (scale / 4) ** 2))
    elif name == "pyramid":
        # `salient`'s losses, discriminators and schedule with the pyramid generator: a learned
        # per-band selection over fixed Laplacian pyramids, ~5 k multiply-adds per pixel, which
        # starts as the "stronger local detail wins" rule (docs/ddcgan.md).
        # It starts as a rule that already fuses well, so training refines it: a twentieth of
        # the paper's learning rate (a first run at 2e-3 lost 14 % of its VIF on training pairs
        # in 60 batches).
        config = dataclasses.replace(_named_config("salient", scale), name=name,
                                     generator="pyramid", augment=True, learning_rate=1e-4)
    else:
        raise UserError(f"--config {name}: unknown DDcGAN config; use {', '.join(CONFIG_NAMES)}")
    return config


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
                 ir_upsample_kernel=3, weight_clip=8.0, residual=False, sync_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.residual, self.sync_batch_norm = residual, sync_batch_norm
        sync = {"synchronized": True} if sync_batch_norm else {}
        self.scale, self.growth, self.dense_layers = scale, growth, dense_layers
        self.decoder_filters, self.ir_upsample_kernel = tuple(decoder_filters), ir_upsample_kernel
        self.weight_clip = weight_clip
        clip = constraint_kwargs(weight_clip, ("kernel",))
        if scale > 1:
            self.vis_in = layers.Conv2DTranspose(1, 3, strides=1, padding="same", use_bias=False,
                                                 kernel_initializer=Identity3x3(),
                                                 name="vis_in", **clip)
            # The official 3x3 kernel at stride 4 leaves every 4th row and column at zero;
            # a 2*scale kernel covers every pixel and can start as bilinear interpolation.
            covers = ir_upsample_kernel >= 2 * scale
            self.ir_up = layers.Conv2DTranspose(
                1, ir_upsample_kernel, strides=scale, padding="same", use_bias=False,
                kernel_initializer=BilinearUpsampling(scale) if covers else "glorot_uniform",
                name="ir_up", **clip)
        self.stem = ReflectConv(growth, weight_clip=weight_clip, name="stem", **sync)
        self.dense = [ReflectConv(growth, weight_clip=weight_clip, name=f"dense{i}", **sync)
                      for i in range(dense_layers)]
        self.decoder = [ReflectConv(f, weight_clip=weight_clip, name=f"decoder{i}", **sync)
                        for i, f in enumerate(decoder_filters)]
        # float32 head: under mixed precision the output and the losses stay full precision.
        # A residual head starts at zero, so the untrained network outputs the inputs' average.
        self.head = ReflectConv(1, batch_norm=False, activation=None, weight_clip=weight_clip,
                                kernel_initializer="zeros" if residual else "he_normal",
                                dtype="float32", name="head")

    def call(self, inputs, training=False):
        vis, ir = inputs["vis"], inputs["ir"]
        if self.scale > 1:
            vis, ir = self.vis_in(vis), self.ir_up(ir)
        x = self.stem(ops.concatenate([vis, ir], axis=-1), training=training)
        for layer in self.dense:
            x = ops.concatenate([x, layer(x, training=training)], axis=-1)
        for layer in self.decoder:
            x = layer(x, training=training)
        head = ops.tanh(ops.cast(self.head(x), "float32")) / 2
        if not self.residual:
            return head + 0.5
        return ops.clip(self._average(inputs) + head, 0.0, 1.0)

    def _average(self, inputs):
        """Mean of the visible image and the bilinearly upsampled IR image."""
        vis, ir = inputs["vis"], inputs["ir"]
        if self.scale > 1:
            ir = losses.upsample_bilinear(ir, self.scale)
        return (ops.cast(vis, "float32") + ops.cast(ir, "float32")) / 2

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "growth": self.growth,
                "dense_layers": self.dense_layers, "decoder_filters": list(self.decoder_filters),
                "ir_upsample_kernel": self.ir_upsample_kernel, "weight_clip": self.weight_clip,
                "residual": self.residual, "sync_batch_norm": self.sync_batch_norm}

    def build_for_inference(self):
        """Create the weights (the network is fully convolutional: any size builds it)."""
        q = 8
        self({"vis": ops.zeros((1, q * self.scale, q * self.scale, 1)), "ir": ops.zeros((1, q, q, 1))})

    @classmethod
    def from_ddcgan_config(cls, config: DDcGANConfig, **kwargs):
        return cls(scale=config.scale, growth=config.growth, dense_layers=config.dense_layers,
                   decoder_filters=config.decoder_filters,
                   ir_upsample_kernel=config.ir_upsample_kernel, weight_clip=config.weight_clip,
                   residual=config.residual, sync_batch_norm=config.sync_batch_norm, **kwargs)

    def macs_per_pixel(self) -> int:
        """Multiply-adds per output pixel (the full-resolution convolutions dominate)."""
        total, channels = 2 * 9 * self.growth, self.growth
        for _ in range(self.dense_layers):
            total += channels * self.growth * 9
            channels += self.growth
        for f in self.decoder_filters:
            total += channels * f * 9
            channels = f
        return total + channels * 9


def make_generator(config: DDcGANConfig, name="generator"):
    """The config's generator: the paper's dense network or the pyramid selector."""
    if config.generator == "pyramid":
        return PyramidGenerator(scale=config.scale, levels=config.levels,
                                filters=config.selector_filters, sharpness=config.sharpness,
                                ir_upsample=config.ir_upsample, name=name)
    return Generator.from_ddcgan_config(config, name=name)


@keras.saving.register_keras_serializable("tf_irgan")
class Discriminator(keras.Model):
    """Three stride-2 convs and a dense layer: the probability that a patch is real."""

    def __init__(self, filters=(16, 32, 64), weight_clip=8.0, sync_batch_norm=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.weight_clip, self.sync_batch_norm = tuple(filters), weight_clip, sync_batch_norm
        self.convs = [ReflectConv(f, strides=2, batch_norm=i > 0, weight_clip=weight_clip,
                                  synchronized=sync_batch_norm, name=f"conv{i}")
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
                "weight_clip": self.weight_clip, "sync_batch_norm": self.sync_batch_norm}


class DDcGAN(GAN):
    """The generator and its two discriminators, trained with DDcGAN's adaptive schedule.

    The schedule repeats a sub-step while a loss is on the wrong side of a threshold: plain
    Python around compiled single steps (`schedule`), which runs the same on every backend, one
    device or many (a `tf.while_loop` around optimizer updates fails under MirroredStrategy).
    """

    task = "fusion"
    output_role = "fused"
    config_class = DDcGANConfig

    def __init__(self, config: DDcGANConfig):
        super().__init__(config)
        self.generator = make_generator(config)
        self.d_vis = Discriminator(config.disc_filters, config.weight_clip, config.sync_batch_norm, name="d_vis")
        self.d_ir = Discriminator(config.disc_filters, config.weight_clip, config.sync_batch_norm, name="d_ir")
        p, q = config.patch, config.ir_patch
        self.generator({"vis": ops.zeros((1, p, p, 1)), "ir": ops.zeros((1, q, q, 1))})
        self.d_vis(ops.zeros((1, p, p, 1)))
        self.d_ir(ops.zeros((1, q, q, 1)))
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
        overrides = dict(options.overrides or {})
        # A data folder with MRI/ and PET/ trains the medical setting without being told.
        if "modality" not in overrides and detect_modality(options.data):
            overrides["modality"] = detect_modality(options.data)
        return cls.config(options.config or "official", int(options.model_options.get("scale", 4)),
                          batch_size=options.batch_size, learning_rate=options.learning_rate,
                          patch=options.patch, **overrides)

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
        return PatchBatches(patches, self.config.batch_size, options.seed, self.config.augment)

    def summary(self) -> str:
        return f"{self.config.name}, x{self.config.scale}"

    def preset_metadata(self) -> dict:
        cfg, kind = self.config, self.modality
        detail, intensity = kind.labels
        what = (f"{intensity} at 1/{cfg.scale} of the {detail} size" if cfg.scale > 1
                else f"same-resolution {intensity} and {detail}")
        return {"description": f"DDcGAN generator, {cfg.name} config, {what}", "scale": cfg.scale,
                "modality": kind.name, "color_space": kind.color_space, "color_role": kind.color_role}

    def networks(self):
        return {"generator": self.generator, "d_vis": self.d_vis, "d_ir": self.d_ir}

    def make_optimizers(self, mixed_precision: str = "off") -> dict:
        """The config's D optimizer serves D_v, and a second one of its kind D_i."""
        cfg = self.config
        self.optimizers = {
            "g_optimizer": make_optimizer(cfg.g_optimizer, cfg.learning_rate, mixed_precision),
            "d_vis_optimizer": make_optimizer(cfg.d_optimizer, cfg.learning_rate, mixed_precision),
            "d_ir_optimizer": make_optimizer(cfg.d_optimizer, cfg.learning_rate, mixed_precision)}
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
            "d_vis": Step(lambda b, f: self._discriminator_step(b, f, "vis"), "d_vis",
                          "d_vis_optimizer", ("d_vis_loss",)),
            "d_ir": Step(lambda b, f: self._discriminator_step(b, f, "ir"), "d_ir",
                         "d_ir_optimizer", ("d_ir_loss",)),
            "g": Step(lambda b: self._generator_step(b, adversarial_only=False), "generator",
                      "g_optimizer", GENERATOR_LOGS),
            "g_adv": Step(lambda b: self._generator_step(b, adversarial_only=True), "generator",
                          "g_optimizer", GENERATOR_LOGS),
        }

    def _fuse_step(self, batch):
        return 0.0, {}, {"fused": self.generator(batch, training=True)}

    def _discriminator_step(self, batch, fused, which):
        if which == "vis":
            disc, real, fake = self.d_vis, batch["vis"], fused
        else:
            disc, real, fake = self.d_ir, batch["ir"], losses.downsample(fused, self.config.scale)
        loss = ops.mean(losses.discriminator(disc(real, training=True), disc(fake, training=True)))
        return loss, {f"d_{which}_loss": loss}, {}

    def _generator_step(self, batch, adversarial_only):
        cfg = self.config
        fused = self.generator(batch, training=True)
        fused_small = losses.downsample(fused, cfg.scale)
        d_vis_fake = self.d_vis(fused, training=True)
        d_ir_fake = self.d_ir(fused_small, training=True)
        adv = ops.mean(losses.generator_adversarial(d_vis_fake, d_ir_fake))
        l_ir, l_vis = (ops.mean(loss) for loss in content_losses(cfg, batch, fused, fused_small))
        g_loss = adv + cfg.content_weight * (cfg.ir_weight * l_ir + cfg.vis_weight * l_vis)
        # The D losses on this batch decide whether G needs extra adversarial steps.
        d_vis_loss = ops.mean(losses.discriminator(self.d_vis(batch["vis"], training=True),
                                                   ops.stop_gradient(d_vis_fake)))
        d_ir_loss = ops.mean(losses.discriminator(self.d_ir(batch["ir"], training=True),
                                                  ops.stop_gradient(d_ir_fake)))
        logs = {"g_loss": g_loss, "g_adv": adv, "l_ir": l_ir, "l_vis": l_vis,
                "d_vis_loss": d_vis_loss, "d_ir_loss": d_ir_loss}
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
        for kind in ("d_vis", "d_ir"):
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
        while min(out["d_vis_loss"], out["d_ir_loss"]) < cfg.d_min and repeats < cfg.max_repeats:
            out = run("g_adv")
            repeats += 1
        limit = cfg.g_max * self.g_loss_start if cfg.g_max_relative else cfg.g_max
        repeats = 1
        while out["g_loss"] > limit and repeats < cfg.max_repeats:
            out = run("g")
            repeats += 1


GENERATOR_LOGS = ("g_loss", "g_adv", "l_ir", "l_vis", "d_vis_loss", "d_ir_loss")


def content_losses(config, batch, fused, fused_small):
    """(intensity term, gradient term) per example: DDcGAN's L_ir and L_vis, or the salient ones."""
    vis, ir = batch["vis"], batch["ir"]
    if config.content == "salient":
        ir_up = losses.upsample_bilinear(ir, config.scale)
        # The brighter source is chosen on a grid at least 4x coarser than the visible one, at
        # every scale: a per-pixel max at full resolution asks for sharp seams where the
        # brighter source changes, which print as fringes on edges.
        grid = max(SALIENT_GRID, config.scale)
        fused_coarse = fused_small if grid == config.scale else losses.downsample(fused, grid)
        intensity = losses.salient_intensity(fused_coarse, losses.downsample(vis, grid),
                                             losses.downsample(ir, grid // config.scale))
        gradient = losses.salient_gradient(fused, vis, ir_up)
        intensity = intensity + config.overshoot_weight * losses.overshoot(fused, vis, ir_up)
        if config.ir_fidelity_weight:
            intensity = intensity + config.ir_fidelity_weight * losses.ir_content(fused_small, ir)
        return intensity, gradient
    return losses.ir_content(fused_small, ir), losses.vis_content(fused, vis)


def count_parameters(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
