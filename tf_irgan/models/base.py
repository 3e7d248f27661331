"""The contract between a GAN model and the rest of the package.

A model module defines a config dataclass (subclass of `Config`) with its named configs, its
networks, and a subclass of `GAN` that says:

- `task` ("fusion" | "translation"), `input_roles` and `output_role`: what the inference
  pipeline feeds the generator and what it returns (fusion: {"vis", "ir"} -> "fused");
- `configs`: the named hyper-parameter sets (`config(name, **overrides)` builds one);
- `compile(d_optimizer=..., g_optimizer=...)` and `train_step(batch)`, keras-io style;
- `distributes_itself`: False (default) when `train_step` is written for one replica, as in the
  keras-io examples, and the loop runs it under `strategy.run`; True when the model runs its
  own distributed sub-steps from Python (DDcGAN's adaptive schedule repeats a step depending
  on a loss value, which a compiled replica function cannot do);
- `training_data(options)`: the batches it trains on (a resumable `Batches` object);
- `checkpoint_objects()`: what a training checkpoint holds (by default every network's
  variables, every optimizer and the batch counter), `preset_metadata()`: what the saved
  generator's metadata.json says about it, and `generator`: the network that is saved.

The training loop (`tf_irgan.training`), the presets (`tf_irgan.presets`) and the CLI only talk
to a model through this class.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import keras
import tensorflow as tf

from tf_irgan.errors import UserError


@dataclass
class Config:
    """Hyper-parameters every model has; a model's config dataclass adds its own."""
    name: str = "default"
    batch_size: int = 1
    learning_rate: float = 2e-4
    g_optimizer: str = "adam"
    d_optimizer: str = "adam"

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict):
        data = dict(data)
        if "preset" in data and "name" not in data:  # run.json files written before 0.2
            data["name"] = data.pop("preset")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise UserError(f"unknown {cls.__name__} settings {sorted(unknown)}; check the config file")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def replace_config(config, overrides: dict):
    """`config` with some fields changed; unknown field names are a one-line error."""
    if not overrides:
        return config
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(config)})
    if unknown:
        raise UserError(f"{type(config).__name__} has no setting {', '.join(unknown)}; "
                        f"known: {', '.join(f.name for f in dataclasses.fields(config))}")
    for name, value in overrides.items():
        current = getattr(config, name)
        numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
        if (isinstance(current, bool) and not isinstance(value, bool)) or (numeric and (
                isinstance(value, bool) or not isinstance(value, (int, float)))) or (
                isinstance(current, str) and not isinstance(value, str)):
            raise UserError(f"setting {name}={value!r}: expected a {type(current).__name__} "
                            f"like its default {current!r}")
        if isinstance(current, int) and not isinstance(current, bool) and isinstance(value, float):
            if not value.is_integer():
                raise UserError(f"setting {name}={value!r}: expected a whole number")
            overrides = {**overrides, name: int(value)}
    return dataclasses.replace(config, **overrides)


OPTIMIZERS = {"adam": lambda lr: keras.optimizers.Adam(lr, beta_1=0.5),
              "rmsprop": lambda lr: keras.optimizers.RMSprop(lr),
              "sgd": lambda lr: keras.optimizers.SGD(lr)}


class GAN(keras.Model):
    """Base class of the registered GAN models (see the module docstring for the contract)."""

    task = "fusion"
    input_roles = ("vis", "ir")
    output_role = "fused"
    distributes_itself = False
    config_class = Config
    preset_storage = "float32"   # dtype of the saved generator weights (presets.save_preset)

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        # Batches seen: the learning-rate clock and, for DDcGAN, the D/G alternation. The loop
        # advances it after each batch and it is part of every checkpoint.
        self.batches = tf.Variable(0, dtype=tf.int64, trainable=False, name="batches")
        self.steps_per_epoch = 1
        self.jit = False

    # -- configs -----------------------------------------------------------------------

    @classmethod
    def config_names(cls) -> list[str]:
        raise NotImplementedError

    @classmethod
    def config(cls, name: str, **overrides):
        """The named config with `overrides` (None values ignored)."""
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------

    def make_optimizers(self, mixed_precision: str = "off") -> dict:
        """`compile` keyword arguments: one optimizer per side, as the config names them."""
        def build(name):
            if name not in OPTIMIZERS:
                raise UserError(f"optimizer '{name}' is unknown; use one of {', '.join(OPTIMIZERS)}")
            optimizer = OPTIMIZERS[name](self.config.learning_rate)
            if mixed_precision == "fp16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            return optimizer
        return {"d_optimizer": build(self.config.d_optimizer),
                "g_optimizer": build(self.config.g_optimizer)}

    def compile(self, d_optimizer, g_optimizer, steps_per_epoch=1, jit_compile=False):
        super().compile()
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer
        self.steps_per_epoch = max(int(steps_per_epoch), 1)
        self.jit = bool(jit_compile)
        # Optimizer slots must exist before the first distributed step (reference §4).
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def optimizers(self) -> dict:
        """Name -> optimizer, as they appear in checkpoints."""
        return {"d_optimizer": self.d_optimizer, "g_optimizer": self.g_optimizer}

    def networks(self) -> dict:
        """Name -> network, as they appear in checkpoints."""
        return {"generator": self.generator, "discriminator": self.discriminator}

    def learning_rate_at(self, batches) -> float:
        return float(self.config.learning_rate)

    def training_data(self, options):
        """A `tf_irgan.data.datasets.Batches` for `options.data`."""
        raise NotImplementedError

    def checkpoint_objects(self) -> dict:
        """Keras 3 layers kept in Python lists are invisible to tf.train.Checkpoint, so networks
        are checkpointed as their variable lists (the order is fixed by the network's code)."""
        objects = {"batches": self.batches, **self.optimizers()}
        for name, network in self.networks().items():
            objects[name] = list(network.variables)
        return objects

    def preset_metadata(self) -> dict:
        """What the saved generator's metadata.json says about the model (description, ...)."""
        return {"description": f"{type(self).__name__} generator, {self.config.name} config"}

    def global_mean(self, per_example):
        """Mean over the global batch of a per-replica, per-example loss: summed over replicas
        (as the optimizer sums gradients) this is the batch mean."""
        global_batch = tf.cast(tf.shape(per_example)[0], tf.float32) * \
            tf.distribute.get_strategy().num_replicas_in_sync
        return tf.reduce_sum(tf.cast(per_example, tf.float32)) / global_batch
