"""Named hyper-parameter sets. `official` follows the released TF1 code, `paper` the IEEE TIP
paper; docs/ddcgan.md lists every difference and why both exist."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tf_irgan.errors import UserError

SCALES = (1, 2, 4, 8)


@dataclass
class DDcGANConfig:
    preset: str = "official"
    scale: int = 4
    # Generator: dense encoder then a plain decoder, all at full resolution.
    growth: int = 48
    dense_layers: int = 4
    decoder_filters: tuple = (240, 240, 128, 64, 32)
    ir_upsample_kernel: int = 3
    residual: bool = False     # output = average of the inputs + learned correction
    disc_filters: tuple = (16, 32, 64)
    weight_clip: float = 8.0
    # G loss = adv + content_weight * (ir_weight * L_ir + vis_weight * L_vis)
    content_weight: float = 0.8
    ir_weight: float = 1.0
    vis_weight: float = 1.2
    # Optimisation: the learning rate decays by lr_decay once per epoch, continuously.
    learning_rate: float = 2e-4
    lr_decay: float = 0.9
    g_optimizer: str = "rmsprop"
    d_optimizer: str = "sgd"
    batch_size: int = 24
    patch: int = 84
    # Adaptive schedule. alternate: even batches train D, odd batches train G (official code);
    # otherwise every batch trains both (paper's algorithm).
    alternate: bool = True
    d_max: float = 1.9         # repeat a D step while its loss is above this
    d_min: float = 1.0         # extra adversarial G steps while a D loss is below this
    g_max: float = 200.0       # extra G steps while L_G is above this ...
    g_max_relative: bool = False  # ... or above g_max * (L_G of the first G step)
    max_repeats: int = 20

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "DDcGANConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"unknown DDcGAN settings {sorted(unknown)}; check the config file")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)

    @property
    def ir_patch(self) -> int:
        return self.patch // self.scale


def ddcgan_preset(name: str = "official", scale: int = 4, **overrides) -> DDcGANConfig:
    if scale not in SCALES:
        raise UserError(f"--scale {scale} is not supported; use one of {', '.join(map(str, SCALES))}")
    # L_ir sums over the IR patch's pixels: (scale/4)^2 keeps its weight what it is at 4x
    # (the official same-resolution release divides by 16 for the same reason).
    ir_weight = (scale / 4) ** 2
    if name == "official":
        config = DDcGANConfig(preset=name, scale=scale, ir_weight=ir_weight)
        if scale == 1:
            config = dataclasses.replace(config, content_weight=0.6, d_max=1.7, d_min=1.4)
    elif name == "paper":
        config = DDcGANConfig(preset=name, scale=scale, decoder_filters=(240, 128, 64, 32),
                              ir_upsample_kernel=2 * scale,
                              content_weight=0.5, learning_rate=2e-3, lr_decay=0.75,
                              alternate=False, d_max=1.8, d_min=1.2, g_max=0.8,
                              g_max_relative=True, ir_weight=ir_weight)
    elif name == "residual":
        # The project's own: the paper's settings, but the generator learns a correction to the
        # average of its inputs. It starts where plain averaging is and only has to learn
        # what to sharpen, which it does in a fraction of the steps (docs/ddcgan.md).
        config = dataclasses.replace(ddcgan_preset("paper", scale), preset=name, residual=True)
    else:
        raise UserError(f"unknown preset '{name}'; use 'official', 'paper' or 'residual'")
    config = dataclasses.replace(config, **overrides) if overrides else config
    if config.patch % scale:
        raise UserError(f"patch size {config.patch} is not a multiple of --scale {scale}")
    if config.patch // scale < 8:
        raise UserError(f"IR patches of {config.patch // scale} px are too small for the IR "
                        f"discriminator; use a patch of at least {8 * scale} px")
    return config
