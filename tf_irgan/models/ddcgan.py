"""DDcGAN (Ma, Xu et al., IEEE TIP 2020): a generator that fuses a visible image with an
infrared image at 1/scale resolution, judged by two discriminators, one per modality.

Inputs are dicts {"vis": (B, H, W, 1), "ir": (B, H/scale, W/scale, 1)} in [0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from tf_irgan import losses
from tf_irgan.models.layers import (BilinearUpsampling, Identity3x3, ReflectConv,
                                    constraint_kwargs)
from tf_irgan.data.patches import check_scale
from tf_irgan.errors import UserError
from tf_irgan.modalities import detect_modality, get_modality
from tf_irgan.models.base import GAN, Config, replace_config

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
    disc_filters: tuple = (16, 32, 64)
    weight_clip: float = 8.0
    sync_batch_norm: bool = False  # batch statistics over all replicas (multi-GPU/worker runs)
    # G loss = adv + content_weight * (ir_weight * L_ir + vis_weight * L_vis). content "ddcgan":
    # L_ir pulls psi(G) to the IR, L_vis grad(G) to the visible gradients; "salient": L_ir pulls
    # psi(G) to the brighter source, L_vis grad(G) to the stronger gradient (docs/ddcgan.md).
    content: str = "ddcgan"
    content_weight: float = 0.8
    overshoot_weight: float = 1.0  # "salient": L1 of G above the brighter source, in L_ir
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

    def __post_init__(self):
        # Also for configs read back from run.json on --resume, not only for named ones.
        get_modality(self.modality)
        if self.content not in CONTENT_LOSSES:
            raise UserError(f"content={self.content}: unknown content loss; use "
                            f"{' or '.join(CONTENT_LOSSES)}")

    @property
    def ir_patch(self) -> int:
        return self.patch // self.scale


CONFIG_NAMES = ("official", "paper", "residual", "fast", "salient")
CONTENT_LOSSES = ("ddcgan", "salient")
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
            ir = tf.image.resize(ir, tf.shape(vis)[1:3], method="bilinear")
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

    The schedule repeats a step while a loss is on the wrong side of a threshold. Those
    data-dependent repeats run in Python around compiled single steps: a `tf.while_loop` around
    optimizer updates fails under MirroredStrategy (merge_call inside a loop body), while this
    form runs the same on one device, many GPUs, or logical CPUs. So this model distributes its
    own sub-steps (`distributes_itself`) and advances `batches` itself.
    """

    task = "fusion"
    output_role = "fused"
    distributes_itself = True
    config_class = DDcGANConfig

    def __init__(self, config: DDcGANConfig, **kwargs):
        super().__init__(config, **kwargs)
        self.generator = Generator.from_ddcgan_config(config, name="generator")
        self.d_vis = Discriminator(config.disc_filters, config.weight_clip, config.sync_batch_norm, name="d_vis")
        self.d_ir = Discriminator(config.disc_filters, config.weight_clip, config.sync_batch_norm, name="d_ir")
        names = ["d_vis_loss", "d_ir_loss", "g_loss", "g_adv", "l_ir", "l_vis"]
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.step_counts = {}  # optimizer steps taken, by kind: lets tests count repeats
        p, q = config.patch, config.ir_patch
        self.generator({"vis": ops.zeros((1, p, p, 1)), "ir": ops.zeros((1, q, q, 1))})
        self.d_vis(ops.zeros((1, p, p, 1)))
        self.d_ir(ops.zeros((1, q, q, 1)))
        self.g_loss_start = tf.Variable(0.0, dtype=tf.float32, trainable=False, name="g_loss_start")

    @classmethod
    def config_names(cls):
        return list(CONFIG_NAMES)

    @classmethod
    def config(cls, name="official", scale=4, **overrides):
        return ddcgan_config(name, scale, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def config_from_options(cls, options):
        overrides = dict(options.overrides or {})
        # A data folder with MRI/ and PET/ trains the medical setting without being told.
        if "modality" not in overrides and detect_modality(options.data):
            overrides["modality"] = detect_modality(options.data)
        return cls.config(options.config or "official", options.scale,
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
        return PatchBatches(patches, self.config.batch_size, options.seed)

    def preset_metadata(self) -> dict:
        cfg, kind = self.config, self.modality
        detail, intensity = kind.labels
        what = (f"{intensity} at 1/{cfg.scale} of the {detail} size" if cfg.scale > 1
                else f"same-resolution {intensity} and {detail}")
        return {"description": f"DDcGAN generator, {cfg.name} config, {what}", "scale": cfg.scale,
                "modality": kind.name, "color_space": kind.color_space, "color_role": kind.color_role}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def networks(self):
        return {"generator": self.generator, "d_vis": self.d_vis, "d_ir": self.d_ir}

    def optimizers(self):
        return {"g_optimizer": self.g_optimizer, "d_vis_optimizer": self.d_vis_optimizer,
                "d_ir_optimizer": self.d_ir_optimizer}

    def checkpoint_objects(self):
        return {**super().checkpoint_objects(), "g_loss_start": self.g_loss_start}

    def compile(self, d_optimizer, g_optimizer, steps_per_epoch=1000, jit_compile=False):
        """`d_optimizer` serves D_v; D_i gets a fresh copy of it (same class and settings)."""
        keras.Model.compile(self)
        self.d_vis_optimizer = d_optimizer
        self.d_ir_optimizer = d_optimizer.__class__.from_config(d_optimizer.get_config())
        self.g_optimizer = g_optimizer
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.jit = bool(jit_compile)
        # Optimizer slots must exist before the first distributed step (reference §4).
        self.d_vis_optimizer.build(self.d_vis.trainable_variables)
        self.d_ir_optimizer.build(self.d_ir.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self._steps = {
            "fuse": self._distributed(lambda b: self.generator(b, training=True), reduce=False),
            "d_vis": self._distributed(lambda b, f: self._discriminator_step(b, f, "vis")),
            "d_ir": self._distributed(lambda b, f: self._discriminator_step(b, f, "ir")),
            "g": self._distributed(lambda b: self._generator_step(b, adversarial_only=False)),
            "g_adv": self._distributed(lambda b: self._generator_step(b, adversarial_only=True)),
        }

    # -- one batch of the schedule ---------------------------------------------------------

    def train_step(self, batch):
        cfg = self.config
        seen = int(self.batches.numpy())
        self._set_learning_rate(seen)
        if not cfg.alternate or seen % 2 == 0:
            self._train_discriminators(batch)
        if not cfg.alternate or seen % 2 == 1:
            self._train_generator(batch)
        self.batches.assign_add(1)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def _train_discriminators(self, batch):
        cfg = self.config
        # G is not updated while the discriminators train: fuse once, reuse for every repeat.
        fused = self._steps["fuse"](batch)
        for kind in ("d_vis", "d_ir"):
            loss = self._run(kind, batch, fused)[f"{kind}_loss"]
            repeats = 1
            while loss > cfg.d_max and repeats < cfg.max_repeats:
                loss = self._run(kind, batch, fused)[f"{kind}_loss"]
                repeats += 1

    def _train_generator(self, batch):
        cfg = self.config
        out = self._run("g", batch)
        if cfg.g_max_relative and float(self.g_loss_start.numpy()) == 0.0:
            self.g_loss_start.assign(out["g_loss"])
        repeats = 1
        while (min(out["d_vis_loss"], out["d_ir_loss"]) < cfg.d_min
               and repeats < cfg.max_repeats):
            out = self._run("g_adv", batch)
            repeats += 1
        limit = cfg.g_max * float(self.g_loss_start.numpy()) if cfg.g_max_relative else cfg.g_max
        repeats = 1
        while out["g_loss"] > limit and repeats < cfg.max_repeats:
            out = self._run("g", batch)
            repeats += 1

    def _run(self, kind, *args) -> dict:
        """Run one compiled step, update the trackers, return the losses as Python floats."""
        out = {k: float(v) for k, v in self._steps[kind](*args).items()}
        self.step_counts[kind] = self.step_counts.get(kind, 0) + 1
        for name, value in out.items():
            self.trackers[name].update_state(value)
        return out

    def _set_learning_rate(self, seen):
        lr = self.learning_rate_at(seen)
        for optimizer in self.optimizers().values():
            optimizer.learning_rate = lr

    def learning_rate_at(self, batches) -> float:
        """One clock for all three optimizers: decay by lr_decay per epoch, continuously."""
        return self.config.learning_rate * self.config.lr_decay ** (batches / self.steps_per_epoch)

    # -- single compiled steps (per replica) -----------------------------------------------

    def _distributed(self, step_fn, reduce=True):
        strategy = self.distribute_strategy
        replica_fn = tf.function(step_fn, jit_compile=self.jit)

        @tf.function
        def run(*args):
            per_replica = strategy.run(replica_fn, args=args)
            if not reduce:
                return per_replica
            # Per-replica losses are already divided by the global batch: their sum is the mean.
            return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                    for k, v in per_replica.items()}
        return run

    def _discriminator_step(self, batch, fused, which):
        if which == "vis":
            disc, optimizer, real, fake = self.d_vis, self.d_vis_optimizer, batch["vis"], fused
        else:
            disc, optimizer = self.d_ir, self.d_ir_optimizer
            real, fake = batch["ir"], losses.downsample(fused, self.config.scale)
        with tf.GradientTape() as tape:
            loss = self.global_mean(losses.discriminator(disc(real, training=True),
                                                         disc(fake, training=True)))
            scaled = optimizer.scale_loss(loss)
        optimizer.apply_gradients(zip(tape.gradient(scaled, disc.trainable_variables),
                                      disc.trainable_variables))
        return {f"d_{which}_loss": loss}

    def _generator_step(self, batch, adversarial_only):
        cfg = self.config
        with tf.GradientTape() as tape:
            fused = self.generator(batch, training=True)
            fused_small = losses.downsample(fused, cfg.scale)
            d_vis_fake = self.d_vis(fused, training=True)
            d_ir_fake = self.d_ir(fused_small, training=True)
            adv = self.global_mean(losses.generator_adversarial(d_vis_fake, d_ir_fake))
            l_ir, l_vis = (self.global_mean(loss)
                           for loss in content_losses(cfg, batch, fused, fused_small))
            g_loss = adv + cfg.content_weight * (cfg.ir_weight * l_ir + cfg.vis_weight * l_vis)
            scaled = self.g_optimizer.scale_loss(adv if adversarial_only else g_loss)
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        # The D losses on this batch decide whether G needs extra adversarial steps.
        d_vis_loss = self.global_mean(losses.discriminator(
            self.d_vis(batch["vis"], training=True), d_vis_fake))
        d_ir_loss = self.global_mean(losses.discriminator(
            self.d_ir(batch["ir"], training=True), d_ir_fake))
        return {"g_loss": g_loss, "g_adv": adv, "l_ir": l_ir, "l_vis": l_vis,
                "d_vis_loss": d_vis_loss, "d_ir_loss": d_ir_loss}


def content_losses(config, batch, fused, fused_small):
    """(intensity term, gradient term) per example: DDcGAN's L_ir and L_vis, or the salient ones."""
    vis, ir = batch["vis"], batch["ir"]
    if config.content == "salient":
        ir_up = ir if config.scale == 1 else tf.image.resize(ir, tf.shape(vis)[1:3], method="bilinear")
        # The brighter source is chosen on a grid at least 4x coarser than the visible one, at
        # every scale: a per-pixel max at full resolution asks for sharp seams where the
        # brighter source changes, which print as fringes on edges.
        grid = max(SALIENT_GRID, config.scale)
        fused_coarse = fused_small if grid == config.scale else losses.downsample(fused, grid)
        intensity = losses.salient_intensity(fused_coarse, losses.downsample(vis, grid),
                                             losses.downsample(ir, grid // config.scale))
        return (intensity + config.overshoot_weight * losses.overshoot(fused, vis, ir_up),
                losses.salient_gradient(fused, vis, ir_up))
    return losses.ir_content(fused_small, ir), losses.vis_content(fused, vis)


def count_parameters(model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
